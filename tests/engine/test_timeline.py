"""The timeline: one list of dated changes and one dispatch, shared by the simulator and the
allocation replay, so both hold the same quotas and capacity at every instant."""

from __future__ import annotations

from datetime import timedelta

from gpufleet.domain.gpus import default_catalog
from gpufleet.engine.engine import Engine
from gpufleet.engine.fakes import NullObserver, RecordingExecutor
from gpufleet.engine.timeline import Change, apply_change, build_state, timeline
from gpufleet.planning.allocation import Replay
from gpufleet.policies.registry import make_policy
from gpufleet.sim.simulator import Simulation
from tests.support.scenarios import mixed


def test_changes_are_dated_in_order_with_deliveries_before_readiness_at_one_instant() -> None:
    changes = timeline(mixed())
    keys = [(c.t_s, c.kind) for c in changes]
    assert keys == sorted(keys)
    kinds = {c.kind for c in changes}
    assert {Change.DELIVERY, Change.SITE_READY, Change.TRANSFER_START} <= kinds


def test_the_replay_and_the_simulator_hold_the_same_quotas_and_ready_gpus_at_every_instant() -> (
    None
):
    # The simulator runs jobs too; jobs never change quotas or which nodes are powered, so
    # after the same changes both hold the same state of both.
    sc = mixed()
    replay, sim = Replay(sc), Simulation(sc)
    for t_s in replay.instants_s():
        replay.advance(t_s)
        sim.run_until(t_s)
        quotas = {p.name: dict(p.quotas) for p in sim.state.programs}
        assert quotas == {p.name: dict(p.quotas) for p in replay.state.programs}, t_s
        assert sim.state.node_powered == replay.state.node_powered, t_s
        assert replay.allocation(sc.start + timedelta(seconds=t_s)).quotas() == quotas


def test_every_change_reaches_the_state_and_launches_nothing() -> None:
    # With no jobs, every change reaches the state and the executor is never called.
    sc = mixed()
    state = build_state(sc)
    executor = RecordingExecutor()
    engine = Engine(state, make_policy("fifo"), default_catalog(), executor, NullObserver())
    before = sum(state.node_delivered)
    for c in timeline(sc):
        apply_change(engine, c)
    assert sum(state.node_delivered) > before
    assert (executor.launched, executor.halted) == ([], [])

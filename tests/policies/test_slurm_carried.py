"""The planning backfill carries a job's last plan to the next pass where it provably
holds (gpufleet.policies.slurm.carried), instead of searching the plan again.

Oracle, on seeded runs: every plan carried is the one the search finds on the same plan at
that moment (the search is run beside it and compared), and every job starts, ends and
waits as when every examined job is searched (``carry = False``, the reference). The
runs reach both sides of the certificate: plans carried, and plans refused because a
changed node could now take the job earlier or better."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from gpufleet.domain.scenario import OptionValue
from gpufleet.live.forecast import forecast_from_state
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.synthetic import MAPPING, NOW, synthetic_state
from gpufleet.policies.slurm import SlurmBackfill, carried
from gpufleet.policies.slurm.keptgrid import KeptGrid
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import Slots
from tests.policies.test_slurm_kept_grid import PREEMPTING
from tests.support.scenarios import limited_two_types
from tests.support.slurm_harness import EXAMPLE_WEIGHTS


class _Seen:
    carried = refused = beaten = 0


class _CheckedWalk(carried.Walk):
    """A walk that runs the search beside every plan it carries and compares them."""

    def earliest(
        self, jid: int, groups: list[int], gpus: int, limit_s: float, window_s: float
    ) -> tuple[float, Slots] | None:
        before = self.carried
        old = self.old.get(jid)
        got = super().earliest(jid, groups, gpus, limit_s, window_s)
        if self.carried > before:
            _Seen.carried += 1
            assert got == self.space.earliest(groups, gpus, limit_s, window_s)
        elif old is not None and old.start > self.space.now_s and got != (old.start, old.slots):
            _Seen.refused += 1  # a plan that did not hold, and was searched anew
        return got


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> type[_Seen]:
    monkeypatch.setattr(carried, "Walk", _CheckedWalk)
    beaten = carried._Runs.beaten

    def counted(self: carried._Runs, *a: Any) -> bool:
        got = beaten(self, *a)
        _Seen.beaten += got
        return got

    monkeypatch.setattr(carried._Runs, "beaten", counted)
    _Seen.carried = _Seen.refused = _Seen.beaten = 0
    return _Seen


def _run(seed: int, options: dict[str, OptionValue], carry: bool) -> Any:
    policy = SlurmBackfill(**dict(options))
    policy.carry = carry
    return Simulation(limited_two_types(seed, "slurm-backfill"), policy=policy).run()


CASES = [
    *((seed, {**EXAMPLE_WEIGHTS}) for seed in (1, 2, 3)),
    (1, {**EXAMPLE_WEIGHTS, "bf_interval_s": 0.0, "bf_resolution_s": 1.0}),
    (1, {**EXAMPLE_WEIGHTS, "bf_whole_nodes": False}),
    *((seed, PREEMPTING) for seed in (2, 3)),
]


@pytest.mark.parametrize(("seed", "options"), CASES)
def test_a_carried_plan_is_the_one_the_search_finds_and_every_job_runs_as_without_carrying(
    checked: type[_Seen], seed: int, options: dict[str, OptionValue]
) -> None:
    run = _run(seed, options, carry=True)
    ref = _run(seed, options, carry=False)
    for col in ("id", "start_s", "finish_s", "gpus", "preemptions"):
        assert np.array_equal(run.jobs[col], ref.jobs[col]), col
    assert checked.carried > 50  # the runs carry plans ...
    assert checked.beaten > 0  # ... and refuse some that a changed node would beat
    assert checked.refused > 0  # (and search anew the plans that moved)


def test_a_forecast_carries_most_plans_and_predicts_every_start_as_without_carrying(
    checked: type[_Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark's live state at 300 pending and 150 running jobs: the same start and
    end for every pending job; most plans are carried there."""
    state = synthetic_state(300, 150)
    spec = choose_policy(state.config, slurm_fairshare=True).spec
    mapping = parse_mapping(MAPPING, "<synthetic mapping>")
    policies: list[SlurmBackfill] = []
    original = SlurmBackfill.__init__

    def init(self: SlurmBackfill, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.carry = not policies  # the first run carries, the second is the reference
        policies.append(self)

    monkeypatch.setattr(SlurmBackfill, "__init__", init)
    got = []
    for _ in range(2):
        f = forecast_from_state(state, mapping, NOW, horizon=timedelta(days=365), policy=spec)
        got.append([(j.job_id, j.start, j.end) for j in f.pending])
    assert got[0] == got[1]
    assert all(start is not None for _, start, _ in got[0])
    with_carry, reference = policies
    assert (with_carry.carry, reference.carry) == (True, False)
    assert with_carry.carried > 1000
    assert checked.carried == with_carry.carried


@pytest.mark.parametrize(("seed", "options"), [(1, EXAMPLE_WEIGHTS), (2, PREEMPTING)])
def test_the_nodes_whose_ends_a_pass_places_anew_are_changed_nodes_for_the_carried_plans(
    monkeypatch: pytest.MonkeyPatch, seed: int, options: dict[str, OptionValue]
) -> None:
    """Three kinds of end the kept sums place otherwise than the last pass saw them: a
    job the main pass started this cycle, a run overdue by less than the resolution, a
    job stopped tentatively by QOS preemption. None of them is a start or stop the kept
    runs have seen yet, so each node must reach the carried plans' changed set through
    the load (KeptGrid.take_moved), or a plan on it could be carried wrongly."""
    seen = {"fresh": 0, "overdue": 0, "stopped": 0}
    load = KeptGrid.load

    def checked(
        self: KeptGrid, space: NodeSpace, fresh: Sequence[tuple[float, Slots]], stopped: set[int]
    ) -> None:
        load(self, space, fresh, stopped)
        if self.moved is None:
            return  # built this pass: nothing is carried
        now = space.now_s
        kinds = {
            "fresh": [slots for _, slots in fresh],
            "overdue": [
                self.runs[j][1]
                for t in self.stamps
                if t <= now
                for j in self.at[t]
                if j not in stopped
            ],
            "stopped": [self.runs[j][1] for j in stopped if j in self.runs],
        }
        for kind, slot_lists in kinds.items():
            nodes = {node for slots in slot_lists for node, _ in slots}
            assert nodes <= self.moved, kind
            seen[kind] += bool(nodes)

    monkeypatch.setattr(KeptGrid, "load", checked)
    _run(seed, options, carry=True)
    assert seen["fresh"] > 0 and seen["overdue"] > 0
    if options is PREEMPTING:
        assert seen["stopped"] > 0

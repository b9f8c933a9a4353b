"""The planning backfill's searches answered from the cohort's previous pass
(gpufleet.policies.slurm.replay). Oracle: on the seeded workloads of the early-exit oracle
(time limits that jobs mostly do not reach, so running jobs end before their planned ends;
two GPU types; gangs; node failures; Slurm's timing options), every job starts and ends at
the same instant on as many GPUs, waits as long under each reason, and at every cycle gets
the same planned start as under the pass that runs every search (``replay = False``); and
on a seeded live state every pending job's predicted start, end and GPU type is the
reference's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gpufleet.domain.scenario import OptionValue, PolicySpec
from gpufleet.live.forecast import forecast_from_state
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.synthetic import MAPPING, NOW, synthetic_state
from gpufleet.policies.slurm import SlurmBackfill
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.policies.slurm.replay import Record, Replay
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import CapacityIndex, Slots
from tests.policies.test_slurm_plan_exit import CASES, _Asking, _same_jobs, _scenario


def _run(options: dict[str, OptionValue], seed: int, replay: bool) -> tuple[Any, _Asking]:
    pol = _Asking(True, **options)
    pol.replay = replay
    return Simulation(_scenario(seed, pol.name), policy=pol).run(), pol


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("options", CASES)
def test_every_job_starts_ends_waits_and_is_planned_as_when_every_search_is_run(
    options: dict[str, OptionValue], seed: int
) -> None:
    fast, fast_pol = _run(options, seed, replay=True)
    ref, ref_pol = _run(options, seed, replay=False)
    assert fast_pol.replays > 0 and ref_pol.replays == 0  # answers were reused: a difference
    _same_jobs(fast, ref)
    assert fast_pol.asked == ref_pol.asked  # every planned start, at every cycle


def _forecast(replay: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    monkeypatch.setattr(SlurmBackfill, "replay", replay)
    made: list[SlurmBackfill] = []
    init = SlurmBackfill.__init__

    def keep(self: SlurmBackfill, *a: Any, **kw: Any) -> None:
        init(self, *a, **kw)
        made.append(self)

    monkeypatch.setattr(SlurmBackfill, "__init__", keep)
    state = synthetic_state(300, 150)
    spec = choose_policy(state.config, slurm_fairshare=True).spec
    assert spec == PolicySpec("slurm-backfill", spec.options)  # the cluster's: the planning
    f = forecast_from_state(
        state, parse_mapping(MAPPING, "<m>"), NOW, horizon=timedelta(days=365), policy=spec
    )
    assert (made[0].replays > 0) == replay
    return [(j.job_id, j.start, j.end, j.gpu_type) for j in f.pending]


def test_a_live_states_pending_jobs_start_where_and_when_every_search_run_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = _forecast(False, monkeypatch)
    assert sum(1 for r in ref if r[1] is not None) == 300  # a year: every job starts
    assert _forecast(True, monkeypatch) == ref


def _pass(
    prev: Record | None, now: float, ends: list[tuple[float, Slots]]
) -> tuple[Replay, NodeSpace]:
    """A pass at ``now`` on two 8-GPU nodes (0 and 1), both busy, their GPUs coming back
    at ``ends``; and the same plan searched afresh (the reference)."""
    spaces = []
    for _ in range(2):
        cap = CapacityIndex()
        gi = cap.group_for("c", "dc", "t", 8)
        for _ in range(2):
            cap.set_usable(cap.add_node(gi, 8), True)
        for _, slots in ends:
            cap.reserve(slots)
        space = NodeSpace(cap, [gi], now, 1.0)
        space.release_all(ends)
        spaces.append(space)
    return Replay(prev, spaces[0], ends, 1000.0), spaces[1]


def test_a_job_planned_last_pass_keeps_its_start_unless_another_node_frees_sooner() -> None:
    # pass P at 0: node 0 frees at 100, node 1 at 200; job 7 (8 GPUs, 50 s) plans on node
    # 0 at 100, the first instant 8 GPUs are free for 50 s
    first, _ = _pass(None, 0.0, [(100.0, ((0, 8),)), (200.0, ((1, 8),))])
    assert first.earliest(7, [0], 8, 50.0, 1000.0) == (100.0, ((0, 8),))
    first.made(7, [0], 8, 50.0, (100.0, 150.0), ((0, 8),))
    # at 10 nothing changed: the answer is P's, not searched for (a hit)
    same, ref = _pass(first.record, 10.0, [(100.0, ((0, 8),)), (200.0, ((1, 8),))])
    assert same.earliest(7, [0], 8, 50.0, 1000.0) == ref.earliest([0], 8, 50.0, 1000.0)
    assert same.hits == 1
    # at 10 node 1's job had ended early and one started there ends at 60: node 1's
    # column differs from P's (its base), so it is searched: 8 free from 60 for 50 s
    # beats node 0 at 100
    moved, ref = _pass(first.record, 10.0, [(100.0, ((0, 8),)), (60.0, ((1, 8),))])
    assert moved.earliest(7, [0], 8, 50.0, 1000.0) == (60.0, ((1, 8),))
    assert ref.earliest([0], 8, 50.0, 1000.0) == (60.0, ((1, 8),))

"""The planning backfill keeps its cohort's running jobs' ends between passes
(gpufleet.policies.slurm.keptgrid: per rounded end and node, the GPUs given back), adding
the jobs started and removing those stopped since, instead of summing every end anew.
Oracle: at every pass of seeded runs, the plan it starts from has the same times and the
same free GPUs per node and interval as the one built from every running job's end
(``NodeSpace.release_all``), including ends overdue by less than the resolution, jobs the
main pass started this cycle, jobs stopped tentatively by QOS preemption and node failures
that requeue jobs (the kept ends are then rebuilt); and every job starts, ends and waits
as under the reference (``kept_base = False``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from gpufleet.domain.scenario import OptionValue
from gpufleet.policies.slurm import SlurmBackfill
from gpufleet.policies.slurm.keptgrid import KeptGrid
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import Slots
from gpufleet.state.snapshot import Snapshot
from tests.support.scenarios import limited_two_types
from tests.support.slurm_harness import EXAMPLE_WEIGHTS


class _Compared:
    """A kept grid whose every load is compared with the reference plan."""

    def __init__(self, kept: KeptGrid, snap: Snapshot, cohort: str, seen: _Checking) -> None:
        self.kept, self.snap, self.cohort, self.seen = kept, snap, cohort, seen

    def load(
        self, space: NodeSpace, fresh: Sequence[tuple[float, Slots]], stopped: set[int]
    ) -> None:
        self.kept.load(space, fresh, stopped)
        snap, now = self.snap, space.now_s
        groups = [g for gs in snap.capacity.by_cohort_type[self.cohort].values() for g in gs]
        ref = NodeSpace(snap.capacity, groups, now, space.res)
        assert ref.nodes == space.nodes
        running = list(snap.running(snap.cohort(self.cohort)))
        ends = [
            (ref.rounded(j.start_s + self.seen.limit_s(j)), j.placement.slots)
            for j in running
            if j.placement
        ]
        ends += [(ref.rounded(now + limit), slots) for limit, slots in fresh]
        ref.release_all(ends)
        assert space.times == ref.times
        assert np.array_equal(space.free, ref.free)
        seen = self.seen
        seen.loads += 1
        seen.overdue += any(j.start_s + seen.limit_s(j) < now + space.res for j in running)
        seen.fresh += bool(fresh)
        seen.stopped += bool(stopped)


class _Checking(SlurmBackfill):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.loads = self.overdue = self.fresh = self.stopped = self.rebuilt = 0

    def _kept_grid(self, snap: Snapshot, cohort: str, nodes: list[int]) -> Any:
        before = self._grids.get(cohort)
        kept = super()._kept_grid(snap, cohort, nodes)
        self.rebuilt += kept is not before
        return _Compared(kept, snap, cohort, self)


PREEMPTING: dict[str, OptionValue] = {
    **EXAMPLE_WEIGHTS,
    "weight_qos": 1000.0,
    "preempt_qos_gap": 10,
}
CASES = [
    *((seed, {**EXAMPLE_WEIGHTS}) for seed in (1, 2)),
    *((seed, {**EXAMPLE_WEIGHTS, "bf_interval_s": 0.0, "bf_resolution_s": 1.0}) for seed in (1, 2)),
    # seeds whose main pass preempts before a backfill pass (seed 1 preempts once, not then)
    *((seed, PREEMPTING) for seed in (2, 3)),
]


@pytest.mark.parametrize(("seed", "options"), CASES)
def test_every_pass_starts_from_the_plan_every_running_end_summed_anew_gives(
    seed: int, options: dict[str, OptionValue]
) -> None:
    checking = _Checking(**options)
    run = Simulation(limited_two_types(seed, "slurm-backfill"), policy=checking).run()
    same: dict[str, Any] = dict(options)
    ref_pol = SlurmBackfill(**same)
    ref_pol.kept_base = False
    ref = Simulation(limited_two_types(seed, "slurm-backfill"), policy=ref_pol).run()
    assert checking.loads > 100  # an overloaded fleet: many passes
    for col in ("id", "start_s", "finish_s", "gpus", "preemptions"):
        assert np.array_equal(run.jobs[col], ref.jobs[col]), col
    # the kept ends served most passes without a rebuild (failures requeue jobs)
    assert 1 <= checking.rebuilt < checking.loads // 4
    assert checking.fresh > 0  # the main pass started jobs at passes
    if options.get("bf_resolution_s") != 1.0:  # ends planned a minute early: overdue ones
        assert checking.overdue > 0
    if options is PREEMPTING:
        assert checking.stopped > 0  # passes with jobs stopped tentatively (1 and 3)

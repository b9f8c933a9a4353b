"""EASY backfill keeps its cohort's running jobs' ends in time order from one reservation
to the next (``_KeptEnds`` in gpufleet.policies.slurm.backfill), adding the jobs started
and removing those stopped since, instead of taking and sorting every end anew. Oracle:
at every reservation of seeded runs, the same top job gets the same shadow time and the
same free GPUs per node at it as under the reference (``incremental_order = False``),
with node failures that requeue jobs (a job stopped and started again between two
reservations: the kept list is rebuilt) and with QOS preemption (jobs the main pass stops
tentatively are left out)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from gpufleet.domain.jobs import JobDraft
from gpufleet.domain.scenario import FailureModel, OptionValue, Scenario, WorkloadFactory
from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.slurm import SlurmBackfillEasy
from gpufleet.sim.simulator import Simulation
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot
from tests.support.slurm_harness import EXAMPLE_WEIGHTS

Seen = tuple[float, int, tuple[float, tuple[tuple[int, int], ...]] | None]


class Recording(SlurmBackfillEasy):
    """EASY backfill noting every reservation: (now, top job, (shadow time, free GPUs
    gained per node at it) or None); how many rebuilt the kept list, and how many were
    made while the main pass had stopped jobs tentatively (QOS preemption)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[Seen] = []
        self.rebuilt = 0
        self.with_stopped = 0

    def reserve(self, snap: Snapshot, top: Job, started: list[tuple[Job, Placement]]) -> Any:
        before = self._kept.get(top.cohort)  # held here: its id cannot be reused
        res = super().reserve(snap, top, started)
        got = None if res is None else (res.start_s, tuple(sorted(res.delta.items())))
        self.seen.append((snap.now_s, top.spec.id, got))
        self.rebuilt += self._kept.get(top.cohort) is not before
        self.with_stopped += bool(snap.stopped)
        return res


def _qos_levels(factory: WorkloadFactory, first: int) -> WorkloadFactory:
    def jobs(seed: int) -> Iterator[JobDraft]:
        for k, draft in enumerate(factory(seed)):
            yield draft._replace(priority=10 * ((first + k) % 3))

    return jobs


def _scenario(seed: int, mixed: bool) -> Scenario:
    sc = synthetic_scenario(400, 48, policy="slurm-backfill-easy", load=1.3, seed=seed)
    if not mixed:
        return sc
    workloads = tuple((n, _qos_levels(f, i)) for i, (n, f) in enumerate(sc.workloads))
    return dataclasses.replace(sc, workloads=workloads, failures=FailureModel(100.0, 2.0))


def _run(seed: int, mixed: bool, options: dict[str, OptionValue], incremental: bool) -> Any:
    pol = Recording(**options)
    pol.incremental_order = incremental
    return Simulation(_scenario(seed, mixed), policy=pol).run(), pol


CASES: list[tuple[bool, dict[str, OptionValue]]] = [
    (False, {**EXAMPLE_WEIGHTS}),
    (True, {**EXAMPLE_WEIGHTS, "weight_qos": 1000.0}),  # QOS levels, failures requeue
    (True, {**EXAMPLE_WEIGHTS, "weight_qos": 1000.0, "preempt_qos_gap": 10}),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("mixed", "options"), CASES)
def test_every_reservation_is_the_one_the_ends_sorted_anew_give(
    seed: int, mixed: bool, options: dict[str, OptionValue]
) -> None:
    kept_run, kept = _run(seed, mixed, options, incremental=True)
    ref_run, ref = _run(seed, mixed, options, incremental=False)
    assert len(ref.seen) > 100  # an overloaded fleet: many reservations
    assert kept.seen == ref.seen
    for col in ("id", "start_s", "finish_s", "gpus", "preemptions"):
        assert np.array_equal(kept_run.jobs[col], ref_run.jobs[col]), col
    # the kept list served most reservations without being rebuilt
    assert 1 <= kept.rebuilt < len(kept.seen) // 4
    if mixed:  # failures (and preemption) stopped jobs that started again
        assert int(np.sum(ref_run.jobs["preemptions"])) > 0
    if options.get("preempt_qos_gap"):  # some reservations left tentative stops out
        assert kept.with_stopped > 0

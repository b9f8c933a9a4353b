"""Tiresias's wake-up read from the kept index (the first instant a preemptible running
job at or below the highest waiting queue reaches the threshold below its queue) is, at
every cycle of seeded runs, the very float the plain scan of every running job gives (the
code before the index, kept here as the oracle): the engine wakes a cycle at it, so an ulp
apart would be another run."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.research.tiresias import Tiresias
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import JobState
from gpufleet.state.snapshot import Snapshot
from tests.support.builders import Harness
from tests.support.scenarios import TIRESIAS_OPTIONS, mixed


class CheckedWake(Tiresias):
    """Tiresias that times the running jobs' wake-up both ways at every cycle and asserts
    the two are the same float."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.compared = 0  # cycles with a finite wake-up to compare
        self.demotions = 0  # of those, cycles whose instant was a kept job's next level

    def scanned_wake(self, snap: Snapshot, cohort: str, top: int) -> float:
        now, ths = snap.now_s, self.thresholds_gpu_s
        times = []
        for j in snap.running(snap.cohort(cohort)):
            lvl = self.queue_of(j, now)
            if lvl < len(ths) and lvl >= top and j.spec.preemptible:
                times.append(now + (ths[lvl] - self.attained(j, now)) / j.spec.gpus)
        later = [t for t in times if t > now and math.isfinite(t)]
        return min(later) if later else math.inf

    def _running_wake(self, snap: Snapshot, cohort: str, top: int) -> float:
        kept = super()._running_wake(snap, cohort, top)
        scanned = self.scanned_wake(snap, cohort, top)
        assert kept == scanned, (snap.now_s, cohort, top, kept.hex(), scanned.hex())
        if math.isfinite(kept):
            self.compared += 1
            self.demotions += top > 0
        return kept


@pytest.mark.parametrize("name", sorted(TIRESIAS_OPTIONS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kept_wake_is_the_scans_float_at_every_cycle_of_the_mixed_runs(
    name: str, seed: int
) -> None:
    policy = CheckedWake(**TIRESIAS_OPTIONS[name])
    Simulation(mixed("fifo", seed), policy=policy).run()
    assert policy.compared >= 20, "the run should wake for crossings"


@pytest.mark.parametrize("name", sorted(TIRESIAS_OPTIONS))
@pytest.mark.parametrize("seed", [1, 2])
def test_the_kept_wake_is_the_scans_float_at_every_cycle_of_synthetic_runs(
    name: str, seed: int
) -> None:
    # 1,500 jobs on 150 GPUs at load 2: queues build up, jobs restart, cross and leave
    policy = CheckedWake(**TIRESIAS_OPTIONS[name])
    sc = synthetic_scenario(1500, 150, policy="tiresias", load=2.0, seed=seed)
    Simulation(sc, policy=policy).run()
    assert policy.compared >= 100, "the run should wake for crossings"
    if name == "3q":
        assert policy.demotions > 0, "the 3-queue run should wake for Q_2's jobs too"


@pytest.mark.parametrize("seed", range(5))
def test_the_kept_bound_is_never_after_the_scans_instant_and_close_to_it(
    seed: int,
) -> None:
    # The heap may skip an entry only if its bound is above the best instant found, so
    # the bound must be <= the scan's float at every instant of the run while the job is
    # in that queue; and close to it (else every entry is timed at every cycle).
    # Instants and services over the ranges a run reaches: months, 1..64 GPUs, 3 queues.
    rng = random.Random(seed)
    policy = Tiresias(threshold_gpu_hours=rng.uniform(0.01, 20), queues=3, threshold_growth=8)
    h = Harness("fifo")
    ths = policy.thresholds_gpu_s
    for _ in range(2000):
        job = h.submit("a", rng.choice([1, 2, 3, 8, 64]))
        lvl = rng.randrange(len(ths))
        low = ths[lvl - 1] if lvl else 0.0
        job.attained_gpu_s = rng.uniform(low, ths[lvl])
        job.state, job.start_s = JobState.RUNNING, rng.uniform(0, 1e7)
        bound = policy.reach_bound(job, lvl)
        assert bound is not None
        end = job.start_s + (ths[lvl] - job.attained_gpu_s) / job.spec.gpus
        for now in [job.start_s, rng.uniform(job.start_s, end), math.nextafter(end, 0.0)]:
            if policy.queue_of(job, now) != lvl:
                continue
            exact = policy.reach_at(job, lvl, now)
            assert bound <= exact, (bound.hex(), exact.hex())
            # margin 1e-9 of (|when| + |start| + (th + base) / gpus + 1) <= 4e-9 of exact + 1
            assert exact - bound <= 1e-8 * (abs(exact) + ths[lvl] / job.spec.gpus + 1)
    assert policy.reach_bound(job, len(ths)) is None  # the lowest queue: nothing below

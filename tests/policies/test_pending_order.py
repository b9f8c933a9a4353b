"""SRTF's and Tiresias's pending order, kept between cycles, decides exactly as the full
scan it replaced (``heapq.nsmallest`` over every pending job at every cycle, kept here as
the oracle): every cycle's starts, placements, stops, blocked jobs with their reasons and
wake-ups, and the result."""

from __future__ import annotations

import heapq
from collections.abc import Callable

import pytest

from gpufleet.policies.base import Decision, Refusals
from gpufleet.policies.pending_order import PendingOrder, joined
from gpufleet.policies.research.srtf import Srtf
from gpufleet.policies.research.tiresias import Tiresias
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot
from tests.support.builders import Harness
from tests.support.runs import decisions
from tests.support.scenarios import mixed


class ScanningSrtf(Srtf):
    """SRTF before the kept order: the ``depth`` shortest by a scan of the whole queue."""

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        refused = Refusals()
        queue = snap.cohort(cohort).queue.values()
        for job in heapq.nsmallest(self.depth, queue, key=_remaining_order):
            refused.try_start(self, snap, job, d, (job.spec.gpus, job.spec.gpu_types))


def _remaining_order(job: Job) -> tuple[float, float, int]:
    return (job.remaining_s, job.spec.submit_s, job.spec.id)


def scanning_tiresias(**options: float) -> Tiresias:
    """Tiresias ordering every pending job at every cycle (its path with the starvation
    guard, which is the code before the kept order)."""
    p = Tiresias(**options)  # type: ignore[arg-type]
    p.order = None
    return p


CASES: dict[str, tuple[Callable[[], Srtf | Tiresias], Callable[[], Srtf | Tiresias]]] = {
    "srtf": (Srtf, ScanningSrtf),
    "srtf-depth-4": (lambda: Srtf(depth=4), lambda: ScanningSrtf(depth=4)),
    "tiresias": (Tiresias, scanning_tiresias),
    "tiresias-depth-4": (lambda: Tiresias(depth=4), lambda: scanning_tiresias(depth=4)),
    "tiresias-3q": (
        lambda: Tiresias(threshold_gpu_hours=1, queues=3, threshold_growth=8),
        lambda: scanning_tiresias(threshold_gpu_hours=1, queues=3, threshold_growth=8),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kept_order_decides_every_cycle_as_a_full_scan(name: str, seed: int) -> None:
    kept, scan = CASES[name]
    log, result = decisions(Simulation(mixed("fifo", seed), policy=kept()))
    assert any(pre for _, _, pre, _, _ in log), "the run should preempt"
    assert any(len(blocked) > 1 for _, _, _, blocked, _ in log), "queues should form"
    assert (log, result) == decisions(Simulation(mixed("fifo", seed), policy=scan()))


def test_the_starvation_guard_keeps_the_full_scan() -> None:
    # with it a waiting job's queue changes while it waits: no order can be kept
    assert Tiresias(starve_limit=2.0).order is None
    assert Tiresias().order is not None


def test_a_job_started_and_requeued_between_two_looks_takes_its_new_place() -> None:
    """a (7,200 s of work) and b (1,800 s) wait for one 8-GPU node: b leads, shorter.
    a starts (fifo: first come), runs 6,000 s with checkpoints every 600 s and is stopped:
    6,000 s kept, 7,200 - 6,000 = 1,200 s left, now less than b's 1,800 s, so a leads.
    Its id never left the queue between the two looks; forgetting it at its start is
    what makes the order see the new wait."""
    h = Harness("fifo", nodes=[8])
    a = h.submit("a", 8, work_s=7200.0, checkpoint_s=600.0)
    b = h.submit("a", 8, work_s=1800.0, checkpoint_s=600.0)
    cohort = h.state.cohorts["c"]
    order = PendingOrder(_remaining_order)
    assert [j.spec.id for _, j in order.first(cohort, 8)] == [b.spec.id, a.spec.id]
    h.cycle(0.0)
    order.forget(a)  # what srtf and tiresias do for each job they admit
    h.engine.preempt(a, 6000.0)
    assert a.remaining_s == 1200.0
    assert [k for k, _ in order.first(cohort, 8)] == [
        (1200.0, 0.0, a.spec.id),
        (1800.0, 0.0, b.spec.id),
    ]


def test_a_job_that_starts_leaves_the_order_and_the_rest_keep_theirs() -> None:
    # three jobs of 1,800, 600 and 1,200 s on one 8-GPU node; fifo starts the first (8 GPUs)
    h = Harness("fifo", nodes=[8])
    jobs = [h.submit("a", 8, work_s=w) for w in (1800.0, 600.0, 1200.0)]
    cohort = h.state.cohorts["c"]
    order = PendingOrder(_remaining_order)
    assert [j.spec.id for _, j in order.first(cohort, 2)] == [1, 2]
    h.cycle(0.0)
    assert jobs[0].spec.id not in cohort.queue
    assert [j.spec.id for _, j in order.first(cohort, 8)] == [1, 2]
    h.cycle(0.0)  # nothing fits: nothing changes
    assert [j.spec.id for _, j in order.sync(cohort)] == [1, 2]


def test_an_order_asked_about_another_runs_cohort_of_the_same_name_starts_afresh() -> None:
    """One policy object may serve two simulations; job ids restart at 0 in each. Run 1's
    job 0 has 3,600 s of work and job 1 1,800 s; run 2's job 0 has 600 s and job 1
    1,200 s. Kept by cohort name and id alone, run 2 would be ordered by run 1's keys."""
    order = PendingOrder(_remaining_order)
    run1, run2 = Harness("fifo", nodes=[1]), Harness("fifo", nodes=[1])
    for w in (3600.0, 1800.0):
        run1.submit("a", 8, work_s=w)
    for w in (600.0, 1200.0):
        run2.submit("a", 8, work_s=w)
    assert [j.spec.id for _, j in order.sync(run1.state.cohorts["c"])] == [1, 0]
    got = order.sync(run2.state.cohorts["c"])
    assert [(k[0], j.spec.id) for k, j in got] == [(600.0, 0), (1200.0, 1)]
    assert all(j.program is run2.state.program_by_name["a"] for _, j in got)


@pytest.mark.parametrize(
    ("queue", "known", "new"),
    [
        ([1, 2, 3], [1, 2, 3], []),  # nothing joined
        ([1, 2, 3, 4, 5], [1, 2, 3], [5, 4]),  # submitted: at the back
        ([7, 1, 2, 3], [1, 2, 3], [7]),  # requeued: at the front
        ([7, 1, 2, 3, 4], [1, 2, 3], [4, 7]),  # both
        ([1, 3], [1, 2, 3], None),  # 2 left without forget: lengths do not add up
        # what it assumes: 2 leaving unforgotten while 9 joins in the middle goes unseen
        # (lengths add up); neither happens: jobs join at the ends and leave by a start
        ([1, 9, 3], [1, 2, 3], []),
        ([4], [1], None),  # the only known job left: 4 is read from both ends
        ([4, 5], [], None),  # nothing known yet
    ],
    ids=["none", "back", "front", "both", "left", "swapped", "all-left", "first-look"],
)
def test_joined_reads_the_two_ends_and_says_when_it_cannot(
    queue: list[int], known: list[int], new: list[int] | None
) -> None:
    assert joined(dict.fromkeys(queue), dict.fromkeys(known)) == new  # type: ignore[arg-type]

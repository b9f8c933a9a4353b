"""Priority scheduling with preemption."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

from gpufleet.policies import ordering
from gpufleet.policies.base import Admission, BasePolicy, Decision, NoQuota, PlacementStrategy
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


class PreemptLowerPriority:
    """Victims: preemptible running jobs of the same cohort with a strictly lower priority,
    lowest priority first, then the most recently started (least work lost), as Kueue's
    ``withinClusterQueue: LowerPriority`` orders candidates. Victims are stopped one at a
    time until the job fits; if it never fits, nothing is preempted. Strictly lower
    priority means two jobs can never preempt each other: no preemption cycles."""

    def __init__(self, admission: Admission, placement: PlacementStrategy) -> None:
        self.admission = admission
        self.placement = placement

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        prio = job.spec.priority
        cohort = snap.cohort(job.cohort)
        if not any(p < prio for p in cohort.running_priorities):
            return None  # O(priority levels): nothing lower runs
        allowed = set(job.spec.gpu_types)

        def lower(v: Job) -> bool:
            return (
                v.spec.preemptible
                and v.spec.priority < prio
                and v.placement is not None
                and snap.gpu_type_of(v.placement) in allowed
            )

        bound = sum(p.used_gpus for p in cohort.programs)  # all running GPUs: an upper bound
        victims = newest_first(snap, cohort.programs, lower)
        return evict_until_fits(snap, job, victims, bound, self.admission, self.placement, decision)


def _victim_key(v: Job) -> tuple[int, float, int]:
    return (v.spec.priority, -v.start_s, -v.spec.id)


def newest_first(
    snap: Snapshot, programs: list[ProgramState], keep: Callable[[Job], bool]
) -> Iterator[Job]:
    """Running jobs that ``keep`` accepts, lowest priority first, then most recently
    started, lazily: each program's running jobs are in start order, so walking them
    backwards and merging costs only as many steps as victims are taken."""
    streams: list[Iterator[Job]] = []
    for p in programs:
        if not p.running:
            continue
        if p.mixed_priority:
            streams.append(iter(sorted(p.running.values(), key=_victim_key)))
        else:
            streams.append(reversed(p.running.values()))
    stopped = snap.stopped
    for v in heapq.merge(*streams, key=_victim_key):
        if v.spec.id not in stopped and keep(v):
            yield v


def evict_until_fits(
    snap: Snapshot,
    job: Job,
    victims: Iterable[Job],
    bound_gpus: int,
    admission: Admission,
    placement: PlacementStrategy,
    decision: Decision,
) -> Placement | None:
    """Stop victims in order until ``job`` is admitted and placed; undo all if it never
    is. ``bound_gpus`` is an upper bound of what the victims hold: when even that plus the
    free GPUs is too little, nothing is tried."""
    if bound_gpus + _free(snap, job) < job.spec.gpus:
        return None
    mark = snap.mark()
    chosen: list[Job] = []
    for v in victims:
        snap.assume_stop(v)
        chosen.append(v)
        got = placement.place(snap, job, admission)
        if isinstance(got, Placement):
            decision.preempt.extend(chosen)
            return got
    snap.undo_to(mark)
    return None


def _free(snap: Snapshot, job: Job) -> int:
    return sum(snap.capacity.free_in(job.cohort, t) for t in job.spec.gpu_types)


class PriorityPreempt(BasePolicy):
    """Highest priority first (then FIFO); a waiting job preempts lower-priority ones.

    Jobs of equal priority never preempt each other; when the top job cannot start even by
    preemption the cohort waits for it (strict order), which keeps high-priority gangs
    from starving behind a stream of small low-priority jobs."""

    name: ClassVar[str] = "priority"
    summary: ClassVar[str] = "priority order; waiting jobs preempt lower-priority running jobs"

    def __init__(self) -> None:
        admission, placement = NoQuota(), BestFit()
        super().__init__(admission, placement, PreemptLowerPriority(admission, placement))

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        for job in ordering.by_priority(snap.cohort(cohort).programs):
            if not self.try_start(snap, job, d):
                return

"""Shortest remaining time first, with known durations: an optimistic bound.

Rule: pending jobs in order of remaining work (reference seconds on their GPU count; ties
by submit time, then id). Each is started if it fits; if it does not, it may preempt
preemptible running jobs of its cohort whose remaining work is strictly larger than its
own, largest remaining first, until it fits. Because a job only preempts jobs with more
work left and running only ever shortens what is left, two jobs can never preempt each
other back and forth.

A real scheduler does not know durations; with them known, SRTF minimizes mean job
completion time on one machine (Schrage, 1968), which is why it serves as the lower bound
research schedulers (Tiresias, NSDI '19; Gavel, OSDI '20) compare against.
"""

from __future__ import annotations

from typing import ClassVar

from gpufleet.policies.base import (
    Admission,
    BasePolicy,
    Decision,
    NoQuota,
    PlacementStrategy,
    Refusals,
)
from gpufleet.policies.basic.priority import evict_until_fits
from gpufleet.policies.kept_victims import KeptVictims
from gpufleet.policies.options import POSITIVE_INT, Options
from gpufleet.policies.pending_order import PendingOrder
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


def _key(job: Job) -> tuple[float, float, int]:
    return (job.remaining_s, job.spec.submit_s, job.spec.id)


class PreemptLongerRemaining:
    """Victims: preemptible running jobs with strictly more work left now (their remaining
    work as of their last start less their progress since), most left first, then the
    highest id. The cohort's candidates are kept sorted between cycles
    (:mod:`gpufleet.policies.kept_victims`); the policy reports the jobs it admits."""

    def __init__(self, admission: Admission, placement: PlacementStrategy) -> None:
        self.admission = admission
        self.placement = placement
        self.cache = KeptVictims()

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        index = self.cache.of(snap, snap.cohort(job.cohort))
        victims, bound = index.above(snap, job.spec.gpu_types, job.remaining_s)
        if not bound:
            return None
        return evict_until_fits(snap, job, victims, bound, self.admission, self.placement, decision)


class Srtf(BasePolicy):
    name: ClassVar[str] = "srtf"
    summary: ClassVar[str] = "shortest remaining time first with known durations (a bound)"
    options: ClassVar[Options] = {"depth": POSITIVE_INT}

    def __init__(self, depth: int = 256) -> None:
        admission, placement = NoQuota(), BestFit()
        self.victims = PreemptLongerRemaining(admission, placement)
        super().__init__(admission, placement, self.victims)
        self.depth = depth
        # remaining work is fixed while a job waits: the order is kept between cycles
        self.order = PendingOrder(_key)

    def decide(self, snap: Snapshot) -> Decision:
        self.victims.cache.new_cycle()
        d = super().decide(snap)
        for job, _ in d.admit:
            self.order.forget(job)
            self.victims.cache.started(job)
        return d

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        """The ``depth`` shortest pending jobs, shortest first; each that cannot start even
        by preemption is passed over (later, longer jobs may still fit)."""
        c = snap.cohort(cohort)
        # A job refused is refused again for a later one of the same GPUs and types until
        # something starts: the same placement fails on the same state, and the later job
        # (remaining work at least as large, by the order) may preempt only a prefix of
        # the same victim order, each prefix already tried and undone (Refusals).
        refused = Refusals()
        for _, job in self.order.first(c, self.depth):
            refused.try_start(self, snap, job, d, (job.spec.gpus, job.spec.gpu_types))

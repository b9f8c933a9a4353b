"""Tiresias: discretized two-dimensional least-attained-service (2D-LAS), preemptive.

Gu et al., "Tiresias: A GPU Cluster Manager for Distributed Deep Learning", NSDI '19.

Notation, per job j at time t (§3.2 of the paper):

- attained service ``a_j(t) = G_j * T_j(t)``: GPUs times the time it has run so far, in
  GPU-seconds (the "2D" of 2D-LAS: spatial times temporal). Lost, uncheckpointed work
  counts: the job held the GPUs. Here ``a_j = attained_gpu_s + gpus * (t - start_s)``
  while it runs (``Job.attained_gpu_s`` is kept by the engine at every stop).
- K queues Q_1 .. Q_K split by thresholds ``0 < th_1 < .. < th_{K-1}`` (GPU-seconds):
  j is in Q_k when ``th_{k-1} <= a_j < th_k`` (the discretization, §3.2, "Discretized
  2D-LAS"); a running job that crosses ``th_k`` is demoted to Q_{k+1}. Jobs are served
  highest queue first and FIFO by submit time within a queue.
- preemption: a pending job may stop running jobs of strictly lower queues (lowest queue
  first, then the latest submitted), as LAS preempts by priority. Jobs in one queue never
  preempt each other, so no two jobs can preempt each other back and forth at an instant.
- starvation guard (§3.2, "Avoiding starvation"): a job that has waited since its last
  stop for at least ``STARVELIMIT * (length of its last run)`` is promoted to Q_1; its
  attained service then counts from the promotion, so it is demoted again after
  ``th_1`` more GPU-seconds (MLFQ's priority boost). ``starve_limit = 0`` turns it off.

Thresholds used here: the paper uses K = 2 and picks the threshold per workload; the
default here is one threshold at 8 GPU-hours (an 8-GPU job is demoted after one hour, a
1-GPU job after eight), about the median attained service of the synthetic and example
workloads (median 2 h on a mean of about 4 GPUs), so roughly half of the jobs finish in
Q_1. With ``queues = K > 2`` the thresholds grow geometrically: ``th_k = th_1 * g^(k-1)``.

Time-driven decisions: each cycle asks (``Decision.wake_at``) to run again when a running
job will cross its next threshold while a pending job would then outrank it, or when a
waiting job's starvation limit expires, whichever is first.

What the policy remembers between cycles (the engine owns all job state): when and after
how long a run each preempted job stopped (its own victims are noted when it decides;
jobs stopped by failures or transfers when it first sees them requeued, which is the
cycle at the same instant), and the attained service at each promotion.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from typing import ClassVar

from gpufleet.errors import InputError
from gpufleet.policies.base import (
    Admission,
    BasePolicy,
    Decision,
    NoQuota,
    PlacementStrategy,
    Refusals,
)
from gpufleet.policies.basic.priority import evict_until_fits
from gpufleet.policies.kept_levels import KeptLevels, LevelRule
from gpufleet.policies.options import NON_NEGATIVE, POSITIVE_INT, Options
from gpufleet.policies.pending_order import PendingOrder
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, JobState
from gpufleet.state.snapshot import Snapshot

_TOL = 1e-9  # relative: a job exactly at a threshold (up to rounding) has crossed it
_REACH_MARGIN = 1e-9  # relative to the magnitudes summed: rounding is about 1e-15 of them


class Tiresias(BasePolicy):
    name: ClassVar[str] = "tiresias"
    summary: ClassVar[str] = "discretized 2D-LAS on attained GPU-time, preemptive (Tiresias)"
    options: ClassVar[Options] = {
        "threshold_gpu_hours": NON_NEGATIVE,
        "queues": POSITIVE_INT,
        "threshold_growth": NON_NEGATIVE,
        "starve_limit": NON_NEGATIVE,
        "depth": POSITIVE_INT,
    }

    def __init__(
        self,
        threshold_gpu_hours: float = 8.0,
        queues: int = 2,
        threshold_growth: float = 10.0,
        starve_limit: float = 0.0,
        depth: int = 256,
    ) -> None:
        if queues > 1 and threshold_gpu_hours <= 0:
            raise InputError("policy 'tiresias': threshold_gpu_hours must be > 0 with 2+ queues")
        if queues > 2 and threshold_growth <= 1:
            raise InputError("policy 'tiresias': threshold_growth must be > 1 with 3+ queues")
        admission, placement = NoQuota(), BestFit()
        self.victims = PreemptLowerQueues(self, admission, placement)
        super().__init__(admission, placement, self.victims)
        self.thresholds_gpu_s = [
            threshold_gpu_hours * 3600.0 * threshold_growth**k for k in range(queues - 1)
        ]
        self.starve_limit = starve_limit
        self.depth = depth
        self.now_s = 0.0
        # job id -> (its preemption count then, stopped at, length of the run that ended)
        self._stops: dict[int, tuple[int, float, float]] = {}
        # job id -> attained GPU-seconds when it was promoted (attained counts from there)
        self._promoted_at: dict[int, float] = {}
        # without the starvation guard a waiting job's queue is fixed until it runs: the
        # order (queue, submit, id) is kept between cycles (PendingOrder); with it, a
        # waiting job can be promoted at any instant and each cycle orders them all
        self.order: PendingOrder | None = None if starve_limit > 0 else PendingOrder(self._rank)

    # --- attained service and queues ---------------------------------------------------
    def attained(self, job: Job, now_s: float) -> float:
        """GPU-seconds of service since the job's arrival or its last promotion."""
        a = job.attained_gpu_s - self._promoted_at.get(job.spec.id, 0.0)
        if job.state is JobState.RUNNING:
            a += job.spec.gpus * (now_s - job.start_s)
        return a

    def queue_of(self, job: Job, now_s: float) -> int:
        """0 for the highest queue (Q_1) .. K-1 for the lowest."""
        a = self.attained(job, now_s)
        return bisect_right(self.thresholds_gpu_s, a + _TOL * max(1.0, a))

    def crossing(self, job: Job, level: int) -> float | None:
        """No later than the instant a running job in queue ``level`` can first be in a
        lower one (None in the lowest): its attained service reaching the threshold less
        ``queue_of``'s tolerance, twice over (``a < th - 2 tol max(1, th)`` keeps
        ``a + tol max(1, a) < th``)."""
        ths = self.thresholds_gpu_s
        if level >= len(ths):
            return None
        th = ths[level] - 2 * _TOL * max(1.0, ths[level])
        base = job.attained_gpu_s - self._promoted_at.get(job.spec.id, 0.0)
        return job.start_s + (th - base) / job.spec.gpus

    # --- the cycle -------------------------------------------------------------------
    def decide(self, snap: Snapshot) -> Decision:
        self.now_s = snap.now_s
        self.victims.cache.new_cycle()
        d = super().decide(snap)
        for v in d.preempt:  # note own victims: they stop now, after a run since start_s
            self._stops[v.spec.id] = (v.preemptions + 1, snap.now_s, snap.now_s - v.start_s)
        for job, _ in d.admit:
            self.victims.cache.started(job)
            self._stops.pop(job.spec.id, None)
            if self.order is not None:
                self.order.forget(job)
        return d

    def _rank(self, job: Job) -> tuple[float, ...]:
        """A waiting job's place in the order, computed when it is first seen waiting
        (so its stop is noted then, as :meth:`_pending_level` does at every cycle)."""
        return (self._pending_level(job, self.now_s), job.spec.submit_s, job.spec.id)

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        """Phases: queue levels (with promotions), order, admit or preempt, wake-up."""
        if self.order is None:
            self._schedule_scanning(snap, cohort, d)
            return
        entries = self.order.sync(snap.cohort(cohort))
        started = self._admit(snap, entries[: self.depth], d)
        # the highest pending queue once this cycle's starts leave (they lead the order,
        # which is as synced: the policy forgets them after the cycle)
        ids = {j.spec.id for j in started}
        top = next((int(k[0]) for k, j in entries if j.spec.id not in ids), None)
        self._note_wake(self._wake(snap, cohort, top, [], {}, started, d), d)

    def _schedule_scanning(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        """The cycle with the starvation guard: every waiting job's queue, at every cycle."""
        now = snap.now_s
        pending = list(snap.cohort(cohort).queue.values())
        level: dict[int, int] = {j.spec.id: self._pending_level(j, now) for j in pending}
        order = heapq.nsmallest(
            self.depth, pending, key=lambda j: (level[j.spec.id], j.spec.submit_s, j.spec.id)
        )
        started = self._admit(snap, [((level[j.spec.id],), j) for j in order], d)
        if started:
            ids = {j.spec.id for j in started}
            pending = [j for j in pending if j.spec.id not in ids]
        top = min((level[j.spec.id] for j in pending), default=None)
        self._note_wake(self._wake(snap, cohort, top, pending, level, started, d), d)

    def _admit(
        self, snap: Snapshot, order: list[tuple[tuple[float, ...], Job]], d: Decision
    ) -> list[Job]:
        """Each job in order (``(key, job)``, the key led by its queue), started if it
        fits or by preemption; the jobs started."""
        started: list[Job] = []
        # Refused again until something starts: a later job of the same GPUs, types and
        # queue meets the same placement on the same state and the same victims (strictly
        # lower queues, the same order; Refusals)
        refused = Refusals()
        for k, job in order:
            if refused.try_start(self, snap, job, d, (job.spec.gpus, job.spec.gpu_types, k[0])):
                started.append(job)
        return started

    @staticmethod
    def _note_wake(wake: float | None, d: Decision) -> None:
        if wake is not None and (d.wake_at is None or wake < d.wake_at):
            d.wake_at = wake

    def _pending_level(self, job: Job, now: float) -> int:
        """The job's queue, after noting a stop the policy did not cause and promoting it
        if it has starved."""
        jid = job.spec.id
        stop = self._stops.get(jid)
        if job.preemptions and (stop is None or stop[0] != job.preemptions):
            stop = (job.preemptions, now, now - job.start_s)  # stopped now by an event
            self._stops[jid] = stop
        lvl = self.queue_of(job, now)
        limit = self.starve_limit
        if lvl and limit > 0 and stop is not None and now - stop[1] >= limit * stop[2] * (1 - _TOL):
            self._promoted_at[jid] = job.attained_gpu_s
            lvl = 0
        return lvl

    def _wake(
        self,
        snap: Snapshot,
        cohort: str,
        top_pending: int | None,
        pending: list[Job],
        level: dict[int, int],
        started: list[Job],
        d: Decision,
    ) -> float | None:
        """The first instant a decision could change without an event: a running job
        crosses into a queue below some pending job's (``top_pending``: the highest queue
        still waiting, None when none waits), or a pending job (or one preempted now)
        starves (``pending`` and ``level``: the waiting jobs and their queues, needed only
        with the starvation guard)."""
        now, ths = snap.now_s, self.thresholds_gpu_s
        victims = [v for v in d.preempt if v.cohort == cohort]
        if top_pending is None and not victims:
            return None
        tops = [self.queue_of(v, now) for v in victims]
        top = min([top_pending, *tops] if top_pending is not None else tops)
        times = [self._running_wake(snap, cohort, top)]
        for j in started:  # not running yet in the snapshot: a few, looked at here
            lvl = self.queue_of(j, now)
            if lvl < len(ths) and lvl >= top and j.spec.preemptible:
                times.append(self.reach_at(j, lvl, now))
        if self.starve_limit > 0:
            for j in pending:
                stop = self._stops.get(j.spec.id)
                if stop is not None and level[j.spec.id] > 0:
                    times.append(stop[1] + self.starve_limit * stop[2])
            times += [now + self.starve_limit * (now - v.start_s) for v in victims]
        later = [t for t in times if t > now and math.isfinite(t)]
        return min(later) if later else None

    def reach_at(self, job: Job, level: int, now_s: float) -> float:
        """The instant ``job``, in queue ``level`` now, reaches the threshold below it if it
        runs on (the expression each cycle's wake-up is timed with)."""
        return now_s + (self.thresholds_gpu_s[level] - self.attained(job, now_s)) / job.spec.gpus

    def reach_bound(self, job: Job, level: int) -> float | None:
        """No later than :meth:`reach_at` at any instant of this run (None in the lowest
        queue): the same instant written ``start + (th - base) / gpus``, less a margin far
        above the rounding of either expression (a few ulps of the magnitudes in them)."""
        ths = self.thresholds_gpu_s
        if level >= len(ths):
            return None
        th = ths[level]
        base = job.attained_gpu_s - self._promoted_at.get(job.spec.id, 0.0)
        g = job.spec.gpus
        when = job.start_s + (th - base) / g
        scale = abs(when) + abs(job.start_s) + (th + abs(base)) / g + 1.0
        return when - _REACH_MARGIN * scale

    def _running_wake(self, snap: Snapshot, cohort: str, top: int) -> float:
        """The first instant after now that a preemptible running job of the cohort in
        queue ``top`` or lower reaches the threshold below its queue (inf if none), read
        from the kept index instead of timing every running job."""
        now = snap.now_s
        index = self.victims.cache.of(snap, snap.cohort(cohort))
        return index.first_reach(top, snap.stopped, lambda j, lvl: self.reach_at(j, lvl, now), now)


class PreemptLowerQueues:
    """Victims: preemptible running jobs of the cohort in a strictly lower queue than the
    job, lowest queue first, then the latest submitted (the end of the FIFO order). The
    cohort's candidates are kept sorted between cycles and moved when a job crosses into a
    lower queue (:mod:`gpufleet.policies.kept_levels`); the policy reports its admits."""

    def __init__(
        self, policy: Tiresias, admission: Admission, placement: PlacementStrategy
    ) -> None:
        self.policy = policy
        self.admission = admission
        self.placement = placement
        self.cache = KeptLevels(LevelRule(policy.queue_of, policy.crossing, policy.reach_bound))

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        p, now = self.policy, snap.now_s
        mine = p.queue_of(job, now)
        if mine >= len(p.thresholds_gpu_s):
            return None  # in the lowest queue: nothing is lower
        index = self.cache.of(snap, snap.cohort(job.cohort))
        victims, bound = index.above(snap, job.spec.gpu_types, mine)
        if not bound:
            return None
        return evict_until_fits(snap, job, victims, bound, self.admission, self.placement, decision)

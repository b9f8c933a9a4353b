"""Kueue's preemption, classic and fair-sharing, on one flavor (GPU type) of a cohort.

Sources (kueue.sigs.k8s.io): "Preemption" (docs/concepts/preemption/, sections "Reasons for
preemption", "Preemption algorithms", "Classic Preemption", "Fair Sharing"), "Cluster Queue"
(docs/concepts/cluster_queue/, section "Preemption"). Notation as in
:mod:`gpufleet.policies.basic.quota`; a program q is *borrowing* on type t when
``usage(q, t) > nominal(q, t)``.

**Candidates** for a job j of program Q on type t are running, preemptible jobs on t that
this cycle has not already stopped:

- from Q itself, by ``withinClusterQueue``: ``Never`` none; ``LowerPriority``
  ``prio(v) < prio(j)``; ``LowerOrNewerEqualPriority`` also equal priority submitted after j;
- from another program P of the cohort, only while P is borrowing on t, by
  ``reclaimWithinCohort``: ``Never`` none; ``LowerPriority`` ``prio(v) < prio(j)``; ``Any`` all.

Ordered as below ("Order of candidates"). Non-preemptible jobs (a gpufleet notion) are
never candidates.

**Classic.** Victims are taken in order, skipping a job whose program stopped borrowing
because of earlier victims, until j fits; then, in reverse order, every victim but the last
is put back if j still fits without it (the minimal set). To avoid flapping j may borrow
while preempting only if all candidates are Q's own, or ``borrowWithinCohort`` is
``LowerPriority`` (then other programs' candidates need ``prio(v) < prio(j)`` and
``prio(v) <= maxPriorityThreshold`` unless j stays within nominal); otherwise j must stay
within its nominal quota, and if that fails j may still preempt among Q's own jobs.

**Fair sharing.** The share of q is ``max_t max(0, usage(q,t) - nominal(q,t)) / P_t``
divided by q's weight (0 when q does not borrow; weight 0 and borrowing: infinite), with
``P_t`` the cohort's lendable GPUs. The victim search is Kueue's ``fairPreemptions``
(:mod:`gpufleet.policies.kueue.fair_search`): j counted in Q's share throughout, the
program with the highest share picked anew after every victim, a candidate refused by the
first strategy kept for the second while the same program's next candidate is tried.

**Order of candidates** (Kueue's ``CandidatesOrdering``, pkg/scheduler/preemption/common/
ordering.go): other programs' jobs before Q's, then lower priority, then the most recent
quota reservation first (gpufleet: the latest start), then Kueue compares UIDs, which are
random; gpufleet takes the higher job id (the later submitted) first, one of the orders Kueue
may take. ``LowerOrNewerEqualPriority`` needs v submitted strictly after j (Kueue's
``SatisfiesPreemptionPolicy``: ``preemptorTS.Before(candidateTS)``), so equal times never
preempt each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

from gpufleet.domain.reasons import Reason
from gpufleet.policies.basic.quota import quota_check
from gpufleet.policies.kueue.fair_search import Drs, group, search
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


class WithinClusterQueue(StrEnum):
    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    LOWER_OR_NEWER_EQUAL_PRIORITY = "LowerOrNewerEqualPriority"


class ReclaimWithinCohort(StrEnum):
    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"
    ANY = "Any"


class BorrowWithinCohort(StrEnum):
    NEVER = "Never"
    LOWER_PRIORITY = "LowerPriority"


class FairStrategy(StrEnum):
    LESS_THAN_OR_EQUAL_TO_FINAL_SHARE = "LessThanOrEqualToFinalShare"
    LESS_THAN_INITIAL_SHARE = "LessThanInitialShare"


def place_on(snap: Snapshot, job: Job, t: str) -> Placement | Reason:
    """Best fit on one GPU type: the tightest group of the cohort (BestFit's rule, but for
    the one flavor Kueue assigned, so a shortage here is reported as such)."""
    cap = snap.capacity
    groups = (cap.by_cohort_type.get(job.cohort) or {}).get(t)
    if not groups or not any(cap.groups[g].usable_gpus for g in groups):
        return Reason.NO_GPU_TYPE
    gpus = job.spec.gpus
    best: Placement | None = None
    best_left = 1 << 30
    free = 0
    for gi in groups:
        free += cap.groups[gi].free_total
        if cap.groups[gi].free_total < gpus:
            continue
        slots = cap.fit(gi, gpus)
        if slots is not None and cap.leftover(slots) < best_left:
            best, best_left = Placement(gi, slots), cap.leftover(slots)
    if best is not None:
        return best
    return Reason.FRAGMENTED if free >= gpus else Reason.CAPACITY


def fits(snap: Snapshot, job: Job, t: str, allow_borrow: bool) -> Placement | None:
    """j's quota (quota_check) and GPUs on type t, within nominal unless ``allow_borrow``."""
    q, g = job.program, job.spec.gpus
    if quota_check(q, t, g) is not None:
        return None
    if not allow_borrow and q.usage.get(t, 0) + g > q.nominal(t):
        return None
    pl = place_on(snap, job, t)
    return pl if isinstance(pl, Placement) else None


def borrowing(p: ProgramState, t: str) -> bool:
    return p.usage.get(t, 0) > p.nominal(t)


def share(p: ProgramState, extra: dict[str, int] | None = None) -> float:
    """Kueue's dominant resource share of the module docstring, with ``extra`` GPUs per type
    added to p's usage (negative to take a job away). A program that does not borrow has
    share 0 whatever its weight; one that borrows with weight 0, infinite (Kueue's
    ``PreciseWeightedShare``, pkg/cache/scheduler/fair_sharing.go)."""
    zero_weight, value = drs(p, extra)
    return math.inf if zero_weight else value


def drs(p: ProgramState, extra: dict[str, int] | None = None) -> Drs:
    """The share as :data:`gpufleet.policies.kueue.fair_search.Drs`, ordered as Kueue's
    ``CompareDRS`` orders shares (fair_sharing.go)."""
    worst = 0.0
    for t in p.quotas:
        pool = p.cohort_pool.get(t, 0)
        over = p.usage.get(t, 0) + (extra or {}).get(t, 0) - p.nominal(t)
        if over > 0:
            worst = max(worst, over / pool if pool else math.inf)
    if worst == 0:
        return (0, 0.0)
    if p.weight <= 0:
        return (1, worst)
    return (0, worst / p.weight)


def borrowing_any(p: ProgramState) -> bool:
    """p uses more than its nominal quota of some type (Kueue's ``DRS.IsBorrowing``)."""
    return any(p.usage.get(t, 0) > p.nominal(t) for t in p.quotas)


class KueuePreemptor:
    """Finds victims for one job on one flavor; see the module docstring."""

    def __init__(
        self,
        within: WithinClusterQueue,
        reclaim: ReclaimWithinCohort,
        borrow: BorrowWithinCohort,
        max_priority_threshold: int | None,
        fair: tuple[FairStrategy, ...] | None,
    ) -> None:
        self.within = within
        self.reclaim = reclaim
        self.borrow = borrow
        self.threshold = max_priority_threshold
        self.fair = fair

    def enabled(self) -> bool:
        return (
            self.within is not WithinClusterQueue.NEVER
            or self.reclaim is not ReclaimWithinCohort.NEVER
        )

    # --- candidates -------------------------------------------------------------------
    def candidates(self, snap: Snapshot, job: Job, t: str) -> list[Job]:
        out: list[Job] = []
        stopped = snap.stopped
        for p in snap.cohort(job.cohort).programs:
            if not p.running or (p is not job.program and not borrowing(p, t)):
                continue
            for v in p.running.values():
                if v.spec.id in stopped or not v.spec.preemptible or v.placement is None:
                    continue
                if snap.gpu_type_of(v.placement) == t and self.may_take(job, v):
                    out.append(v)
        out.sort(key=lambda v: _order(job, v))
        return out

    def may_take(self, job: Job, v: Job) -> bool:
        lower = v.spec.priority < job.spec.priority
        if v.program is job.program:
            if self.within is WithinClusterQueue.LOWER_PRIORITY:
                return lower
            if self.within is WithinClusterQueue.LOWER_OR_NEWER_EQUAL_PRIORITY:
                return lower or (v.spec.priority == job.spec.priority and _newer(v, job))
            return False
        if self.reclaim is ReclaimWithinCohort.ANY:
            return True
        return self.reclaim is ReclaimWithinCohort.LOWER_PRIORITY and lower

    # --- classic ----------------------------------------------------------------------
    def classic(self, snap: Snapshot, job: Job, t: str) -> tuple[list[Job], Placement] | None:
        cands = self.candidates(snap, job, t)
        if not cands:
            return None
        own = [v for v in cands if v.program is job.program]
        if len(own) == len(cands):
            return self._minimal(snap, job, t, own, True)
        got: tuple[list[Job], Placement] | None
        if self.borrow is BorrowWithinCohort.LOWER_PRIORITY:
            q = job.program
            if q.usage.get(t, 0) + job.spec.gpus > q.nominal(t):
                cands = [v for v in cands if v.program is q or self.below_threshold(job, v)]
            got = self._minimal(snap, job, t, cands, True)
        else:
            got = self._minimal(snap, job, t, cands, False)
        if got is None and own:
            got = self._minimal(snap, job, t, own, True)
        return got

    def below_threshold(self, job: Job, v: Job) -> bool:
        prio = v.spec.priority
        return prio < job.spec.priority and (self.threshold is None or prio <= self.threshold)

    def _minimal(
        self, snap: Snapshot, job: Job, t: str, cands: list[Job], allow_borrow: bool
    ) -> tuple[list[Job], Placement] | None:
        mark = snap.mark()
        chosen: list[Job] = []
        for v in cands:
            if v.program is not job.program and not borrowing(v.program, t):
                continue  # its program stopped borrowing: no longer a reclaim target
            snap.assume_stop(v)
            chosen.append(v)
            if fits(snap, job, t, allow_borrow) is not None:
                return _fill_back(snap, job, t, mark, chosen, allow_borrow)
        snap.undo_to(mark)
        return None

    # --- fair sharing -----------------------------------------------------------------
    def fair_sharing(
        self, snap: Snapshot, job: Job, t: str, strategies: tuple[FairStrategy, ...]
    ) -> tuple[list[Job], Placement] | None:
        cands = self.candidates(snap, job, t)
        if not cands:
            return None
        mark = snap.mark()
        chosen: list[Job] = []

        def take(v: Job) -> bool:
            snap.assume_stop(v)
            chosen.append(v)
            return fits(snap, job, t, True) is not None

        side = _FlatSide(job, t, cands)
        final_first = strategies[0] is FairStrategy.LESS_THAN_OR_EQUAL_TO_FINAL_SHARE
        q = job.program
        within = q.usage.get(t, 0) + job.spec.gpus <= q.nominal(t)
        if search(side, group(cands, side.key), final_first, len(strategies) > 1, take, within):
            return _fill_back(snap, job, t, mark, chosen, True)
        snap.undo_to(mark)
        return None


class _FlatSide:
    """A flat cohort for :func:`gpufleet.policies.kueue.fair_search.search`: targets are
    programs, j counted in its own program's share (Kueue: ``SimulateUsageAddition``)."""

    def __init__(self, job: Job, t: str, cands: list[Job]) -> None:
        self.job = job
        self.t = t
        self.preemptor = job.program.index
        self.programs = {v.program.index: v.program for v in cands}
        self.programs[self.preemptor] = job.program
        self.extra = {t: job.spec.gpus}

    @staticmethod
    def key(v: Job) -> int:
        return v.program.index

    def _drs(self, x: int) -> Drs:
        return drs(self.programs[x], self.extra if x == self.preemptor else None)

    def next_target(self, queues: dict[int, list[Job]], pruned: set[int]) -> int | None:
        """fairsharing/ordering.go ``nextTarget``: programs that stopped borrowing (but j's)
        or have no candidate left drop out; the highest share wins, a tie going to the
        program whose next candidate comes first in the candidates' order."""
        best, best_drs = -1, (0, -1.0)
        for x, jobs in queues.items():
            if x in pruned:
                continue
            if not jobs or (x != self.preemptor and not borrowing_any(self.programs[x])):
                pruned.add(x)
                continue
            d = self._drs(x)
            if d > best_drs or (
                d == best_drs and _order(self.job, jobs[0]) < _order(self.job, queues[best][0])
            ):
                best, best_drs = x, d
        return best if best >= 0 else None

    def shares(self, x: int) -> tuple[Drs, Drs]:
        return self._drs(self.preemptor), self._drs(x)

    def share_after(self, x: int, v: Job) -> Drs:
        return drs(self.programs[x], {self.t: -v.spec.gpus})


def _newer(v: Job, job: Job) -> bool:
    return v.spec.submit_s > job.spec.submit_s


def _order(job: Job, v: Job) -> tuple[bool, int, float, int]:
    return (v.program is job.program, v.spec.priority, -v.start_s, -v.spec.id)


def _fill_back(
    snap: Snapshot, job: Job, t: str, mark: int, chosen: list[Job], allow_borrow: bool
) -> tuple[list[Job], Placement] | None:
    return fill_back(snap, mark, chosen, lambda: fits(snap, job, t, allow_borrow))


def fill_back(
    snap: Snapshot, mark: int, chosen: list[Job], fit: Callable[[], Placement | None]
) -> tuple[list[Job], Placement] | None:
    """Kueue's second pass: put victims back, last-but-one first, while j still fits
    (``fit``: j's placement with the victims stopped so far, or None)."""
    keep = list(chosen)
    for v in reversed(chosen[:-1]):
        trial = [x for x in keep if x is not v]
        snap.undo_to(mark)
        if _stop_all(snap, trial, lambda: fit() is not None):
            keep = trial
    snap.undo_to(mark)
    for v in keep:
        snap.assume_stop(v)
    pl = fit()
    if pl is None:  # cannot happen: ``keep`` was checked; stay safe and preempt nothing
        snap.undo_to(mark)
        return None
    return keep, pl


def _stop_all(snap: Snapshot, victims: list[Job], ok: Callable[[], bool]) -> bool:
    for v in victims:
        snap.assume_stop(v)
    return ok()

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

Ordered: jobs of other (borrowing) programs first, then lower priority, then the most
recently started. Non-preemptible jobs (a gpufleet notion) are never candidates.

**Classic.** Victims are taken in order, skipping a job whose program stopped borrowing
because of earlier victims, until j fits; then, in reverse order, every victim but the last
is put back if j still fits without it (the minimal set). To avoid flapping j may borrow
while preempting only if all candidates are Q's own, or ``borrowWithinCohort`` is
``LowerPriority`` (then other programs' candidates need ``prio(v) < prio(j)`` and
``prio(v) <= maxPriorityThreshold`` unless j stays within nominal); otherwise j must stay
within its nominal quota, and if that fails j may still preempt among Q's own jobs.

**Fair sharing.** The share of q is ``max_t max(0, usage(q,t) - nominal(q,t)) / P_t``
divided by q's weight (weight 0: infinite), with ``P_t`` the cohort's lendable GPUs.
Repeatedly the program with the highest share gives up its next candidate. A job of Q
itself is taken; another program's job v is taken if the strategy allows, with
``S_final`` Q's share with j admitted: ``LessThanOrEqualToFinalShare``
``S_final <= share(P without v)``; ``LessThanInitialShare`` ``S_final < share(P)``. A program
that fails the strategy drops out; its candidates are retried under the next strategy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

from gpufleet.domain.reasons import Reason
from gpufleet.policies.basic.quota import quota_check
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
    added to p's usage (negative to take a job away)."""
    if p.weight <= 0:
        return math.inf
    worst = 0.0
    for t in p.quotas:
        pool = p.cohort_pool.get(t, 0)
        over = p.usage.get(t, 0) + (extra or {}).get(t, 0) - p.nominal(t)
        if over > 0:
            worst = max(worst, over / pool if pool else math.inf)
    return worst / p.weight


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
        remaining = self.candidates(snap, job, t)
        if not remaining:
            return None
        mark = snap.mark()
        chosen: list[Job] = []
        final = share(job.program, {t: job.spec.gpus})
        for strategy in strategies:
            retry: list[Job] = []
            by_prog: dict[int, list[Job]] = {}
            for v in remaining:
                by_prog.setdefault(v.program.index, []).append(v)
            while by_prog:
                target = max(by_prog.values(), key=lambda vs: _target_key(vs[0].program))
                p = target[0].program
                v = target.pop(0)
                if not target:
                    del by_prog[p.index]
                if p is not job.program:
                    if not borrowing(p, t):
                        by_prog.pop(p.index, None)
                        continue
                    if not _strategy_allows(strategy, final, p, v, t, snap):
                        retry.append(v)
                        retry.extend(by_prog.pop(p.index, []))
                        continue
                snap.assume_stop(v)
                chosen.append(v)
                if fits(snap, job, t, True) is not None:
                    return _fill_back(snap, job, t, mark, chosen, True)
            remaining = sorted(retry, key=lambda v: _order(job, v))
        snap.undo_to(mark)
        return None


def _strategy_allows(
    strategy: FairStrategy, final: float, p: ProgramState, v: Job, t: str, snap: Snapshot
) -> bool:
    if strategy is FairStrategy.LESS_THAN_INITIAL_SHARE:
        return final < share(p)
    return final <= share(p, {t: -v.spec.gpus})


def _target_key(p: ProgramState) -> tuple[float, int]:
    return (share(p), -p.index)


def _newer(v: Job, job: Job) -> bool:
    return (v.spec.submit_s, v.spec.id) > (job.spec.submit_s, job.spec.id)


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

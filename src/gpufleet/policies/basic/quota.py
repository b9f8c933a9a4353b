"""Quotas with borrowing across a cohort, and reclaim, after Kueue's ClusterQueue model.

Notation, per GPU type t and program (ClusterQueue) q in cohort C
(kueue.sigs.k8s.io: concepts "Cluster Queue", "Cohort"; KEP-1224 for lendingLimit):

- ``nominal(q)``, ``usage(q)``; ``lendable(q) = min(lendingLimit(q), nominal(q))`` (all of
  nominal when no lending limit) and ``guaranteed(q) = nominal(q) - lendable(q)``;
- the cohort's shared pool is ``P = sum_q lendable(q)``; a program's usage above its
  guaranteed part draws on the pool: ``drawn(q) = max(0, usage(q) - guaranteed(q))``;
- a job of g GPUs fits q's quota iff ``usage(q) + g <= nominal(q) + borrowingLimit(q)``
  (no bound when unset) and the extra it draws,
  ``max(0, usage(q)+g-guaranteed(q)) - drawn(q)``, is at most ``P - sum_q' drawn(q')``;
- q is *borrowing* when ``usage(q) > nominal(q)``.

Reclaim (Kueue's ``reclaimWithinCohort: Any``): a job that would stay within its program's
nominal quota but cannot start may preempt jobs of programs that are borrowing, lowest
priority first, then most recently started.
"""

from __future__ import annotations

from typing import ClassVar

from gpufleet.domain.reasons import Reason
from gpufleet.policies import ordering
from gpufleet.policies.base import BasePolicy, Decision, PlacementStrategy
from gpufleet.policies.basic.priority import evict_until_fits, newest_first
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


def quota_check(q: ProgramState, t: str, g: int) -> Reason | None:
    """The formulas of the module docstring, in O(1): the cohort's pool and drawn amount
    per type are kept up to date by ``ProgramState.add_usage``. None when the job fits."""
    quota = q.quotas.get(t)
    if quota is None:
        return Reason.QUOTA
    used = q.usage.get(t, 0)
    limit = quota.borrowing_limit_gpus
    if limit is not None and used + g > quota.nominal_gpus + limit:
        return Reason.BORROWING_LIMIT
    guaranteed = q.guaranteed.get(t, 0)
    extra = max(0, used + g - guaranteed) - max(0, used - guaranteed)
    if extra == 0:
        return None
    room = q.cohort_pool.get(t, 0) - q.cohort_drawn.get(t, 0)
    return None if extra <= room else Reason.QUOTA


class CohortQuota:
    """Admission by quota; the program list is the cohort's."""

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        return quota_check(job.program, gpu_type, job.spec.gpus)


class ReclaimBorrowed:
    def __init__(self, admission: CohortQuota, placement: PlacementStrategy) -> None:
        self.admission = admission
        self.placement = placement

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        q = job.program
        within = [
            t for t in job.spec.gpu_types if q.usage.get(t, 0) + job.spec.gpus <= q.nominal(t)
        ]
        if not within:
            return None
        lenders = [
            p
            for p in snap.cohort(job.cohort).programs
            if p is not q and any(p.usage.get(t, 0) > p.nominal(t) for t in within)
        ]
        if not lenders:
            return None  # nobody is borrowing what this job may use: nothing to reclaim
        bound = sum(p.usage.get(t, 0) for p in lenders for t in within)

        def borrowed(v: Job) -> bool:
            if not v.spec.preemptible or v.placement is None:
                return False
            t = snap.gpu_type_of(v.placement)
            return t in within and v.program.usage.get(t, 0) > v.program.nominal(t)

        victims = newest_first(snap, lenders, borrowed)
        return evict_until_fits(snap, job, victims, bound, self.admission, self.placement, decision)


class QuotaBorrowing(BasePolicy):
    """Kueue-style quotas: each program (a ClusterQueue) has nominal GPUs per type, borrows
    unused quota of its cohort within its limits, and takes its quota back by preempting
    borrowers. Programs are visited in rounds; each round tries every program's head job
    (StrictFIFO within a program) with jobs that need no borrowing first, then by priority
    and submit time (Kueue's ordering of heads), until a round admits nothing."""

    name: ClassVar[str] = "quota"
    summary: ClassVar[str] = "Kueue-like nominal quotas, borrowing within a cohort, reclaim"
    shares_between_programs = True

    def __init__(self) -> None:
        admission = CohortQuota()
        placement = BestFit()
        super().__init__(admission, placement, ReclaimBorrowed(admission, placement))

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        programs = snap.cohort(cohort).programs
        streams = {p.index: ordering.program_fifo(p) for p in programs if p.pending}
        heads: dict[int, Job] = {}
        while streams:
            ordering.refill_heads(streams, heads)
            if not heads:
                return
            order = sorted(
                heads.values(),
                key=lambda j: (self._borrows(j), -j.spec.priority, j.spec.submit_s, j.spec.id),
            )
            admitted = False
            for job in order:
                if self.try_start(snap, job, d):
                    del heads[job.program.index]
                    admitted = True
                else:
                    streams.pop(job.program.index, None)
                    del heads[job.program.index]
            if not admitted:
                return

    @staticmethod
    def _borrows(job: Job) -> bool:
        q = job.program
        return all(q.usage.get(t, 0) + job.spec.gpus > q.nominal(t) for t in job.spec.gpu_types)

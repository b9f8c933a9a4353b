"""Best-fit gang placement over the capacity index.

Rule: try the job's allowed GPU types in the job's order; within a type, every site group of
the job's cohort; keep the placement whose last node is left with the fewest free GPUs (best
fit; ties go to the earlier site). A job is all-or-nothing on one (site, type) group: never
split across sites or types. The node-level rule is in :mod:`gpufleet.state.capacity`.
"""

from __future__ import annotations

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import Admission, NoQuota
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


class BestFit:
    def place(self, snap: Snapshot, job: Job, admission: Admission) -> Placement | Reason:
        """Per allowed type: admission (quota) first, then the tightest group. A quota
        refusal outranks a capacity shortage in the reason reported."""
        cap = snap.capacity
        by_type = cap.by_cohort_type.get(job.cohort)
        gpus = job.spec.gpus
        quota_reason: Reason | None = None
        short: Reason | None = None
        any_usable = False
        quotas = type(admission) is not NoQuota  # NoQuota admits all: skip its call
        for t in job.spec.gpu_types:
            groups = by_type.get(t) if by_type else None
            if not groups:
                continue
            why = admission.check(snap, job, t) if quotas else None
            if why is not None:
                quota_reason = quota_reason or why
                any_usable = any_usable or any(cap.groups[g].usable_gpus for g in groups)
                continue
            best: Placement | None = None
            best_left = 1 << 30
            free = 0
            for gi in groups:
                g = cap.groups[gi]
                if g.usable_gpus:
                    any_usable = True
                free += g.free_total
                if g.free_total < gpus:
                    continue
                slots = cap.fit(gi, gpus)
                if slots is not None:
                    left = cap.leftover(slots)
                    if left < best_left:
                        best, best_left = Placement(gi, slots), left
            if best is not None:
                return best
            if short is None:
                short = Reason.FRAGMENTED if free >= gpus else Reason.CAPACITY
        if quota_reason is not None:
            return quota_reason
        if not any_usable:
            return Reason.NO_GPU_TYPE
        return short or Reason.CAPACITY

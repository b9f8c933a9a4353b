"""The schedulers' reasons for a pending job, mapped onto gpufleet's (:class:`Reason`).

Slurm names its reasons in squeue's ``state_reason`` (slurm's ``job_reason_string``;
squeue(1) "JOB REASON CODES"); Kueue writes why a Workload is pending in its
QuotaReserved condition's message (its flavor assigner's words). A reason gpufleet has no
word for (a dependency, a hold, a begin time) maps to None: the job is waiting, but not
for GPUs, and the scheduler's own reason is kept beside it.

A job that waits because the nodes or partition it needs are down or drained is
``CAPACITY_DOWN`` (https://slurm.schedmd.com/job_reason_codes.html: ``NodeDown``, a node
the job needs is down; ``PartitionDown``/``PartitionInactive``, its partition is not
up; ``ReqNodeNotAvail``, a node it needs is unavailable, down or drained, with
``UnavailableNodes:...`` naming them), not ``NO_GPU_TYPE`` (no GPU of the type at all):
the GPUs exist and a repair, not a purchase, frees them. ``ReqNodeNotAvail, May be
reserved for other job`` names nodes held for another job, not down: ``CAPACITY``.
"""

from __future__ import annotations

from gpufleet.domain import Reason

SLURM_EXACT: dict[str, Reason] = {
    "Resources": Reason.CAPACITY,
    "Priority": Reason.BEHIND,
    "ReqNodeNotAvail": Reason.CAPACITY_DOWN,
    "PartitionDown": Reason.CAPACITY_DOWN,
    "PartitionInactive": Reason.CAPACITY_DOWN,
    "NodeDown": Reason.CAPACITY_DOWN,
}
# Association and QOS limits (AssocGrpGRES, AssocGrpGRESMinutes, AssocMaxJobsLimit,
# QOSGrpGRES, QOSMaxGRESPerUser, ...): the job's account or QOS is at its cap
SLURM_QUOTA_PREFIXES = ("Assoc", "QOS")
SLURM_NOT_QUOTA = frozenset({"QOSNotAllowed", "InvalidQOS", "InvalidAccount"})


def slurm_reason(reason: str) -> Reason | None:
    """gpufleet's reason for Slurm's ``reason`` (``ReqNodeNotAvail, UnavailableNodes:...``
    is read by its first word)."""
    head, _, detail = (part.strip() for part in reason.partition(","))
    if head == "ReqNodeNotAvail" and detail.startswith("May be reserved"):
        return Reason.CAPACITY  # busy with (or held for) other jobs, not down
    if head in SLURM_EXACT:
        return SLURM_EXACT[head]
    if head.startswith(SLURM_QUOTA_PREFIXES) and head not in SLURM_NOT_QUOTA:
        return Reason.QUOTA
    return None


# Kueue's flavor assigner's messages (pkg/scheduler/flavorassigner), by the phrase that
# names the cause; the first that appears wins.
KUEUE_PHRASES: tuple[tuple[str, Reason], ...] = (
    ("borrowing limit", Reason.BORROWING_LIMIT),
    ("insufficient unused quota", Reason.QUOTA),
    ("insufficient quota", Reason.QUOTA),
    ("unavailable in ClusterQueue", Reason.NO_GPU_TYPE),
)


def kueue_reason(reason: str, message: str, preempted: bool = False) -> Reason | None:
    """gpufleet's reason for a pending Workload's QuotaReserved=False ``reason`` and
    ``message``; an evicted workload waiting again after preemption is PREEMPTED."""
    if preempted:
        return Reason.PREEMPTED
    for phrase, mapped in KUEUE_PHRASES:
        if phrase in message:
            return mapped
    return None  # Inadmissible (ClusterQueue inactive, namespace not selected, ...)


def pod_reason(message: str) -> Reason | None:
    """An unschedulable pod outside Kueue: the default scheduler's message counts nodes
    per cause; too few free GPUs is ``Insufficient nvidia.com/gpu``."""
    return Reason.CAPACITY if "Insufficient nvidia.com/gpu" in message else None

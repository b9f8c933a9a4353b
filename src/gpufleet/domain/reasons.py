"""Why a job is still pending: the vocabulary the engine, the policies, the simulator's
records and the explanations share. A domain word, so every ring can name it."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a job is still pending: a machine-readable code; ``sentence`` gives the prose.

    Policies report the reasons of the jobs they examine; the engine gives every other
    pending job of a scheduled cohort ``BEHIND`` (see ``Engine.cycle``), refines
    ``NO_GPU_TYPE`` into ``SITE_NOT_READY`` or ``NOT_DELIVERED`` when the cohort has such
    GPUs that are not powered yet, and marks a requeued job ``PREEMPTED`` until the next
    cycle of its cohort looks at it.

    ``CAPACITY_DOWN`` is the live fleet's, never the engine's: a real scheduler says the
    nodes or partition a job needs are down or drained (Slurm's ``ReqNodeNotAvail``,
    ``NodeDown``, ``PartitionDown``). The simulated fleet has no such nodes (a pool is
    delivered and powered, or not yet: ``SITE_NOT_READY``, ``NOT_DELIVERED``), so no
    policy or refinement gives it and the engine's reasons are unchanged."""

    QUOTA = "waiting-for-quota"
    BORROWING_LIMIT = "over-borrowing-limit"
    CAPACITY = "not-enough-ready-capacity"
    NO_GPU_TYPE = "gpu-type-not-available"
    FRAGMENTED = "no-node-fits"
    BEHIND = "blocked-behind-earlier-job"
    SITE_NOT_READY = "site-not-ready"
    NOT_DELIVERED = "gpus-not-delivered"
    PREEMPTED = "preempted-awaiting-cycle"
    NO_TOPOLOGY_DOMAIN = "no-topology-domain"
    HELD_FOR_BACKFILL = "held-for-backfill-reservation"
    CAPACITY_DOWN = "capacity-down"

    @property
    def sentence(self) -> str:
        return _SENTENCES[self]


_SENTENCES = {
    Reason.QUOTA: "its program's quota and the cohort's unused quota are exhausted",
    Reason.BORROWING_LIMIT: "starting it would take its program past its borrowing limit",
    Reason.CAPACITY: "not enough ready GPUs of an allowed type are free in its cohort",
    Reason.NO_GPU_TYPE: "its cohort has no ready GPU of any type the job allows",
    Reason.FRAGMENTED: "enough GPUs are free, but no node has enough of them in one place",
    Reason.BEHIND: "an earlier job ahead of it in the queue is waiting",
    Reason.SITE_NOT_READY: "its GPUs are delivered but their site has no power for them yet",
    Reason.NOT_DELIVERED: "its cohort's GPUs of the types it allows are not delivered yet",
    Reason.PREEMPTED: "it was preempted and waits for the next scheduling cycle",
    Reason.NO_TOPOLOGY_DOMAIN: (
        "enough GPUs are free, but no NVLink domain, rack, block or site its topology "
        "constraint allows has enough free GPUs together"
    ),
    Reason.HELD_FOR_BACKFILL: (
        "it would fit now, but its time limit runs past the reserved start of the top job "
        "of its cohort and it would take GPUs that job needs then (Slurm EASY backfill)"
    ),
    Reason.CAPACITY_DOWN: (
        "the nodes or partition it needs are down or drained: its GPUs exist but cannot "
        "take work now"
    ),
}

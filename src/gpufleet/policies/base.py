"""The seams of a scheduling cycle and the shared admission step.

A cycle is four seams, each a small protocol:

1. **ordering**   which pending jobs to try, in which order (each policy's own loop);
2. **admission**  may this job start now under its quotas? (:class:`Admission`);
3. **placement**  on which GPUs? (:class:`PlacementStrategy`);
4. **preemption** if not, which running jobs could make room? (:class:`Preemption`).

A policy decides on a :class:`~gpufleet.state.snapshot.Snapshot` and returns a
:class:`Decision`; the engine applies it. Every blocked job gets a :class:`Reason`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol

from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


class Reason(StrEnum):
    """Why a job is still pending: a machine-readable code; ``sentence`` gives the prose.

    Policies report the reasons of the jobs they examine; the engine gives every other
    pending job of a scheduled cohort ``BEHIND`` (see ``Engine.cycle``), refines
    ``NO_GPU_TYPE`` into ``SITE_NOT_READY`` or ``NOT_DELIVERED`` when the cohort has such
    GPUs that are not powered yet, and marks a requeued job ``PREEMPTED`` until the next
    cycle of its cohort looks at it."""

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
}


@dataclass
class Decision:
    """What one cycle decided. ``wake_at``: the policy asks to be run again for the
    cohorts of this cycle at that instant even if no event happens (a running job's
    attained service crosses a threshold, a waiting job's starvation limit expires);
    the host marks those cohorts dirty then and runs a cycle. None (the default) asks
    nothing; a later cycle of the same cohorts replaces the request."""

    admit: list[tuple[Job, Placement]] = field(default_factory=list)
    preempt: list[Job] = field(default_factory=list)
    blocked: list[tuple[Job, Reason]] = field(default_factory=list)
    wake_at: float | None = None

    def __bool__(self) -> bool:
        return bool(self.admit or self.preempt)


class Admission(Protocol):
    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        """None if ``job`` may use ``gpu_type`` GPUs now, else the reason it may not."""
        ...


class PlacementStrategy(Protocol):
    def place(self, snap: Snapshot, job: Job, admission: Admission) -> Placement | Reason:
        """GPUs for ``job`` on a type that admission allows, or why there are none."""
        ...


class Preemption(Protocol):
    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        """Tentatively stop victims so ``job`` fits; record them in ``decision``."""
        ...


class Policy(Protocol):
    name: ClassVar[str]
    summary: ClassVar[str]

    def decide(self, snap: Snapshot) -> Decision: ...


class NoQuota:
    """Admission that ignores quotas: only physical capacity limits a job."""

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        return None


class BasePolicy:
    """Shared wiring: decide() schedules every changed cohort with the policy's own loop."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def __init__(
        self,
        admission: Admission,
        placement: PlacementStrategy,
        preemption: Preemption | None = None,
    ) -> None:
        self.admission = admission
        self.placement = placement
        self.preemption = preemption

    def decide(self, snap: Snapshot) -> Decision:
        d = Decision()
        for cohort in snap.dirty_cohorts():
            self.schedule_cohort(snap, cohort.name, d)
        return d

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        raise NotImplementedError

    def try_start(self, snap: Snapshot, job: Job, d: Decision) -> bool:
        """Admission, placement, then preemption if the policy has it."""
        got = self.placement.place(snap, job, self.admission)
        if isinstance(got, Placement):
            snap.assume_start(job, got)
            d.admit.append((job, got))
            return True
        if self.preemption is not None:
            pl = self.preemption.make_room(snap, job, d)
            if pl is not None:
                snap.assume_start(job, pl)
                d.admit.append((job, pl))
                return True
        d.blocked.append((job, got))
        return False

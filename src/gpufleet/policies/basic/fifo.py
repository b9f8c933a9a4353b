"""First-come-first-served policies."""

from __future__ import annotations

from typing import ClassVar

from gpufleet.domain.reasons import Reason
from gpufleet.policies import ordering
from gpufleet.policies.base import BasePolicy, Decision, NoQuota, Refusals
from gpufleet.policies.options import POSITIVE_INT, Options
from gpufleet.policies.placement import BestFit
from gpufleet.state.snapshot import Snapshot


class StrictFifo(BasePolicy):
    """Strict FIFO: the cohort's oldest pending job starts first; while it waits, nothing
    behind it starts (head-of-line blocking, as Kueue's ``StrictFIFO`` queueing strategy)."""

    name: ClassVar[str] = "fifo"
    summary: ClassVar[str] = "strict first-come-first-served; the oldest job blocks the rest"

    def __init__(self) -> None:
        super().__init__(NoQuota(), BestFit())

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        for job in ordering.fifo(snap.cohort(cohort)):
            if not self.try_start(snap, job, d):
                return


class FifoBackfill(BasePolicy):
    """FIFO with backfill: when the oldest job waits, later jobs that fit the free GPUs now
    start ahead of it, looking at most ``backfill_depth`` jobs past it per cycle (Slurm's
    ``bf_max_job_test`` bounds its backfill scan the same way). No reservation is made for
    the waiting head, so large jobs can starve; EASY backfill with reservations is a
    separate policy."""

    name: ClassVar[str] = "fifo-backfill"
    summary: ClassVar[str] = "FIFO; later jobs that fit start while the head waits"
    options: ClassVar[Options] = {"backfill_depth": POSITIVE_INT}

    def __init__(self, backfill_depth: int = 256) -> None:
        super().__init__(NoQuota(), BestFit())
        self.depth = backfill_depth

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        c = snap.cohort(cohort)
        free = _cohort_free(snap, cohort)
        looked = 0
        blocked = False
        # no quota and no preemption: a refusal leaves the snapshot as it was, so until
        # something starts a job of the same GPUs and types fails the same placement
        refused = Refusals()
        for job in ordering.fifo(c):
            if blocked:
                looked += 1
                if free <= 0 or looked > self.depth:
                    return
                if job.spec.gpus > free:
                    d.blocked.append((job, Reason.CAPACITY))
                    continue
            if refused.try_start(self, snap, job, d, (job.spec.gpus, job.spec.gpu_types)):
                free -= job.spec.gpus
            else:
                blocked = True


def _cohort_free(snap: Snapshot, cohort: str) -> int:
    cap = snap.capacity
    return sum(
        cap.groups[g].free_total for gs in cap.by_cohort_type.get(cohort, {}).values() for g in gs
    )

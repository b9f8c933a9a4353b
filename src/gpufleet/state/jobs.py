"""Runtime records: a job's life in the cluster and a program's queue and usage."""

from __future__ import annotations

from collections import OrderedDict
from enum import IntEnum

from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Quota
from gpufleet.state.capacity import Placement


class JobState(IntEnum):
    PENDING = 0
    RUNNING = 1
    DONE = 2


class Job:
    """One job's runtime state. ``remaining_s`` is work left in seconds at reference speed
    on the job's GPU count; ``speed`` is the throughput of the GPU type it runs on.
    ``attained_gpu_s`` is the GPU-seconds it held in runs that ended (Tiresias's attained
    service, lost work included); while it runs, add ``gpus * (now - start_s)``.
    ``restoring_s`` is the wall seconds the current run spends restoring a checkpoint
    before new work (``spec.restore_s`` when it resumed kept progress, else 0)."""

    __slots__ = (
        "attained_gpu_s",
        "cohort",
        "first_start_s",
        "group",
        "lost_gpu_s",
        "owners",
        "placement",
        "preemptions",
        "program",
        "reason",
        "reason_since_s",
        "remaining_s",
        "restoring_s",
        "spec",
        "speed",
        "start_s",
        "state",
        "token",
    )

    def __init__(self, spec: JobSpec, program: ProgramState) -> None:
        self.spec = spec
        self.program = program
        self.cohort = program.cohort
        self.state = JobState.PENDING
        self.placement: Placement | None = None
        self.group = -1  # the capacity group it runs or last ran on
        self.start_s = 0.0
        self.first_start_s = -1.0
        self.speed = 1.0
        self.remaining_s = spec.work_s
        self.restoring_s = 0.0
        self.token = 0
        self.preemptions = 0
        self.lost_gpu_s = 0.0
        self.attained_gpu_s = 0.0
        self.owners: tuple[tuple[int, int], ...] = ()  # (entity index, GPUs on its nodes)
        # why it waits (a domain.reasons.Reason code, "" while none is known or it runs) and
        # since when: the first reason counts from submit, a requeue from the preemption
        self.reason = ""
        self.reason_since_s = spec.submit_s

    @property
    def id(self) -> int:
        return self.spec.id

    @property
    def gpus(self) -> int:
        return self.spec.gpus

    def __repr__(self) -> str:
        return f"Job({self.spec.id}, {self.program.name}, {self.spec.gpus} GPUs, {self.state.name})"


class ProgramState:
    """A program as a queue: pending jobs in arrival order (and by priority level), running
    jobs in start order, and GPUs in use per type against its quotas."""

    __slots__ = (
        "cohort",
        "cohort_drawn",
        "cohort_pool",
        "entity",
        "entity_index",
        "guaranteed",
        "index",
        "job_priority",
        "mixed_priority",
        "name",
        "pending",
        "pending_gpus",
        "priority",
        "quotas",
        "running",
        "running_changes",
        "usage",
        "used_gpus",
        "weight",
    )

    def __init__(
        self,
        index: int,
        name: str,
        entity: str,
        entity_index: int,
        cohort: str,
        weight: float,
        priority: int,
        quotas: dict[str, Quota],
    ) -> None:
        self.index = index
        self.name = name
        self.entity = entity
        self.entity_index = entity_index
        self.cohort = cohort
        self.weight = weight
        self.priority = priority
        self.quotas = quotas
        self.usage: dict[str, int] = {t: 0 for t in quotas}
        self.guaranteed: dict[str, int] = {t: q.guaranteed_gpus for t, q in quotas.items()}
        # the cohort's shared pool per GPU type and how much of it is drawn (Kueue
        # semantics, see gpufleet.policies.basic.quota); shared dicts owned by the cohort
        self.cohort_pool: dict[str, int] = {}
        self.cohort_drawn: dict[str, int] = {}
        self.used_gpus = 0
        self.pending: OrderedDict[int, Job] = OrderedDict()
        # GPUs its pending jobs ask for, by their allowed GPU types (kept by ClusterState's
        # enqueue and start, so a policy reads demand without a scan of the queue)
        self.pending_gpus: dict[tuple[str, ...], int] = {}
        self.running: dict[int, Job] = {}
        # counts starts and stops (ClusterState's): unchanged, ``running`` holds the same
        # runs, so an index kept between cycles can skip the program
        self.running_changes = 0
        self.job_priority: int | None = None
        self.mixed_priority = False  # True once two of its jobs had different priorities

    def add_usage(self, gpu_type: str, delta: int) -> None:
        """The one place quota usage changes, keeping the cohort's drawn amount exact:
        drawn changes by max(0, u + d - g) - max(0, u - g) for guaranteed part g."""
        u = self.usage.get(gpu_type, 0)
        g = self.guaranteed.get(gpu_type, 0)
        d = self.cohort_drawn
        if g == 0 and u >= 0 and u + delta >= 0:  # no guarantee (no quotas): all of it drawn
            d[gpu_type] = d.get(gpu_type, 0) + delta
        else:
            d[gpu_type] = d.get(gpu_type, 0) + max(0, u + delta - g) - max(0, u - g)
        self.usage[gpu_type] = u + delta
        self.used_gpus += delta

    def head(self) -> Job | None:
        for job in self.pending.values():
            return job
        return None

    def nominal(self, gpu_type: str) -> int:
        q = self.quotas.get(gpu_type)
        return q.nominal_gpus if q else 0

    def __repr__(self) -> str:
        return (
            f"ProgramState({self.name}, pending={len(self.pending)}, running={len(self.running)})"
        )

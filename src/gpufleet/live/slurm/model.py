"""What gpufleet reads from Slurm, as frozen dataclasses (times in UTC, durations in
seconds, GPU counts as whole GPUs).

Slurm's names are kept where gpufleet has no better one (``AssocGrpGRES`` stays a string:
mapping reasons onto gpufleet's is the observer's job, not the reader's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class JobState(Enum):
    """A job's state as Slurm names it. The base states come first; Slurm 22.05 prints a
    flag instead of the base state while it is set (``COMPLETING``, ``CONFIGURING``, ...),
    so those are states here too; newer versions list flags beside the base state and the
    reader keeps them in :attr:`SlurmJob.flags`."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    COMPLETING = "COMPLETING"
    CONFIGURING = "CONFIGURING"
    STAGE_OUT = "STAGE_OUT"
    RESIZING = "RESIZING"
    REQUEUED = "REQUEUED"
    REQUEUE_FED = "REQUEUE_FED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    STOPPED = "STOPPED"
    REVOKED = "REVOKED"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"
    SIGNALING = "SIGNALING"

    @property
    def holds_gpus(self) -> bool:
        """The job's GPUs are allocated to it (running, or on their way in or out)."""
        return self in _HOLDING


_HOLDING = frozenset(
    {
        JobState.RUNNING,
        JobState.SUSPENDED,
        JobState.COMPLETING,
        JobState.CONFIGURING,
        JobState.STAGE_OUT,
        JobState.SIGNALING,
    }
)
BASE_JOB_STATES = tuple(JobState)[:12]


class NodeState(Enum):
    """A node's base state; DRAIN, NOT_RESPONDING and the like are flags beside it."""

    IDLE = "IDLE"
    MIXED = "MIXED"
    ALLOCATED = "ALLOCATED"
    DOWN = "DOWN"
    ERROR = "ERROR"
    FUTURE = "FUTURE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class GpuCount:
    """GPUs of one type (``None``: the type was not named, e.g. ``--gres=gpu:2``)."""

    gpu_type: str | None
    count: int


@dataclass(frozen=True)
class GpuAllocation:
    """The GPUs of one node a running job holds, by device index."""

    node: str
    gpu_type: str | None
    indices: tuple[int, ...]


@dataclass(frozen=True)
class SlurmJob:
    job_id: int
    name: str
    user: str
    account: str
    partition: str
    qos: str
    state: JobState
    reason: str  # Slurm's state_reason; "" where Slurm says "None"
    gpus: int  # GPUs asked (running jobs: also held), over all nodes
    gpu_type: str | None
    nodes: tuple[str, ...]
    allocations: tuple[GpuAllocation, ...]
    submit_time: datetime
    start_time: datetime | None  # None until it starts (Slurm's estimate is not a start)
    end_time: datetime | None
    elapsed_s: int | None  # run time so far (running) or in all (finished)
    time_limit_s: int | None  # None: no limit
    priority: int
    flags: tuple[str, ...] = ()
    comment: str = ""
    expected_start: datetime | None = None  # a pending job's start as Slurm plans it


@dataclass(frozen=True)
class SlurmNode:
    name: str
    state: NodeState
    flags: tuple[str, ...]  # DRAIN, NOT_RESPONDING, ...
    reason: str
    reason_set_by: str
    reason_time: datetime | None
    partitions: tuple[str, ...]
    gpus: tuple[GpuCount, ...]
    gpus_used: tuple[GpuCount, ...]
    cpus: int
    cpus_allocated: int

    @property
    def gpu_total(self) -> int:
        return sum(g.count for g in self.gpus)

    @property
    def gpu_used(self) -> int:
        return sum(g.count for g in self.gpus_used)

    @property
    def usable(self) -> bool:
        """Slurm may start new work here: neither down nor drained nor failing."""
        bad_flags = {"DRAIN", "DRAINED", "DRAINING", "NOT_RESPONDING", "FAIL", "MAINTENANCE"}
        return self.state in (NodeState.IDLE, NodeState.MIXED, NodeState.ALLOCATED) and not (
            bad_flags & set(self.flags)
        )


@dataclass(frozen=True)
class TresLimit:
    """One TRES of a limit: ``gres/gpu=4`` is ``TresLimit("gres/gpu", 4)``,
    ``gres/gpu:h100=8`` is ``TresLimit("gres/gpu:h100", 8)``."""

    tres: str
    count: int


@dataclass(frozen=True)
class Association:
    cluster: str
    account: str
    user: str  # "" for the account's own association
    partition: str
    parent: str  # the parent account, for an account's association; "" otherwise
    shares: int | None  # None: "parent" (the user takes its account's share)
    grp_tres: tuple[TresLimit, ...]
    max_tres: tuple[TresLimit, ...]
    grp_jobs: int | None
    max_jobs: int | None
    qos: tuple[str, ...]
    default_qos: str

    def gpu_limit(self, gpu_type: str | None = None) -> int | None:
        """The association's GrpTRES cap on GPUs (of one type if named), None if none."""
        name = "gres/gpu" if gpu_type is None else f"gres/gpu:{gpu_type}"
        return next((t.count for t in self.grp_tres if t.tres == name), None)


@dataclass(frozen=True)
class FairShare:
    """One row of ``sshare -a -l``: an account (user "") or a user in an account."""

    account: str
    user: str
    raw_shares: int | None  # None: "parent"
    norm_shares: float
    raw_usage: int
    norm_usage: float | None
    effective_usage: float
    fairshare: float | None  # Slurm's own factor, 0..1; None on account rows (Fair Tree)
    level_fs: float | None  # inf where the usage is zero


@dataclass(frozen=True)
class PriorityWeights:
    """``PriorityWeight*`` from the configuration (multifactor's formula, Slurm's
    priority_multifactor documentation: priority = sum of weight x factor)."""

    age: int
    assoc: int
    fairshare: int
    job_size: int
    partition: int
    qos: int
    tres: tuple[TresLimit, ...]


@dataclass(frozen=True)
class SchedulerConfig:
    """The scheduler's parameters, with Slurm's documented defaults where unset
    (slurm.conf(5), SchedulerParameters)."""

    scheduler_type: str
    parameters: Mapping[str, str]
    sched_interval_s: int  # main scheduler's periodic pass; default 60
    bf_interval_s: int  # backfill pass; default 30
    bf_max_job_test: int  # default 500 (22.05)
    bf_resolution_s: int  # default 60
    bf_window_min: int  # default 1440


@dataclass(frozen=True)
class SlurmConfig:
    cluster: str
    version: str
    priority_type: str
    weights: PriorityWeights
    decay_half_life_s: int | None  # None: no decay
    calc_period_s: int
    max_age_s: int
    favor_small: bool
    priority_flags: tuple[str, ...]
    scheduler: SchedulerConfig
    select_type: str
    enforce: tuple[str, ...]  # AccountingStorageEnforce
    raw: Mapping[str, str] = field(repr=False)

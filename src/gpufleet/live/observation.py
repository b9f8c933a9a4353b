"""One observation of the live fleet, as frozen dataclasses: what the register says is
there, what the schedulers and the GPU telemetry see, and what is waiting.

Counts are whole GPUs. ``None`` means unknown: the source that would tell failed (its
failure is in :attr:`Observation.failures`) or was not asked.

Per entity, site and GPU type (:class:`Capacity`, the GPUs an entity holds)::

    seen        = up + down + drained         GPUs the schedulers list on mapped nodes
    up          = allocated_up + unallocated  on nodes that take work
    allocated   = busy + idle + unmeasured    held by running jobs (on any node)
    stranded    = down + drained + not_seen   registered or listed, and not usable
    not_seen    = max(0, registered - seen)

Per program using GPUs (:class:`Usage`): allocated, busy, idle, on whose GPUs (the
holding entity), where. Per program waiting (:class:`Demand`): GPUs asked by pending jobs
with gpufleet's reason and the scheduler's own. Per program, the GPU caps in force
(:class:`QuotaInForce`), for comparing with the plan's quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gpufleet.domain import EntityId, GpuTypeName, PoolId, ProgramId, Reason, SiteId


@dataclass(frozen=True)
class Registered:
    """What the register says an entity holds at a site, of one GPU type."""

    entity: EntityId
    site: SiteId
    gpu_type: GpuTypeName
    gpus: int


@dataclass(frozen=True)
class SourceFailure:
    """A source that failed this time: which (``slurm``, ``prometheus``, ``kubernetes``),
    what was asked, and the error's message."""

    source: str
    asked: str
    error: str


@dataclass(frozen=True)
class Unmapped:
    """A name a source reported that the mapping file does not place; its GPUs are not
    counted where a place is needed (``kind``: account, namespace, node, GPU type,
    hostname)."""

    kind: str
    name: str
    source: str
    gpus: int


@dataclass(frozen=True)
class DownNode:
    scheduler: str
    node: str
    entity: EntityId
    site: SiteId
    pool: PoolId
    gpu_type: GpuTypeName
    gpus: int
    state: str  # "down" or "drained"
    reason: str  # the scheduler's


@dataclass(frozen=True)
class Capacity:
    entity: EntityId
    site: SiteId
    gpu_type: GpuTypeName
    registered: int
    seen: int | None
    up: int | None
    down: int | None
    drained: int | None
    allocated: int | None
    unallocated: int | None
    busy: int | None  # allocated, utilisation >= the threshold
    idle: int | None  # allocated, utilisation below it
    unmeasured: int | None  # allocated, no telemetry for the GPU
    unscheduled: int | None  # reported by DCGM on nodes no scheduler lists

    @property
    def not_seen(self) -> int | None:
        return None if self.seen is None else max(0, self.registered - self.seen)

    @property
    def stranded(self) -> int | None:
        if self.down is None or self.drained is None or self.not_seen is None:
            return None
        return self.down + self.drained + self.not_seen


@dataclass(frozen=True)
class Usage:
    """GPUs a program holds on one entity's GPUs at one site, of one type."""

    entity: EntityId | None  # the program's entity (None: its account is unmapped)
    program: ProgramId | None
    holder: EntityId  # whose GPUs
    site: SiteId
    gpu_type: GpuTypeName
    allocated: int
    busy: int | None
    idle: int | None
    unmeasured: int | None


@dataclass(frozen=True)
class Demand:
    """GPUs asked by a program's pending jobs, for one GPU type and one of gpufleet's
    reasons (None: waiting for something that is not GPUs, see ``scheduler_reasons``)."""

    entity: EntityId | None
    program: ProgramId | None
    gpu_type: GpuTypeName | None  # None: the jobs name no type, or an unmapped one
    reason: Reason | None
    scheduler_reasons: tuple[str, ...]
    gpus: int
    jobs: int


@dataclass(frozen=True)
class QuotaInForce:
    """A GPU cap the scheduler enforces now on a program: a Slurm account's GrpTRES
    (``gres/gpu=4``, or ``gres/gpu:h100=8`` for one type), a Kueue ClusterQueue's nominal
    quota of one flavor. ``gpus`` None: the account has no GPU cap."""

    scheduler: str
    scope: str  # "account xai", "ClusterQueue xai-cq flavor h100"
    entity: EntityId | None
    program: ProgramId | None
    gpu_type: GpuTypeName | None  # None: all types (Slurm's gres/gpu)
    gpus: int | None
    borrowing_limit: int | None = None  # Kueue: how far past nominal it may borrow


@dataclass(frozen=True)
class Observation:
    at: datetime
    busy_threshold_pct: float
    capacity: tuple[Capacity, ...]
    usage: tuple[Usage, ...]
    demand: tuple[Demand, ...]
    down_nodes: tuple[DownNode, ...]
    unmapped: tuple[Unmapped, ...]
    failures: tuple[SourceFailure, ...]
    quotas: tuple[QuotaInForce, ...] = ()

    def capacity_of(self, entity: str, site: str, gpu_type: str) -> Capacity | None:
        key = (entity, site, gpu_type)
        return next((c for c in self.capacity if (c.entity, c.site, c.gpu_type) == key), None)

    def demand_of(self, program: str) -> tuple[Demand, ...]:
        return tuple(d for d in self.demand if d.program == program)

    def usage_of(self, program: str) -> tuple[Usage, ...]:
        return tuple(u for u in self.usage if u.program == program)

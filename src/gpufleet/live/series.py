"""Observations as stored samples: what :mod:`gpufleet.live.store` writes and reads back.

A :class:`Sample` is one observation instant (tier ``raw``) or the merge of several
(a downsampled tier, :mod:`gpufleet.live.retention`). It stands for ``span_s`` seconds:
a raw sample for the interval at which observations are taken (``gpufleet observe
--every``), a downsampled one for the sum of the raw spans it merges. Counts are floats:
a raw sample's are whole GPUs, a downsampled one's are span-weighted means, so that
``count x span_s`` (GPU-seconds) is the same before and after downsampling. ``None`` is
unknown, as in :class:`~gpufleet.live.observation.Observation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gpufleet.domain import Reason
from gpufleet.live.observation import Capacity, Demand, DownNode, Observation, QuotaInForce, Usage

RAW = "raw"

CAPACITY_FIELDS = (
    "registered",
    "seen",
    "up",
    "down",
    "drained",
    "allocated",
    "unallocated",
    "busy",
    "idle",
    "unmeasured",
    "unscheduled",
    "stranded",
)
USAGE_FIELDS = ("allocated", "busy", "idle", "unmeasured")


@dataclass(frozen=True)
class CapacityPoint:
    """:class:`~gpufleet.live.observation.Capacity` of one sample (``stranded`` stored)."""

    entity: str
    site: str
    gpu_type: str
    registered: float
    seen: float | None
    up: float | None
    down: float | None
    drained: float | None
    allocated: float | None
    unallocated: float | None
    busy: float | None
    idle: float | None
    unmeasured: float | None
    unscheduled: float | None
    stranded: float | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.entity, self.site, self.gpu_type)

    @property
    def in_use(self) -> float | None:
        """Allocated GPUs measured busy; None where no telemetry was read (a GPU without a
        sample is neither in use nor idle: :attr:`unknown_use`)."""
        return self.busy

    @property
    def wasted_idle(self) -> float | None:
        """Idle GPUs: up and unallocated (idle whatever the telemetry says: no job holds
        them), plus allocated but measured below the busy threshold. None where the
        schedulers' counts are unknown."""
        if self.unallocated is None:
            return None
        return self.unallocated + (self.idle or 0.0)

    @property
    def unknown_use(self) -> float | None:
        """Allocated GPUs whose use is not known, counted neither in use nor idle: those
        without a DCGM sample (``unmeasured``), or all of them where no telemetry was
        read. None where the schedulers' counts are unknown."""
        if self.allocated is None:
            return None
        return self.unmeasured if self.busy is not None else self.allocated


@dataclass(frozen=True)
class UsagePoint:
    entity: str | None
    program: str | None
    holder: str
    site: str
    gpu_type: str
    allocated: float
    busy: float | None
    idle: float | None
    unmeasured: float | None

    @property
    def key(self) -> tuple[str | None, str | None, str, str, str]:
        return (self.entity, self.program, self.holder, self.site, self.gpu_type)


@dataclass(frozen=True)
class DemandPoint:
    entity: str | None
    program: str | None
    gpu_type: str | None
    reason: Reason | None
    scheduler_reasons: tuple[str, ...]
    gpus: float
    jobs: float

    @property
    def key(self) -> tuple[str | None, str | None, str | None, Reason | None]:
        return (self.entity, self.program, self.gpu_type, self.reason)


@dataclass(frozen=True)
class QuotaPoint:
    scheduler: str
    scope: str
    entity: str | None
    program: str | None
    gpu_type: str | None
    gpus: float | None
    borrowing_limit: float | None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.scheduler, self.scope, self.gpu_type)


@dataclass(frozen=True)
class DownNodePoint:
    """A node down or drained for ``span_s`` seconds of the sample."""

    scheduler: str
    node: str
    entity: str
    site: str
    pool: str
    gpu_type: str
    gpus: int
    state: str
    reason: str
    span_s: float

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.scheduler, self.node, self.gpu_type, self.state, self.reason)


@dataclass(frozen=True)
class UnmappedPoint:
    kind: str
    name: str
    source: str
    gpus: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.source)


@dataclass(frozen=True)
class FailurePoint:
    """A source that failed in ``count`` of the sample's observations."""

    source: str
    asked: str
    error: str
    count: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.asked, self.error)


@dataclass(frozen=True)
class Sample:
    at: datetime  # UTC; the instant (raw) or the bucket's start
    tier: str
    span_s: float
    samples: int  # raw observations merged
    busy_threshold_pct: float
    capacity: tuple[CapacityPoint, ...]
    usage: tuple[UsagePoint, ...]
    demand: tuple[DemandPoint, ...]
    quotas: tuple[QuotaPoint, ...]
    down_nodes: tuple[DownNodePoint, ...]
    unmapped: tuple[UnmappedPoint, ...]
    failures: tuple[FailurePoint, ...]

    @property
    def end(self) -> datetime:
        return self.at + timedelta(seconds=self.span_s)


def utc(at: datetime) -> datetime:
    """``at`` as an aware UTC instant (a naive one is taken as UTC, as SQLite returns it)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _capacity(c: Capacity) -> CapacityPoint:
    return CapacityPoint(
        c.entity,
        c.site,
        c.gpu_type,
        c.registered,
        c.seen,
        c.up,
        c.down,
        c.drained,
        c.allocated,
        c.unallocated,
        c.busy,
        c.idle,
        c.unmeasured,
        c.unscheduled,
        c.stranded,
    )


def _usage(u: Usage) -> UsagePoint:
    return UsagePoint(
        u.entity, u.program, u.holder, u.site, u.gpu_type, u.allocated, u.busy, u.idle, u.unmeasured
    )


def _demand(d: Demand) -> DemandPoint:
    return DemandPoint(
        d.entity, d.program, d.gpu_type, d.reason, d.scheduler_reasons, d.gpus, d.jobs
    )


def _quota(q: QuotaInForce) -> QuotaPoint:
    return QuotaPoint(
        q.scheduler, q.scope, q.entity, q.program, q.gpu_type, q.gpus, q.borrowing_limit
    )


def _down(n: DownNode, span_s: float) -> DownNodePoint:
    return DownNodePoint(
        n.scheduler, n.node, n.entity, n.site, n.pool, n.gpu_type, n.gpus, n.state, n.reason, span_s
    )


def sample_of(obs: Observation, span_s: float) -> Sample:
    """One observation as a raw sample standing for ``span_s`` seconds."""
    if not span_s > 0:
        raise ValueError(f"span_s must be positive, got {span_s}")
    return Sample(
        at=utc(obs.at),
        tier=RAW,
        span_s=span_s,
        samples=1,
        busy_threshold_pct=obs.busy_threshold_pct,
        capacity=tuple(_capacity(c) for c in obs.capacity),
        usage=tuple(_usage(u) for u in obs.usage),
        demand=tuple(_demand(d) for d in obs.demand),
        quotas=tuple(_quota(q) for q in obs.quotas),
        down_nodes=tuple(_down(n, span_s) for n in obs.down_nodes),
        unmapped=tuple(UnmappedPoint(u.kind, u.name, u.source, u.gpus) for u in obs.unmapped),
        failures=tuple(FailurePoint(f.source, f.asked, f.error, 1) for f in obs.failures),
    )

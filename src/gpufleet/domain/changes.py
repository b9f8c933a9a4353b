"""Changes between parties over time: transfers (or leases) of GPUs and quota changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gpufleet.domain.ids import EntityId, GpuTypeName, PoolId, ProgramId, SiteId


@dataclass(frozen=True)
class Transfer:
    """``gpus`` GPUs of ``pool`` move from ``from_entity`` to ``to_entity`` at ``start``
    (until ``end``, a lease, or for good). Ownership of whole nodes moves; the receiving
    program's nominal quota grows and the giving program's shrinks by the same amount.
    ``to_site`` ships the nodes to another site (the article's case: rerouted delivery)."""

    name: str
    pool: PoolId
    gpus: int
    from_entity: EntityId
    to_entity: EntityId
    from_program: ProgramId
    to_program: ProgramId
    start: datetime
    end: datetime | None = None
    price_usd: float = 0.0
    to_site: SiteId | None = None


@dataclass(frozen=True)
class QuotaChange:
    """From ``at`` on, ``program``'s quota for ``gpu_type`` is the given one."""

    at: datetime
    program: ProgramId
    gpu_type: GpuTypeName
    nominal_gpus: int
    borrowing_limit_gpus: int | None = None
    lending_limit_gpus: int | None = None

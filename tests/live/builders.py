"""Small hand-made observations for the store and findings tests (one entity's pool at a
time, every count named)."""

from __future__ import annotations

from datetime import UTC, datetime

from gpufleet.domain import EntityId, GpuTypeName, PoolId, ProgramId, Reason, SiteId
from gpufleet.live.observation import (
    Capacity,
    Demand,
    DownNode,
    Observation,
    QuotaInForce,
    SourceFailure,
    Usage,
)

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def cap(
    entity: str,
    site: str,
    gpu_type: str,
    registered: int,
    *,
    up: int | None = 0,
    down: int | None = 0,
    allocated: int | None = 0,
    busy: int | None = 0,
    idle: int | None = 0,
    unallocated: int | None = None,
) -> Capacity:
    """A capacity row: seen = up + down (nothing drained, nothing unmeasured)."""
    known = None not in (up, down)
    free = unallocated if unallocated is not None or up is None else up - (allocated or 0)
    return Capacity(
        EntityId(entity),
        SiteId(site),
        GpuTypeName(gpu_type),
        registered,
        seen=(up or 0) + (down or 0) if known else None,
        up=up,
        down=down,
        drained=0 if known else None,
        allocated=allocated,
        unallocated=free,
        busy=busy,
        idle=idle,
        unmeasured=0 if busy is not None else None,
        unscheduled=0 if known else None,
    )


def pending(
    entity: str, program: str, gpu_type: str, gpus: int, reason: Reason, said: str
) -> Demand:
    return Demand(
        EntityId(entity), ProgramId(program), GpuTypeName(gpu_type), reason, (said,), gpus, 1
    )


def down_node(node: str, entity: str, site: str, pool: str, gpu_type: str, gpus: int) -> DownNode:
    return DownNode(
        "slurm",
        node,
        EntityId(entity),
        SiteId(site),
        PoolId(pool),
        GpuTypeName(gpu_type),
        gpus,
        "down",
        "no power",
    )


def observation(
    at: datetime = T0,
    capacity: tuple[Capacity, ...] = (),
    demand: tuple[Demand, ...] = (),
    down: tuple[DownNode, ...] = (),
    usage: tuple[Usage, ...] = (),
    quotas: tuple[QuotaInForce, ...] = (),
    failures: tuple[SourceFailure, ...] = (),
) -> Observation:
    return Observation(at, 10.0, capacity, usage, demand, down, (), failures, quotas)

"""What the register's plan says about the live fleet at an instant: the GPUs each entity
holds per site and type (the ``registered`` side of an observation), and the quotas in
force (for drift). Scenario instants are naive UTC; live instants are aware."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from gpufleet.domain import EntityId, GpuTypeName, SiteId
from gpufleet.domain.scenario import Scenario
from gpufleet.live.observation import Registered
from gpufleet.planning.allocation import Allocation, allocation_at


def naive_utc(at: datetime) -> datetime:
    """``at`` as the naive UTC instant scenarios use."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def registered_at(plan: Scenario, at: datetime) -> tuple[Registered, ...]:
    """GPUs of the pools each entity owns, delivered at or before ``at``, per site and
    type (a transfer moves quota, not ownership: the owner's GPUs stay registered with
    it, wherever a lease runs them)."""
    when = naive_utc(at)
    gpus: dict[tuple[EntityId, SiteId, GpuTypeName], int] = defaultdict(int)
    for p in plan.pools:
        if p.delivered <= when:
            gpus[(p.owner, p.site, p.gpu_type)] += p.gpu_count
    return tuple(Registered(e, s, t, n) for (e, s, t), n in sorted(gpus.items()))


def plan_allocation(plan: Scenario, at: datetime) -> Allocation | None:
    """The plan's allocation in force at ``at``; None when the plan does not cover it."""
    when = naive_utc(at)
    if not plan.start <= when <= plan.end:
        return None
    return allocation_at(plan, when)

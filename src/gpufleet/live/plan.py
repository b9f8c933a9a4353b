"""What the register's plan says about the live fleet at an instant: the GPUs each entity
holds per site and type (the ``registered`` side of an observation), and the quotas in
force (for drift), read from the register (:func:`read_register`). Scenario instants are
naive UTC; live instants are aware."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.domain import EntityId, GpuTypeName, SiteId
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.store.models import EntityRow, GroupRules, Plan, ProgramRow
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


@dataclass(frozen=True)
class RegisterView:
    """What the live ring reads of the register: the plan, its entities' and programs'
    names, each entity's group (related entities share one) and each program's entity."""

    plan: Scenario
    entities: frozenset[str]
    programs: frozenset[str]
    groups: Mapping[str, str | None]
    program_entities: Mapping[str, str]


def read_register(s: Session) -> RegisterView:
    """The register's plan and names; an empty register is bad input saying how to fill
    it (observations are counted against what the register says)."""
    if s.get(Plan, 1) is None:
        raise InputError(
            "the register is empty: there is no plan to observe against "
            "(expected `gpufleet db seed SCENARIO [--governance FILE]` first)"
        )
    plan = plan_scenario(s)
    group_names = {g.id: g.name for g in s.execute(select(GroupRules)).scalars()}
    entities = list(s.execute(select(EntityRow)).scalars())
    groups = {e.name: group_names.get(e.group_id) if e.group_id else None for e in entities}
    names = {e.id: e.name for e in entities}
    owners = {
        name: names[entity_id]
        for name, entity_id in s.execute(select(ProgramRow.name, ProgramRow.entity_id)).all()
    }
    return RegisterView(plan, frozenset(groups), frozenset(owners), groups, owners)

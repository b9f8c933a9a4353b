"""The rules' inputs read from the register: a transfer row -> :class:`rules.Case`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.domain.gpus import default_catalog
from gpufleet.errors import InputError, NotFoundError
from gpufleet.governance.store.models import (
    Approval,
    EntityRow,
    GroupRules,
    PersonRole,
    PersonRow,
    Plan,
    Pool,
    RoleKind,
    Run,
    TransferRow,
)
from gpufleet.governance.transfers import rules, terms


def rules_of(g: GroupRules | None) -> rules.Rules | None:
    if g is None:
        return None
    return rules.Rules(
        g.related_threshold_usd, g.independent_approvals, g.require_assessment,
        g.flag_below_fair_value,
    )  # fmt: skip


def catalog_price_usd(s: Session, gpu_type: str) -> float:
    """The price of a GPU type: the plan's own ``gpu_types`` first, then the catalog."""
    plan = s.get(Plan, 1)
    for g in (plan.doc.get("gpu_types") or []) if plan else []:
        if g.get("name") == gpu_type:
            return float(g.get("price_usd", 0.0))
    try:
        return default_catalog().get(gpu_type).price_usd
    except InputError:
        return 0.0


def transfer_value_usd(s: Session, t: TransferRow) -> float:
    """``gpus x`` the pool's value per GPU (see :func:`rules.gpu_value_usd`)."""
    pool = s.get(Pool, t.pool_id)
    if pool is None:
        raise NotFoundError("pool", t.pool_id)
    per_gpu = rules.gpu_value_usd(
        pool.value_usd, pool.nodes, pool.gpus_per_node, catalog_price_usd(s, pool.gpu_type)
    )
    return t.gpus * per_gpu


def assessment_charge(s: Session, t: TransferRow) -> dict[str, Any] | None:
    """The charge its assessment computed (fair_usd, price_usd, rule...), if assessed."""
    if t.assessment_run_id is None:
        return None
    run = s.get(Run, t.assessment_run_id)
    if run is None or not run.result:
        return None
    charge = run.result.get("charge")
    return charge if isinstance(charge, dict) else None


def case_of(s: Session, t: TransferRow, people_ids: Iterable[int] = ()) -> rules.Case:
    """The case of transfer ``t``: its parties and their groups, value, rules, decisions,
    fair value, and the people concerned: everyone with a role in either party or in an
    entity of their groups, the requester, and ``people_ids`` (someone about to decide).
    ``frozen`` is the case as it stood at the request (``t.terms``): the rules apply both
    and the stricter holds."""
    current = current_case(s, t, people_ids)
    if t.terms is None:
        return current
    return replace(current, frozen=terms.thaw(t.terms))


def entity_scope(ents: Mapping[int, EntityRow], t: TransferRow) -> set[int]:
    """The entities whose people the rules look at for ``t``: its two parties and every
    entity of their groups (``ents``: every entity by id)."""
    parties = (t.from_entity_id, t.to_entity_id)
    groups = {ents[e].group_id for e in parties} - {None}
    return {*parties} | {e.id for e in ents.values() if e.group_id in groups}


def current_case(s: Session, t: TransferRow, people_ids: Iterable[int] = ()) -> rules.Case:
    """The case of ``t`` from the register as it is now (no frozen terms)."""
    ents = {e.id: e for e in s.scalars(select(EntityRow))}
    groups = {g.id: g for g in s.scalars(select(GroupRules))}

    def group(eid: int) -> GroupRules | None:
        gid = ents[eid].group_id
        return groups.get(gid) if gid is not None else None

    def party(eid: int) -> rules.Party:
        g = group(eid)
        return rules.Party(ents[eid].name, g.name if g else None)

    scope = entity_scope(ents, t)
    in_scope = s.scalars(select(PersonRole.person_id).where(PersonRole.entity_id.in_(scope)))
    ids = {*in_scope, t.requested_by, *people_ids}
    people = []
    for p in s.scalars(select(PersonRow).where(PersonRow.id.in_(ids)).order_by(PersonRow.id)):
        roles = tuple(
            rules.Role(ents[r.entity_id].name, RoleKind(r.role), party(r.entity_id).group)
            for r in s.scalars(
                select(PersonRole).where(PersonRole.person_id == p.id).order_by(PersonRole.id)
            )
        )
        people.append(rules.Person(p.id, p.name, roles))
    decisions = tuple(
        rules.Vote(a.person_id, a.decision)
        for a in s.scalars(select(Approval).where(Approval.transfer_id == t.id))
    )
    charge = assessment_charge(s, t)
    return rules.Case(
        giver=party(t.from_entity_id),
        taker=party(t.to_entity_id),
        value_usd=transfer_value_usd(s, t),
        rules=rules.rules_for(rules_of(group(t.from_entity_id)), rules_of(group(t.to_entity_id))),
        people=tuple(people),
        requester_id=t.requested_by,
        decisions=decisions,
        price_usd=t.price_usd,
        fair_usd=float(charge["fair_usd"]) if charge else None,
    )


def verdict(s: Session, t: TransferRow) -> rules.Verdict:
    """The rules' verdict on ``t`` now (for showing who may still approve)."""
    return rules.evaluate(case_of(s, t))

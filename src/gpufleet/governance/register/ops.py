"""Writing the register: create, update (a partial patch) and delete each kind of object.

Every write runs inside a :class:`~gpufleet.governance.store.db.Tx` and

1. checks its body against the strict model of its kind (:mod:`.bodies`);
2. resolves the names it refers to (a pool's site and owner, ...), naming the field of a
   missing one;
3. applies the change and appends one audit record with the row before and after;
4. re-validates the whole plan through the scenario loader (:func:`.plan.plan_scenario`)
   when the register has a plan header, so a change that breaks the plan fails with the
   loader's own problems and, the transaction rolling back, leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.errors import ConflictError, InputError, NotFoundError, Problem, ScenarioError
from gpufleet.governance.register import bodies
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.db import Tx
from gpufleet.governance.store.models import (
    Base,
    EntityRow,
    GroupRules,
    PersonRole,
    PersonRow,
    Plan,
    Pool,
    ProgramRow,
    QuotaRow,
    SiteRow,
    TransferRow,
)


def iso(v: date | datetime | None) -> str | None:
    """A date as a scenario file writes it: ``2024-06-15``, or a full ISO time."""
    if v is None:
        return None
    if isinstance(v, datetime) and v.tzinfo is None and v.time() == time():
        v = v.date()  # a naive midnight is that day; with an offset it is an instant
    return v.isoformat()


def parse_body(model: type[BaseModel], data: object, where: str) -> Any:
    """Validate a body; every problem names its field, what was wrong and the type expected."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [
            Problem(
                ".".join(str(x) for x in err["loc"]) or where,
                err["msg"],
                str(err.get("ctx", {}).get("expected", "")),
                where,
            )
            for err in e.errors()
        ]
        raise InputError(f"{where}: {len(problems)} problem(s) in the body", problems) from None


def _named(s: Session, model: Any, name: str) -> Any:
    return s.scalars(select(model).where(model.name == name)).first()


def by_name(s: Session, model: Any, name: str, kind: str) -> Any:
    row = _named(s, model, name)
    if row is None:
        raise NotFoundError(kind, name)
    return row


def _ref(s: Session, model: Any, name: str, field: str, kind: str) -> Any:
    row = _named(s, model, name)
    if row is None:
        names = sorted(s.scalars(select(model.name)).all())
        raise InputError(
            f"{field}: no {kind} named {name!r}",
            [
                Problem(
                    field, f"no {kind} named {name!r}", f"one of: {', '.join(names) or '(none)'}"
                )
            ],
        )
    return row


# --- each kind: body -> row fields, and row -> body ------------------------------------


def _site_fields(s: Session, b: bodies.SiteIn) -> dict[str, Any]:
    d = b.model_dump(mode="json")
    d["ready"] = [{**r, "date": iso(x.date)} for r, x in zip(d["ready"], b.ready, strict=True)]
    return d


def _site_body(s: Session, r: SiteRow) -> dict[str, Any]:
    return {
        "name": r.name,
        "description": r.description,
        "power_kw": r.power_kw,
        "pue": r.pue,
        "electricity_usd_per_kwh": r.electricity_usd_per_kwh,
        "ready": r.ready,
    }


def _group_fields(s: Session, b: bodies.GroupBody) -> dict[str, Any]:
    return b.model_dump()


def _group_body(s: Session, r: GroupRules) -> dict[str, Any]:
    return {k: getattr(r, k) for k in bodies.GroupBody.model_fields}


def _entity_fields(s: Session, b: bodies.EntityBody) -> dict[str, Any]:
    group = _ref(s, GroupRules, b.group, "group", "group").id if b.group else None
    return {"name": b.name, "description": b.description, "cohort": b.cohort, "group_id": group}


def _entity_body(s: Session, r: EntityRow) -> dict[str, Any]:
    g = s.get(GroupRules, r.group_id) if r.group_id else None
    return {
        "name": r.name,
        "description": r.description,
        "cohort": r.cohort,
        "group": g.name if g else None,
    }


def _program_fields(s: Session, b: bodies.ProgramBody) -> dict[str, Any]:
    return {
        "name": b.name,
        "entity_id": _ref(s, EntityRow, b.entity, "entity", "entity").id,
        "description": b.description,
        "weight": b.weight,
        "priority": b.priority,
        "milestone": b.milestone.model_dump(mode="json") if b.milestone else None,
        "workload": (
            b.workload.model_dump(mode="json", exclude_defaults=True) if b.workload else None
        ),
    }


def _program_body(s: Session, r: ProgramRow) -> dict[str, Any]:
    e = s.get(EntityRow, r.entity_id)
    return {
        "name": r.name,
        "entity": e.name if e else None,
        "description": r.description,
        "weight": r.weight,
        "priority": r.priority,
        "milestone": r.milestone,
        "workload": r.workload,
    }


def _quota_fields(s: Session, b: bodies.QuotaBody) -> dict[str, Any]:
    return {
        "program_id": _ref(s, ProgramRow, b.program, "program", "program").id,
        "gpu_type": b.gpu_type,
        "effective": iso(b.effective),
        "nominal": b.nominal,
        "borrowing_limit": b.borrowing_limit,
        "lending_limit": b.lending_limit,
    }


def _quota_body(s: Session, r: QuotaRow) -> dict[str, Any]:
    p = s.get(ProgramRow, r.program_id)
    return {
        "id": r.id,
        "program": p.name if p else None,
        "gpu_type": r.gpu_type,
        "effective": r.effective,
        "nominal": r.nominal,
        "borrowing_limit": r.borrowing_limit,
        "lending_limit": r.lending_limit,
    }


def _pool_fields(s: Session, b: bodies.PoolIn) -> dict[str, Any]:
    d = b.model_dump(mode="json")
    d["site_id"] = _ref(s, SiteRow, d.pop("site"), "site", "site").id
    d["owner_id"] = _ref(s, EntityRow, d.pop("owner"), "owner", "entity").id
    d["delivered"] = iso(b.delivered)
    return d


def _pool_body(s: Session, r: Pool) -> dict[str, Any]:
    site, owner = s.get(SiteRow, r.site_id), s.get(EntityRow, r.owner_id)
    return {
        "name": r.name,
        "site": site.name if site else None,
        "gpu_type": r.gpu_type,
        "gpus_per_node": r.gpus_per_node,
        "nodes": r.nodes,
        "owner": owner.name if owner else None,
        "delivered": r.delivered,
        "value_usd": r.value_usd,
        "nvlink_domain_gpus": r.nvlink_domain_gpus,
        "nodes_per_rack": r.nodes_per_rack,
        "racks_per_block": r.racks_per_block,
        "note": r.note,
    }


def _person_fields(s: Session, b: bodies.PersonBody) -> dict[str, Any]:
    return b.model_dump()


def _person_body(s: Session, r: PersonRow) -> dict[str, Any]:
    return {"name": r.name, "email": r.email}


def _role_fields(s: Session, b: bodies.RoleBody) -> dict[str, Any]:
    return {
        "person_id": _ref(s, PersonRow, b.person, "person", "person").id,
        "entity_id": _ref(s, EntityRow, b.entity, "entity", "entity").id,
        "role": b.role.value,
    }


def _role_body(s: Session, r: PersonRole) -> dict[str, Any]:
    p, e = s.get(PersonRow, r.person_id), s.get(EntityRow, r.entity_id)
    return {
        "id": r.id,
        "person": p.name if p else None,
        "entity": e.name if e else None,
        "role": r.role,
    }


def _plan_fields(s: Session, b: bodies.PlanBody) -> dict[str, Any]:
    doc = b.model_dump(mode="json", exclude_defaults=True)
    doc["name"] = b.name
    for k in ("start", "end"):
        if getattr(b, k) is not None:
            doc[k] = iso(getattr(b, k))
    return {"doc": doc}


def _plan_body(s: Session, r: Plan) -> dict[str, Any]:
    return dict(r.doc)


@dataclass(frozen=True)
class Kind:
    """One kind of register object: its table, body model, and how they map."""

    name: str
    model: type[Base]
    body: type[BaseModel]
    fields: Callable[[Session, Any], dict[str, Any]]
    to_body: Callable[[Session, Any], dict[str, Any]]
    by_id: bool = False  # looked up by id (quotas, roles) rather than by name


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("plan", Plan, bodies.PlanBody, _plan_fields, _plan_body, by_id=True),
        Kind("group", GroupRules, bodies.GroupBody, _group_fields, _group_body),
        Kind("site", SiteRow, bodies.SiteIn, _site_fields, _site_body),
        Kind("entity", EntityRow, bodies.EntityBody, _entity_fields, _entity_body),
        Kind("program", ProgramRow, bodies.ProgramBody, _program_fields, _program_body),
        Kind("quota", QuotaRow, bodies.QuotaBody, _quota_fields, _quota_body, by_id=True),
        Kind("pool", Pool, bodies.PoolIn, _pool_fields, _pool_body),
        Kind("person", PersonRow, bodies.PersonBody, _person_fields, _person_body),
        Kind("role", PersonRole, bodies.RoleBody, _role_fields, _role_body, by_id=True),
    )
}


def find(s: Session, kind: str, key: str | int) -> Any:
    k = KINDS[kind]
    if k.by_id:
        try:
            row = s.get(k.model, int(key))
        except ValueError:
            row = None
        if row is None:
            raise NotFoundError(kind, key)
        return row
    return by_name(s, k.model, str(key), kind)


def body_of(s: Session, kind: str, row: Any) -> dict[str, Any]:
    return KINDS[kind].to_body(s, row)


def create(tx: Tx, kind: str, data: object) -> Any:
    k = KINDS[kind]
    body = parse_body(k.body, data, kind)
    s = tx.session
    name = getattr(body, "name", None)
    if kind == "plan":
        if s.get(Plan, 1) is not None:
            raise ConflictError("the register already has a plan; update it instead", "exists")
    elif name is not None and _named(s, k.model, name) is not None:
        raise ConflictError(f"a {kind} named {name!r} already exists", "exists")
    row = k.model(**k.fields(s, body))
    if kind == "plan":
        row.id = 1  # type: ignore[attr-defined]
    _unique_rows(s, kind, row)
    s.add(row)
    s.flush()
    tx.audit("create", kind, _key(kind, row), None, row_dict(row))
    check_plan(s)
    return row


def update(tx: Tx, kind: str, key: str | int, patch: object) -> Any:
    """Apply a partial change: the stored body with ``patch``'s fields replaced."""
    if not isinstance(patch, dict):
        raise InputError(f"{kind}: the body is not an object of fields to change")
    k = KINDS[kind]
    s = tx.session
    row = find(s, kind, key)
    current = k.to_body(s, row)
    current.pop("id", None)
    merged = {**current, **patch}
    body = parse_body(k.body, {f: v for f, v in merged.items() if v is not None}, kind)
    if "name" in patch and patch["name"] != current.get("name"):
        _rename_allowed(s, kind, row, body)
    before = row_dict(row)
    for f, v in k.fields(s, body).items():
        setattr(row, f, v)
    _unique_rows(s, kind, row)
    s.flush()
    tx.audit("update", kind, _key(kind, row), before, row_dict(row))
    check_plan(s)
    return row


def delete(tx: Tx, kind: str, key: str | int) -> None:
    s = tx.session
    row = find(s, kind, key)
    _unused(s, kind, row)
    before = row_dict(row)
    s.delete(row)
    s.flush()
    tx.audit("delete", kind, _key(kind, row), before, None)
    check_plan(s)


def _key(kind: str, row: Any) -> str:
    return str(row.id if KINDS[kind].by_id else row.name)


def _rename_allowed(s: Session, kind: str, row: Any, body: Any) -> None:
    if _named(s, KINDS[kind].model, body.name) is not None:
        raise ConflictError(f"a {kind} named {body.name!r} already exists", "exists")


def _unique_rows(s: Session, kind: str, row: Any) -> None:
    """Quotas are unique per (program, type, date) and roles per (person, entity, role)."""
    if kind == "quota":
        q = select(QuotaRow).where(
            QuotaRow.program_id == row.program_id,
            QuotaRow.gpu_type == row.gpu_type,
            QuotaRow.effective.is_(None)
            if row.effective is None
            else QuotaRow.effective == row.effective,
        )
        other = s.scalar(q)
        if other is not None and other is not row:
            raise ConflictError(
                f"the program already has a {row.gpu_type} quota from "
                f"{row.effective or 'the start'} (quota {other.id}); update that one",
                "exists",
            )
    if kind == "role":
        same = s.scalar(
            select(PersonRole).where(
                PersonRole.person_id == row.person_id,
                PersonRole.entity_id == row.entity_id,
                PersonRole.role == row.role,
            )
        )
        if same is not None and same is not row:
            raise ConflictError(f"that person already has that role (role {same.id})", "exists")


_USERS: dict[str, list[tuple[type[Base], str, str]]] = {
    "group": [(EntityRow, "group_id", "entities")],
    "site": [(Pool, "site_id", "pools"), (TransferRow, "to_site_id", "transfers")],
    "entity": [
        (ProgramRow, "entity_id", "programs"),
        (Pool, "owner_id", "pools"),
        (PersonRole, "entity_id", "roles"),
        (TransferRow, "from_entity_id", "transfers"),
        (TransferRow, "to_entity_id", "transfers"),
    ],
    "program": [(QuotaRow, "program_id", "quotas")],
    "pool": [(TransferRow, "pool_id", "transfers")],
    "person": [(PersonRole, "person_id", "roles"), (TransferRow, "requested_by", "transfers")],
}


def _unused(s: Session, kind: str, row: Any) -> None:
    """Refuse to delete what others refer to, saying what refers to it."""
    for model, col, what in _USERS.get(kind, []):
        n = len(s.scalars(select(model).where(getattr(model, col) == row.id)).all())
        if n:
            raise ConflictError(
                f"{kind} {_key(kind, row)!r} is used by {n} {what}; remove those first",
                "in-use",
            )


def check_plan(s: Session) -> None:
    """Re-validate the plan the register makes, when it has a header."""
    if s.get(Plan, 1) is None:
        return
    from gpufleet.governance.register.plan import plan_scenario

    try:
        plan_scenario(s)
    except ScenarioError as e:
        raise InputError(
            "the change would leave the register without a valid plan", e.problems
        ) from None

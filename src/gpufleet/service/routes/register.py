"""The register over HTTP: for each kind in :data:`gpufleet.governance.register.ops.KINDS` (but the
plan), ``GET /{plural}``, ``GET /{plural}/{key}``, ``POST /{plural}`` (201),
``PATCH /{plural}/{key}`` (partial) and ``DELETE /{plural}/{key}`` (204); ``GET``/``PUT
/plan``; ``POST /seed``.

Who may do what (:mod:`gpufleet.governance.auth.access` decides; this module says whose object is
whose):

- **shared** kinds (sites, groups, entities, people, the plan): any token reads them; only
  a fleet-admin changes them;
- **owned** kinds, each belonging to one entity (a program: its ``entity``; a quota: its
  program's entity; a pool: its ``owner``; a role: its ``entity``): a fleet-admin or a
  token of that entity reads them (lists hold only those; another entity's, asked for by
  key, is a 403 ``other-entity``); a fleet-admin or that entity's entity-admin changes
  them: for a create, the entity the body names; for a change of owner, both the old and
  the new one.

Request bodies are the register's strict models (:mod:`gpufleet.governance.register.bodies`), so the
OpenAPI schema documents them and an unknown field is a 422; a PATCH body is the same
model with every field optional.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gpufleet.errors import InputError, NotFoundError, Problem
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.register import ops
from gpufleet.governance.register.bodies import PlanBody
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.models import (
    EntityRow,
    PersonRole,
    PersonRow,
    Plan,
    Pool,
    ProgramRow,
    QuotaRow,
)
from gpufleet.governance.transfers.role_changes import check_role_change
from gpufleet.inputs.scenario.schema import Strict
from gpufleet.inputs.scenario.workloads import registry_only_problem
from gpufleet.service.deps import MAX_ID, Caller, StoreDep
from gpufleet.service.pagination import PageDep

router = APIRouter(tags=["register"])

PLURAL = {
    "group": "groups",
    "site": "sites",
    "entity": "entities",
    "program": "programs",
    "quota": "quotas",
    "pool": "pools",
    "person": "people",
    "role": "roles",
}
SHARED = frozenset({"group", "site", "entity", "person", "plan"})
OWNER_FIELD = {"program": "entity", "quota": "program", "pool": "owner", "role": "entity"}
"""The body field of an owned kind that names (or leads to) its entity."""


# --- whose is it ------------------------------------------------------------------------


def _entity_id(s: Session, name: object) -> int | None:
    if not isinstance(name, str):
        return None
    return s.scalar(select(EntityRow.id).where(EntityRow.name == name))


def owner_of_body(s: Session, kind: str, data: dict[str, Any]) -> int | None:
    """The entity an owned kind's body names (None: no such entity or program)."""
    ref = data.get(OWNER_FIELD[kind])
    if kind == "quota":
        return s.scalar(select(ProgramRow.entity_id).where(ProgramRow.name == ref)) if ref else None
    return _entity_id(s, ref)


def owner_of_row(s: Session, kind: str, row: Any) -> int | None:
    if kind == "program" or kind == "role":
        return int(row.entity_id)
    if kind == "pool":
        return int(row.owner_id)
    if kind == "quota":
        prog = s.get(ProgramRow, row.program_id)
        return prog.entity_id if prog else None
    return None


def visible(query: Select[Any], kind: str, p: Principal) -> Select[Any]:
    """A list query narrowed to what the caller may read."""
    if kind in SHARED or access.is_fleet_admin(p):
        return query
    eid = p.entity_id
    if kind == "program":
        return query.where(ProgramRow.entity_id == eid)
    if kind == "pool":
        return query.where(Pool.owner_id == eid)
    if kind == "role":
        return query.where(PersonRole.entity_id == eid)
    mine = select(ProgramRow.id).where(ProgramRow.entity_id == eid)
    return query.where(QuotaRow.program_id.in_(mine))


def find_from_url(s: Session, kind: str, key: str) -> Any:
    """``ops.find``, with an id that is not a row id (not a number, or one too big for
    the column) answered as not found before it reaches the database."""
    numeric = key.isascii() and key.isdigit()
    if ops.KINDS[kind].by_id and not (numeric and 1 <= int(key) <= MAX_ID):
        raise NotFoundError(kind, key)
    return ops.find(s, kind, key)


def key_of(kind: str, row: Any) -> str:
    return str(row.id if ops.KINDS[kind].by_id else row.name)


def check_read(s: Session, kind: str, row: Any, p: Principal) -> None:
    if kind not in SHARED:
        access.require_read(p, [owner_of_row(s, kind, row)], f"{kind} {key_of(kind, row)!r}")


def check_write(s: Session, kind: str, p: Principal, owners: list[int | None]) -> None:
    what = f"a {kind}"
    if kind in SHARED:
        access.require_fleet_admin(p, f"changing {what}")
        return
    for eid in owners or [None]:
        access.require_admin(p, eid, what)


def guard_roles(s: Session, kind: str, p: Principal, row: Any, data: dict[str, Any]) -> None:
    """A role created, changed or deleted: nobody changes their own roles, nor the roles
    that decide a transfer they requested while it is open
    (:mod:`gpufleet.governance.transfers.role_changes`). ``row``: the role before (None: a create);
    ``data``: the body (names of the person and entity after the change)."""
    if kind != "role":
        return
    people: set[int] = set()
    entities: set[int] = set()
    if row is not None:
        people.add(int(row.person_id))
        entities.add(int(row.entity_id))
    person = data.get("person")
    if isinstance(person, str):
        pid = s.scalar(select(PersonRow.id).where(PersonRow.name == person))
        if pid is not None:
            people.add(pid)
    eid = _entity_id(s, data.get("entity"))
    if eid is not None:
        entities.add(eid)
    check_role_change(s, p.person_id, people, entities)


def no_server_files(kind: str, data: dict[str, Any]) -> None:
    """A program's workload sent over the API may name registry traces only: the plan's
    validation would otherwise open any file the server can read, on a caller's say-so,
    and quote it in its errors. Decided from the names, without touching the disk."""
    workload = data.get("workload") if kind == "program" else None
    trace = workload.get("trace") if isinstance(workload, dict) else None
    if not isinstance(trace, dict):
        return
    problem = registry_only_problem(trace.get("path"), trace.get("source"))
    if problem is not None:
        field, message, expected = problem
        raise InputError(
            f"workload.trace.{field}: {message}",
            [Problem(f"workload.trace.{field}", message, expected)],
        )


# --- models ------------------------------------------------------------------------------


def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with every field optional (default None) and still strict: a PATCH body.
    Field constraints stay; the merged object is validated whole by ``ops.update``."""
    fields: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        info = copy(f)
        info.default = None
        info.default_factory = None
        annotation: Any = f.annotation
        fields[name] = (annotation | None, info)
    patch: type[BaseModel] = create_model(
        f"{model.__name__}Patch", __config__=ConfigDict(extra="forbid", strict=True), **fields
    )
    return patch


def _with_body(fn: Callable[..., Any], model: type[BaseModel]) -> Callable[..., Any]:
    """Give ``fn``'s ``body`` parameter the model FastAPI validates and documents (the
    factory below makes one function per kind, so the type is only known at run time)."""
    fn.__annotations__["body"] = model
    return fn


def _order(kind: str) -> Any:
    model: Any = ops.KINDS[kind].model
    return model.id if ops.KINDS[kind].by_id else model.name


# --- the routes of one kind --------------------------------------------------------------


def add_kind(kind: str) -> None:
    """Register list, get, create, patch and delete for ``kind`` under its plural."""
    plural = PLURAL[kind]
    k = ops.KINDS[kind]
    key_doc = "id" if k.by_id else "name"

    def list_items(p: Caller, store: StoreDep, page: PageDep) -> dict[str, Any]:
        with store.read() as s:
            q = visible(select(k.model).order_by(_order(kind)), kind, p)
            return page.of_query(s, q, lambda r: ops.body_of(s, kind, r))

    def get_item(key: str, p: Caller, store: StoreDep) -> dict[str, Any]:
        with store.read() as s:
            row = find_from_url(s, kind, key)
            check_read(s, kind, row, p)
            return ops.body_of(s, kind, row)

    def create_item(body: Any, p: Caller, store: StoreDep) -> dict[str, Any]:
        data = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        no_server_files(kind, data)
        with store.write(p.actor) as tx:
            s = tx.session
            owners = [] if kind in SHARED else [owner_of_body(s, kind, data)]
            check_write(s, kind, p, owners)
            guard_roles(s, kind, p, None, data)
            row = ops.create(tx, kind, data)
            return ops.body_of(s, kind, row)

    def patch_item(key: str, body: Any, p: Caller, store: StoreDep) -> dict[str, Any]:
        patch = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        no_server_files(kind, patch)
        with store.write(p.actor) as tx:
            s = tx.session
            row = find_from_url(s, kind, key)
            owners: list[int | None] = []
            if kind not in SHARED:
                check_read(s, kind, row, p)
                owners.append(owner_of_row(s, kind, row))
                if OWNER_FIELD[kind] in patch:
                    owners.append(owner_of_body(s, kind, patch))
            check_write(s, kind, p, owners)
            guard_roles(s, kind, p, row, patch)
            row = ops.update(tx, kind, key, patch)
            return ops.body_of(s, kind, row)

    def delete_item(key: str, p: Caller, store: StoreDep) -> Response:
        with store.write(p.actor) as tx:
            s = tx.session
            row = find_from_url(s, kind, key)
            owners: list[int | None] = []
            if kind not in SHARED:
                check_read(s, kind, row, p)
                owners.append(owner_of_row(s, kind, row))
            check_write(s, kind, p, owners)
            guard_roles(s, kind, p, row, {})
            ops.delete(tx, kind, key)
        return Response(status_code=204)

    path, item = f"/{plural}", f"/{plural}/{{key}}"
    router.add_api_route(
        path, list_items, methods=["GET"], name=f"list_{plural}", summary=f"List {plural}"
    )
    router.add_api_route(
        item,
        get_item,
        methods=["GET"],
        name=f"get_{kind}",
        summary=f"One {kind} by {key_doc}",
    )
    router.add_api_route(
        path,
        _with_body(create_item, k.body),
        methods=["POST"],
        status_code=201,
        name=f"create_{kind}",
        summary=f"Create a {kind}",
    )
    router.add_api_route(
        item,
        _with_body(patch_item, partial_model(k.body)),
        methods=["PATCH"],
        name=f"update_{kind}",
        summary=f"Change some fields of a {kind}",
    )
    router.add_api_route(
        item,
        delete_item,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        name=f"delete_{kind}",
        summary=f"Delete a {kind} (refused while others refer to it)",
    )


for _kind in PLURAL:
    add_kind(_kind)


# --- the plan header and seeding -------------------------------------------------------


@router.get("/plan", summary="The plan's header (name, dates, policy, cost model...)")
def get_plan(p: Caller, store: StoreDep) -> dict[str, Any]:
    with store.read() as s:
        row = s.get(Plan, 1)
        if row is None:
            raise NotFoundError("plan", "header")
        return ops.body_of(s, "plan", row)


@router.put("/plan", summary="Set or replace the plan's header (fleet-admin)")
def put_plan(body: PlanBody, p: Caller, store: StoreDep, response: Response) -> dict[str, Any]:
    access.require_fleet_admin(p, "setting the plan")
    with store.write(p.actor) as tx:
        s = tx.session
        row = s.get(Plan, 1)
        if row is None:
            row = ops.create(tx, "plan", body.model_dump(mode="json"))
            response.status_code = 201
            return ops.body_of(s, "plan", row)
        # a replacement, not ops.update's merge: keys the body leaves out go away
        before = row_dict(row)
        row.doc = ops.KINDS["plan"].fields(s, body)["doc"]
        s.flush()
        tx.audit("update", "plan", 1, before, row_dict(row))
        ops.check_plan(s)
        return ops.body_of(s, "plan", row)


class SeedBody(Strict):
    """What to fill an empty register from: a scenario file's YAML text, or nothing for
    the built-in article scenario."""

    scenario_yaml: str | None = Field(
        default=None, description="a scenario file's text (default: the article's scenario)"
    )


@router.post(
    "/seed",
    status_code=201,
    summary="Fill an empty register from a scenario (fleet-admin)",
)
def seed(p: Caller, store: StoreDep, body: SeedBody | None = None) -> dict[str, Any]:
    access.require_fleet_admin(p, "seeding the register")
    text = body.scenario_yaml if body else None
    with store.write(p.actor) as tx:
        if text is None:  # the built-in article scenario
            return seed_from_scenario(tx, None, requester_id=p.person_id)
        # YAML text, never a path; traces by registry name only, no server file opened
        return seed_from_scenario(tx, text, requester_id=p.person_id, text_only=True)

"""Reports and exports of the plan the register makes (approved, active and ended
transfers included):

- ``GET /reports/fleet``: the fleet by site and by entity at a date, the sites' readiness
  steps, stranded capacity and allocations over time (:mod:`gpufleet.service.fleet`);
  every token may read it, but a token scoped to an entity sees only its own entity's
  figures besides the fleet's and the sites' totals;
- ``GET /exports/{format}``: the quotas in force at a date as a scheduler's configuration
  (the same files as ``gpufleet export``); fleet-admin tokens only. A scheduler's
  configuration is the whole fleet's: every entity's queues, quotas and the cohorts they
  borrow through. An entity's slice of it would not be a configuration anyone could
  deploy, and all of it would show a scoped token the other entities' programs and
  quotas (docs/security.md, "What a token may read"): a scoped token reads its own
  quotas through ``GET /quotas`` instead.

Both are rate-limited per token (:mod:`gpufleet.service.ratelimit`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Response

from gpufleet.errors import ForbiddenError, InputError
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.store.models import AccessRole
from gpufleet.planning.allocation import allocation_at
from gpufleet.planning.export import target
from gpufleet.service import fleet
from gpufleet.service.deps import Caller, StoreDep

router = APIRouter(tags=["reports"])

ExportFormat = Literal["kueue", "slurm", "kai", "volcano", "yunikorn"]
"""The export targets (the test checks these are :data:`gpufleet.planning.export.TARGETS`)."""
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)

AtQuery = Annotated[
    date | None,
    Query(description="the date (YYYY-MM-DD, midnight UTC); default: today, within the plan"),
]


def _instant(at: date | None) -> datetime:
    """A scenario instant (naive UTC) for a date; today when none is given."""
    day = at or datetime.now(UTC).date()
    return datetime(day.year, day.month, day.day)


def _visible_entities(p: Principal) -> list[str] | None:
    if access.is_fleet_admin(p):
        return None
    return [p.entity_name] if p.entity_name else []


@router.get("/reports/fleet", summary="Fleet by site and entity, readiness, stranded capacity")
def fleet_report(p: Caller, store: StoreDep, at: AtQuery = None) -> dict[str, Any]:
    with store.read() as s:
        sc = plan_scenario(s)
    return fleet.report(sc, _instant(at), _visible_entities(p))


_MEDIA = {"slurm": "text/plain; charset=utf-8"}


@router.get(
    "/exports/{format}",
    summary="The quotas in force at a date as a scheduler's configuration",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}, "text/plain": {}}}},
)
def export_plan(format: ExportFormat, p: Caller, store: StoreDep, at: AtQuery = None) -> Response:
    if p.role is not AccessRole.FLEET_ADMIN:
        raise ForbiddenError(
            "exports hold every entity's queues and quotas: they need a fleet-admin token "
            f"(this one is {p.role.value}; an entity's own quotas: GET /api/v1/quotas)"
        )
    with store.read() as s:
        sc = plan_scenario(s)
    instant = min(max(_instant(at), sc.start), sc.end) if at is None else _instant(at)
    try:
        f = target(format).write(allocation_at(sc, instant))
    except InputError as e:
        raise InputError(f"at={at}: {e}") from None
    media = _MEDIA.get(format, "application/yaml")
    headers = {"Content-Disposition": f'inline; filename="{f.name}"'}
    return Response(f.text, media_type=media, headers=headers)

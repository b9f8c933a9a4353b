"""What-if runs: queued by the API, executed in the background by the app's worker
(:class:`gpufleet.governance.runs.RunWorker`), read back with their status and result.

A run is visible to a fleet-admin and to tokens of the entity whose token created it;
an assessment run also to tokens of either party of its transfer (``runs.entity_id``
holds the creator's entity).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from gpufleet.auth import access
from gpufleet.auth.tokens import Principal
from gpufleet.errors import ConflictError, ForbiddenError, NotFoundError
from gpufleet.governance.runs import queue_whatif
from gpufleet.scenario.schema import NonNeg, Strict
from gpufleet.service.deps import Caller, IdPath, StoreDep
from gpufleet.service.pagination import PageDep
from gpufleet.service.run_report import render_run_page
from gpufleet.service.values import iso_utc
from gpufleet.store.models import AccessRole, Run, RunStatus, Transfer

router = APIRouter(tags=["runs"])

Changes = list[Annotated[str, Field(min_length=1, max_length=500)]]


class ChangesBody(Strict):
    """Changes to the plan in the CLI's short forms (``gpufleet whatif --move ...``)."""

    move: Changes = Field(default_factory=list, examples=[["12000 H100-SXM tesla->xai 2024-06-15"]])
    quota: Changes = Field(default_factory=list)
    weight: Changes = Field(default_factory=list)
    deliver: Changes = Field(default_factory=list)
    delay: Changes = Field(default_factory=list)
    policy: Changes = Field(default_factory=list)
    scale: Changes = Field(default_factory=list)


class RunBody(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    changes: ChangesBody
    seeds: Annotated[int, Field(ge=1, le=20)] = 3
    markup: NonNeg = 0.0
    market_rate: NonNeg | None = None


def run_dict(run: Run, with_result: bool = False) -> dict[str, Any]:
    req = run.request or {}
    name = req.get("name") or (
        f"assessment of transfer {run.transfer_id}" if run.kind == "assessment" else ""
    )
    out: dict[str, Any] = {
        "id": run.id,
        "kind": run.kind,
        "name": name,
        "status": run.status,
        "request": req,
        "error": run.error or None,
        "created_by": run.created_by,
        "created_at": iso_utc(run.created_at),
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc(run.finished_at),
        "transfer_id": run.transfer_id,
    }
    if with_result:
        out["result"] = run.result
    return out


def wake_worker(request: Request) -> None:
    """Tell the app's run worker (if it has one) that a run is queued."""
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()


def _visible_to(p: Principal) -> ColumnElement[bool]:
    mine = select(Transfer.id).where(
        or_(Transfer.from_entity_id == p.entity_id, Transfer.to_entity_id == p.entity_id)
    )
    return or_(Run.entity_id == p.entity_id, Run.transfer_id.in_(mine))


def _load(s: Session, run_id: int, p: Principal) -> Run:
    run = s.get(Run, run_id)
    if run is None:
        raise NotFoundError("run", run_id)
    if access.is_fleet_admin(p):
        return run
    seen = s.scalar(select(Run.id).where(Run.id == run_id, _visible_to(p)))
    if seen is None:
        raise ForbiddenError(
            f"{p.role.value} of {p.scope} may not read run {run_id} (another entity's)",
            "other-entity",
        )
    return run


@router.post("/runs", status_code=202, summary="Queue a what-if run on the plan")
def create_run(body: RunBody, p: Caller, store: StoreDep, request: Request) -> dict[str, Any]:
    if p.role not in (AccessRole.FLEET_ADMIN, AccessRole.ENTITY_ADMIN):
        raise ForbiddenError(
            f"what-if runs need an entity-admin or fleet-admin token (this one is {p.role.value})"
        )
    req = body.model_dump(mode="json")
    req["changes"] = {k: v for k, v in req["changes"].items() if v}
    with store.write(p.actor) as tx:
        out = run_dict(queue_whatif(tx, req, p.entity_id), with_result=True)
    wake_worker(request)
    return out


@router.get("/runs", summary="What-if runs and assessments the caller may see")
def list_runs(p: Caller, store: StoreDep, page: PageDep) -> dict[str, Any]:
    with store.read() as s:
        q = select(Run).order_by(Run.id.desc())
        if not access.is_fleet_admin(p):
            q = q.where(_visible_to(p))
        return page.of_query(s, q, run_dict)


@router.get("/runs/{run_id}", summary="A run: status, and its result when done")
def get_run(run_id: IdPath, p: Caller, store: StoreDep) -> dict[str, Any]:
    with store.read() as s:
        return run_dict(_load(s, run_id, p), with_result=True)


@router.get(
    "/runs/{run_id}/report",
    response_class=HTMLResponse,
    summary="A finished run's comparison as an HTML page",
)
def run_report(run_id: IdPath, p: Caller, store: StoreDep) -> HTMLResponse:
    with store.read() as s:
        run = run_dict(_load(s, run_id, p), with_result=True)
    if run["status"] != RunStatus.DONE.value:
        raise ConflictError(
            f"run {run_id} is {run['status']}: its report comes when it is done"
            + (f" (error: {run['error']})" if run["error"] else ""),
            "not-done",
        )
    return HTMLResponse(render_run_page(run))

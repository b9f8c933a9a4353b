"""What-if runs: queued by the API, executed in the background by the app's worker
(:class:`gpufleet.governance.runs.queue.RunWorker`), read back with their status and result.

A run is visible to a fleet-admin and to tokens of the entity whose token created it;
an assessment run also to tokens of either party of its transfer (``runs.entity_id``
holds the creator's entity). What a scoped token is sent of a run's result is redacted
to its own entity's programs (:mod:`gpufleet.service.visibility`); the stored result
stays whole. An entity has at most ``runs_per_entity`` runs queued or running (429
``too-many-runs``), and ``POST /runs`` and the report are rate-limited per token
(:mod:`gpufleet.service.ratelimit`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from gpufleet.errors import ConflictError, ForbiddenError, InputError, NotFoundError, Problem
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.runs.fairness import MAX_ACTIVE_RUNS
from gpufleet.governance.runs.queue import queue_whatif
from gpufleet.governance.store.models import AccessRole, Run, RunStatus, TransferRow
from gpufleet.governance.store.values import iso_utc
from gpufleet.inputs.scenario.schema import NonNeg, Strict
from gpufleet.planning.whatif.changes import PARSERS
from gpufleet.service.deps import Caller, IdPath, StoreDep
from gpufleet.service.pagination import PageDep
from gpufleet.service.run_report import render_run_page
from gpufleet.service.visibility import WHOLE, View, scrub, view_of, visible_result

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


def run_dict(run: Run, with_result: bool = False, view: View = WHOLE) -> dict[str, Any]:
    """A run as the API returns it; ``view``: what the caller may see of its result."""
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
        "error": scrub(run.error, view) or None,
        "created_by": run.created_by,
        "created_at": iso_utc(run.created_at),
        "started_at": iso_utc(run.started_at),
        "finished_at": iso_utc(run.finished_at),
        "transfer_id": run.transfer_id,
    }
    if with_result:
        out["result"] = visible_result(run.result, view)
    return out


def wake_worker(request: Request) -> None:
    """Tell the app's run worker (if it has one) that a run is queued."""
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()


def _visible_to(p: Principal) -> ColumnElement[bool]:
    mine = select(TransferRow.id).where(
        or_(TransferRow.from_entity_id == p.entity_id, TransferRow.to_entity_id == p.entity_id)
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
    cap = getattr(request.app.state, "runs_per_entity", MAX_ACTIVE_RUNS)
    with store.write(p.actor) as tx:
        view = view_of(tx.session, p)
        _require_own_names(req["changes"], view)
        try:
            out = run_dict(queue_whatif(tx, req, p.entity_id, cap), with_result=True, view=view)
        except InputError as e:
            raise _scrubbed(e, view) from None
    wake_worker(request)
    return out


def _require_own_names(changes: dict[str, list[str]], view: View) -> None:
    """A scoped token's what-if may name its own entity's programs and pools only (any
    entity, site or GPU type): changing another entity's program would tell, by a 202
    against a 422, whether a program of that name exists. The same refusal for a name
    that exists and one that does not."""
    if view.whole:
        return
    own = view.own_programs | view.own_pools
    for kind, texts in changes.items():
        for text in texts:
            try:
                change = PARSERS[kind](text)
            except InputError:
                continue  # queue_whatif reports it, scrubbed
            for attr in ("program", "from_program", "to_program", "pool"):
                name = getattr(change, attr, None)
                if name is not None and name not in own:
                    raise ForbiddenError(
                        f"changes.{kind}: {text!r}: a what-if of {view.entity} may name only "
                        f"its own programs and pools ({attr} {name!r} is not one of them)",
                        "other-entity",
                    )


def _scrubbed(e: InputError, view: View) -> InputError:
    """``e`` without the names the caller may not see (an unknown name's error lists the
    names there are: another entity's programs and pools among them)."""
    e.args = (scrub(str(e), view), *e.args[1:])
    e.problems = tuple(
        Problem(scrub(x.field, view), scrub(x.message, view), scrub(x.expected, view))
        for x in e.problems
    )
    return e


def _run_view(s: Session, p: Principal, run: Run) -> View:
    """What ``p`` may see of ``run``: an assessment shows its transfer's parties both
    parties' programs (:func:`gpufleet.service.visibility.view_of`)."""
    t = s.get(TransferRow, run.transfer_id) if run.transfer_id is not None else None
    parties = [t.from_entity_id, t.to_entity_id] if t is not None else []
    return view_of(s, p, parties)


@router.get("/runs", summary="What-if runs and assessments the caller may see")
def list_runs(p: Caller, store: StoreDep, page: PageDep) -> dict[str, Any]:
    with store.read() as s:
        q = select(Run).order_by(Run.id.desc())
        if not access.is_fleet_admin(p):
            q = q.where(_visible_to(p))
        view = view_of(s, p)
        return page.of_query(s, q, lambda run: run_dict(run, view=view))


@router.get("/runs/{run_id}", summary="A run: status, and its result when done")
def get_run(run_id: IdPath, p: Caller, store: StoreDep) -> dict[str, Any]:
    with store.read() as s:
        run = _load(s, run_id, p)
        return run_dict(run, with_result=True, view=_run_view(s, p, run))


@router.get(
    "/runs/{run_id}/report",
    response_class=HTMLResponse,
    summary="A finished run's comparison as an HTML page",
)
def run_report(run_id: IdPath, p: Caller, store: StoreDep) -> HTMLResponse:
    with store.read() as s:
        row = _load(s, run_id, p)
        run = run_dict(row, with_result=True, view=_run_view(s, p, row))
    if run["status"] != RunStatus.DONE.value:
        raise ConflictError(
            f"run {run_id} is {run['status']}: its report comes when it is done"
            + (f" (error: {run['error']})" if run["error"] else ""),
            "not-done",
        )
    return HTMLResponse(render_run_page(run))

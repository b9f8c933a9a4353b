"""Governed transfers over HTTP; the lifecycle itself is
:mod:`gpufleet.governance.transfers.lifecycle`.

Who may do what (besides what governance decides about the person behind the token):

================  ==============================================================
action            who
================  ==============================================================
read              a token of either party, or a fleet-admin
request           the giving entity's entity-admin, or a fleet-admin; the token
                  must belong to a person (the requester)
assess, activate, an entity-admin of either party, or a fleet-admin
end
approve, reject   an approver of either party, or a fleet-admin, whose token
                  belongs to a person; governance then decides whether that
                  person is eligible (own request, conflicted...: 403 with its code)
revoke, end       an approver of either party, or a fleet-admin, whose token
early             belongs to a person eligible to decide (as for approve):
                  revoking, or ending a transfer before its approved end,
                  changes the decision
================  ==============================================================

``end`` at a lease's own end carries out the decision (an entity-admin of either party);
``end`` earlier, or of a permanent transfer, is a decision (as revoke).

A transfer's page (``GET /transfers/{id}``) shows its steps, decisions, everyone's
eligibility with the reasons, the approvals required and received, the price flag, the
assessment's summary once assessed, and ``allowed_actions``: what this caller may do now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gpufleet.errors import ForbiddenError, NotFoundError
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.store.db import Tx
from gpufleet.governance.store.models import (
    AccessRole,
    EntityRow,
    PersonRow,
    Pool,
    Run,
    RunStatus,
    SiteRow,
    TransferRow,
    TransferState,
)
from gpufleet.governance.store.values import iso_utc
from gpufleet.governance.transfers import lifecycle, rules
from gpufleet.governance.transfers.case import case_of
from gpufleet.inputs.scenario.schema import NonNeg, Strict, When
from gpufleet.service.deps import Caller, IdPath, StoreDep
from gpufleet.service.pagination import PageDep
from gpufleet.service.routes.runs import run_dict, wake_worker
from gpufleet.service.visibility import view_of, visible_result

router = APIRouter(tags=["transfers"])
ACTIONS = ("assess", "approve", "reject", "activate", "end", "revoke")


class ActionBody(Strict):
    note: Annotated[str, Field(max_length=2000)] = ""
    expected_version: int | None = Field(
        default=None, description="refuse (409 stale-state) unless the transfer is at this version"
    )


class EndBody(ActionBody):
    at: When | None = Field(
        default=None, description="when it ends (default: its own end; a permanent one needs it)"
    )


class AssessBody(Strict):
    seeds: Annotated[int, Field(ge=1, le=20)] = 3
    markup: NonNeg = 0.0
    market_rate: NonNeg | None = None


# --- reading ---------------------------------------------------------------------------


def transfer_dict(s: Session, t: TransferRow) -> dict[str, Any]:
    def name(model: Any, key: int | None) -> str | None:
        row = s.get(model, key) if key is not None else None
        return row.name if row is not None else None

    return {
        "id": t.id,
        "name": t.name,
        "state": t.state,
        "pool": name(Pool, t.pool_id),
        "gpus": t.gpus,
        "from_entity": name(EntityRow, t.from_entity_id),
        "to_entity": name(EntityRow, t.to_entity_id),
        "to_site": name(SiteRow, t.to_site_id),
        "to_program": t.to_program,
        "start": t.start,
        "end": t.end,
        "price_usd": t.price_usd,
        "note": t.note,
        "requested_by": name(PersonRow, t.requested_by),
        "requested_at": iso_utc(t.requested_at),
        "assessment_run_id": t.assessment_run_id,
        "version": t.version,
    }


def _involving(p: Principal) -> Any:
    return or_(TransferRow.from_entity_id == p.entity_id, TransferRow.to_entity_id == p.entity_id)


def _load(s: Session, transfer_id: int, p: Principal) -> TransferRow:
    t = s.get(TransferRow, transfer_id)
    if t is None:
        raise NotFoundError("transfer", transfer_id)
    access.require_read(p, [t.from_entity_id, t.to_entity_id], f"transfer {t.id}")
    return t


@router.get("/transfers", summary="Transfers involving the caller's entity (all: fleet-admin)")
def list_transfers(
    p: Caller,
    store: StoreDep,
    page: PageDep,
    state: Annotated[TransferState | None, Query(description="only those in this state")] = None,
) -> dict[str, Any]:
    with store.read() as s:
        q = select(TransferRow).order_by(TransferRow.id.desc())
        if not access.is_fleet_admin(p):
            q = q.where(_involving(p))
        if state is not None:
            q = q.where(TransferRow.state == state.value)
        return page.of_query(s, q, lambda t: transfer_dict(s, t))


@router.get("/transfers/{transfer_id}", summary="A transfer, its review and the caller's actions")
def get_transfer(transfer_id: IdPath, p: Caller, store: StoreDep) -> dict[str, Any]:
    with store.read() as s:
        t = _load(s, transfer_id, p)
        return transfer_page(s, t, p)


def transfer_page(s: Session, t: TransferRow, p: Principal) -> dict[str, Any]:
    verdict = rules.evaluate(case_of(s, t)).as_dict()
    run = s.get(Run, t.assessment_run_id) if t.assessment_run_id is not None else None
    # one visibility rule (docs/security.md, "What a token may read"): the parties both
    # see the assessment's figures for both parties' programs, not a third entity's
    view = view_of(s, p, _parties(t))
    summary = None
    if run is not None and run.result:
        whole = {k: v for k, v in run.result.items() if k != "comparison"}
        summary = visible_result(whole, view)
    latest = run or _latest_run(s, t)
    return {
        "transfer": transfer_dict(s, t),
        "steps": [
            {
                "from_state": x.from_state,
                "to_state": x.to_state,
                "actor": x.actor,
                "at": iso_utc(x.at),
                "note": x.note,
            }
            for x in lifecycle.steps(s, t.id)
        ],
        "approvals": [
            {
                "person": _person_name(s, a.person_id),
                "decision": a.decision,
                "at": iso_utc(a.at),
                "note": a.note,
            }
            for a in lifecycle.approvals(s, t.id)
        ],
        "eligibility": verdict["eligibility"],
        "related": verdict["related"],
        "value_usd": verdict["value_usd"],
        "needs_independent": verdict["needs_independent"],
        "approvals_required": verdict["approvals_required"],
        "approvals_received": verdict["approvals"],
        "rejections": verdict["rejections"],
        "price_flag": verdict["price_flag"],
        "assessment": summary,
        "assessment_run": run_dict(latest, view=view) if latest is not None else None,
        "allowed_actions": allowed_actions(s, t, p),
    }


def _person_name(s: Session, person_id: int) -> str | None:
    row = s.get(PersonRow, person_id)
    return row.name if row else None


def _latest_run(s: Session, t: TransferRow) -> Run | None:
    return s.scalars(
        select(Run)
        .where(Run.transfer_id == t.id, Run.kind == "assessment")
        .order_by(Run.id.desc())
        .limit(1)
    ).first()


def _assessment_pending(s: Session, t: TransferRow) -> bool:
    run = _latest_run(s, t)
    return run is not None and run.status in (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


# --- who may act --------------------------------------------------------------------------


def _parties(t: TransferRow) -> list[int]:
    return [t.from_entity_id, t.to_entity_id]


def require_party_admin(p: Principal, t: TransferRow, what: str) -> None:
    """A fleet-admin, or an entity-admin of either party."""
    if p.role is AccessRole.ENTITY_ADMIN and p.entity_id in _parties(t):
        return
    access.require_admin(p, t.from_entity_id, what)


def decider_of(p: Principal, t: TransferRow, what: str) -> int:
    """An approver of either party or a fleet-admin, with a person: that person's id."""
    access.require_approver(p, _parties(t), what)
    if p.person_id is None:
        raise ForbiddenError(
            f"{what} is a person's decision: this token belongs to no person "
            "(create one with --person)",
            "no-person",
        )
    return p.person_id


def _may(check: Callable[[], object]) -> bool:
    try:
        check()
    except ForbiddenError:
        return False
    return True


def allowed_actions(s: Session, t: TransferRow, p: Principal) -> list[str]:
    """What ``p`` may do to ``t`` now: the role allows it, the state allows it, and for a
    decision the person is eligible and has not decided yet."""
    state = TransferState(t.state)
    out = []
    admin = _may(lambda: require_party_admin(p, t, "x"))
    if admin and state is TransferState.REQUESTED and not _assessment_pending(s, t):
        out.append("assess")
    decider = False
    case: rules.Case | None = None
    if _may(lambda: decider_of(p, t, "x")):
        assert p.person_id is not None
        case = case_of(s, t, [p.person_id])
        me = next(x for x in case.people if x.id == p.person_id)
        decider = rules.eligibility(case, me).eligible
    undecided = case is not None and all(d.person_id != p.person_id for d in case.decisions)
    if state in lifecycle.OPEN and decider and undecided and case is not None:
        if state is TransferState.ASSESSED or not rules.requires_assessment(case):
            out.append("approve")
        out.append("reject")
    if admin and state is TransferState.APPROVED:
        out.append("activate")
    if admin and state is TransferState.ACTIVE and not lifecycle.ends_early(t, None):
        out.append("end")
    if decider and state is TransferState.ACTIVE and "end" not in out:
        out.append("end")  # before its approved end: a decision
    if decider and state in (TransferState.APPROVED, TransferState.ACTIVE):
        out.append("revoke")
    return out


# --- writing ------------------------------------------------------------------------------


def _giver_id(s: Session, body: lifecycle.TransferBody) -> int | None:
    if body.from_entity is not None:
        return s.scalar(select(EntityRow.id).where(EntityRow.name == body.from_entity))
    return s.scalar(select(Pool.owner_id).where(Pool.name == body.pool))


@router.post("/transfers", status_code=201, summary="Request a transfer")
def request_transfer(body: lifecycle.TransferBody, p: Caller, store: StoreDep) -> dict[str, Any]:
    if p.role not in (AccessRole.FLEET_ADMIN, AccessRole.ENTITY_ADMIN):
        access.require_admin(p, None, "requesting a transfer")
    if p.person_id is None:
        raise ForbiddenError(
            "a transfer is requested by a person: this token belongs to no person "
            "(create one with --person)",
            "no-person",
        )
    with store.write(p.actor) as tx:
        giver = _giver_id(tx.session, body)
        if giver is not None:
            access.require_admin(p, giver, "a transfer from this entity")
        t = lifecycle.request(tx, p.person_id, body)
        return transfer_page(tx.session, t, p)


def _act(
    store: Any, p: Principal, transfer_id: int, step: Callable[[Tx, TransferRow], TransferRow]
) -> dict[str, Any]:
    with store.write(p.actor) as tx:
        t = _load(tx.session, transfer_id, p)
        t = step(tx, t)
        return transfer_page(tx.session, t, p)


@router.post(
    "/transfers/{transfer_id}/assess",
    status_code=202,
    summary="Queue the transfer's impact assessment (a what-if run)",
    name="assess_transfer",  # the route's name, and so its OpenAPI operationId, as before
)
def request_assessment(
    transfer_id: IdPath,
    p: Caller,
    store: StoreDep,
    request: Request,
    body: AssessBody | None = None,
) -> dict[str, Any]:
    b = body or AssessBody()
    with store.write(p.actor) as tx:
        t = _load(tx.session, transfer_id, p)
        require_party_admin(p, t, f"assessing transfer {t.id}")
        run = lifecycle.queue_assessment(
            tx, t.id, seeds=b.seeds, markup=b.markup, market_rate=b.market_rate
        )
        out = run_dict(run, with_result=True)
    wake_worker(request)
    return out


@router.post("/transfers/{transfer_id}/approve", summary="Approve, as the token's person")
def approve_transfer(
    transfer_id: IdPath, p: Caller, store: StoreDep, body: ActionBody | None = None
) -> dict[str, Any]:
    b = body or ActionBody()

    def step(tx: Tx, t: TransferRow) -> TransferRow:
        person = decider_of(p, t, f"approving transfer {t.id}")
        return lifecycle.approve(tx, t.id, person, b.note, expected_version=b.expected_version)

    return _act(store, p, transfer_id, step)


@router.post("/transfers/{transfer_id}/reject", summary="Reject, as the token's person")
def reject_transfer(
    transfer_id: IdPath, p: Caller, store: StoreDep, body: ActionBody | None = None
) -> dict[str, Any]:
    b = body or ActionBody()

    def step(tx: Tx, t: TransferRow) -> TransferRow:
        person = decider_of(p, t, f"rejecting transfer {t.id}")
        return lifecycle.reject(tx, t.id, person, b.note, expected_version=b.expected_version)

    return _act(store, p, transfer_id, step)


@router.post("/transfers/{transfer_id}/activate", summary="An approved transfer takes effect")
def activate_transfer(
    transfer_id: IdPath, p: Caller, store: StoreDep, body: ActionBody | None = None
) -> dict[str, Any]:
    b = body or ActionBody()

    def step(tx: Tx, t: TransferRow) -> TransferRow:
        require_party_admin(p, t, f"activating transfer {t.id}")
        return lifecycle.activate(tx, t.id, b.note, expected_version=b.expected_version)

    return _act(store, p, transfer_id, step)


@router.post("/transfers/{transfer_id}/end", summary="An active transfer ends")
def end_transfer(
    transfer_id: IdPath, p: Caller, store: StoreDep, body: EndBody | None = None
) -> dict[str, Any]:
    b = body or EndBody()

    def step(tx: Tx, t: TransferRow) -> TransferRow:
        if lifecycle.ends_early(t, b.at):
            # ending before the approved end is a decision, taken by an eligible person
            person = decider_of(p, t, f"ending transfer {t.id} before its approved end")
            return lifecycle.end(
                tx, t.id, b.at, b.note, by=person, expected_version=b.expected_version
            )
        require_party_admin(p, t, f"ending transfer {t.id}")
        return lifecycle.end(tx, t.id, b.at, b.note, expected_version=b.expected_version)

    return _act(store, p, transfer_id, step)


@router.post("/transfers/{transfer_id}/revoke", summary="Revoke an approved or active transfer")
def revoke_transfer(
    transfer_id: IdPath, p: Caller, store: StoreDep, body: ActionBody | None = None
) -> dict[str, Any]:
    b = body or ActionBody()

    def step(tx: Tx, t: TransferRow) -> TransferRow:
        person = decider_of(p, t, f"revoking transfer {t.id}")
        return lifecycle.revoke(tx, t.id, b.note, by=person, expected_version=b.expected_version)

    return _act(store, p, transfer_id, step)

"""A transfer's lifecycle, each step audited (see the package docstring for the states).

Every function takes a writing transaction (:class:`gpufleet.governance.store.db.Tx`, whose
``actor``
is recorded on each step and audit record) and raises instead of half-doing: when one
raises, the caller's ``with store.write(...)`` rolls everything back.

Concurrency: every change of a transfer is ``UPDATE ... WHERE id = :id AND version = :v``
and bumps ``version``; zero rows updated means someone else changed it first:
:class:`ConflictError` code ``stale-state``. The store's writer lock already serializes
writers; the version check holds even without it, and lets an API client pass the
version it saw (``expected_version``) to refuse acting on a stale view.

Errors (``code``): NotFoundError ``not-found``; ConflictError ``bad-state`` (a step not
allowed from the current state), ``stale-state``, ``already-decided``, ``not-assessed``,
``assessment-pending``, ``name-taken``, ``plan-conflict`` (the plan would no longer load);
ForbiddenError ``own-request``, ``conflicted``, ``not-independent``, ``no-role`` (for every
decision: approve, reject, revoke, and ending a transfer before its approved end, which
also needs a person: ``needs-decider``);
InputError for a bad request field (its message names the field).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any, cast

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gpufleet.domain.holdings import holders_at
from gpufleet.domain.ids import GpuTypeName
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    Problem,
    ScenarioError,
)
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.runs import fairness
from gpufleet.governance.runs.kinds import MAX_SEEDS, RUN_KINDS, RunKind
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.db import Tx, now
from gpufleet.governance.store.models import (
    Approval,
    EntityRow,
    PersonRow,
    Pool,
    Run,
    RunStatus,
    SiteRow,
    TransferRow,
    TransferState,
    TransferStep,
)
from gpufleet.governance.transfers import rules, terms
from gpufleet.governance.transfers.assessment_run import prepare_assessment
from gpufleet.governance.transfers.case import case_of, current_case
from gpufleet.inputs.scenario.dates import as_datetime
from gpufleet.inputs.scenario.schema import Name, NonNeg, PosInt, Strict, When

OPEN = (TransferState.REQUESTED, TransferState.ASSESSED)
"""States in which people decide."""


class TransferBody(Strict):
    """A transfer request: what a scenario's ``timeline: - transfer:`` holds
    (``from_program`` empty: the giver's program is inferred as the loader does)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Annotated[str, Field(max_length=200)] = ""
    pool: Name
    gpus: PosInt
    from_entity: Name | None = None  # default: the pool's owner
    to_entity: Name = Field(alias="to")
    to_site: Name | None = None
    from_program: Name | None = None
    to_program: Name | None = None
    start: When
    end: When | None = None
    price_usd: NonNeg = 0.0
    note: str = ""


def _body(fields: TransferBody | Mapping[str, Any]) -> TransferBody:
    if isinstance(fields, TransferBody):
        return fields
    try:
        return TransferBody.model_validate(dict(fields))
    except ValidationError as e:
        problems = [
            Problem(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"])
            for err in e.errors()
        ]
        raise InputError("the transfer request has problems", problems) from None


def _iso(d: date | datetime) -> str:
    return as_datetime(d).isoformat() if isinstance(d, datetime) else d.isoformat()


def _get(s: Session, kind: type[Any], key: int, what: str) -> Any:
    row = s.get(kind, key)
    if row is None:
        raise NotFoundError(what, key)
    return row


def _named(s: Session, kind: type[Any], name: str, field: str, what: str) -> Any:
    row = s.scalar(select(kind).where(kind.name == name))
    if row is None:
        known = ", ".join(s.scalars(select(kind.name).order_by(kind.id))) or "none yet"
        raise InputError(f"{field}: unknown {what} {name!r} (known: {known})")
    return row


# --- request ------------------------------------------------------------------------------


def request(tx: Tx, person_id: int, fields: TransferBody | Mapping[str, Any]) -> TransferRow:
    """Person ``person_id`` requests a transfer (state ``requested``). Checked: the pool,
    the entities, the site and program exist; the giver holds ``gpus`` of the pool at the
    start (owned, or received by earlier transfers in the plan); dates inside the plan;
    and the plan with this transfer still loads."""
    s = tx.session
    b = _body(fields)
    _get(s, PersonRow, person_id, "person")
    pool = _named(s, Pool, b.pool, "pool", "pool")
    giver = (
        _named(s, EntityRow, b.from_entity, "from_entity", "entity")
        if b.from_entity
        else _get(s, EntityRow, pool.owner_id, "entity")
    )
    taker = _named(s, EntityRow, b.to_entity, "to", "entity")
    if giver.id == taker.id:
        raise InputError(f"to: a transfer from {giver.name!r} to itself")
    site = _named(s, SiteRow, b.to_site, "to_site", "site") if b.to_site else None
    base = plan_scenario(s)
    start = _check_dates(base, b)
    _check_program(base, taker.name, b.to_program, pool.gpu_type, "to_program")
    if b.from_program is not None:
        _check_program(base, giver.name, b.from_program, pool.gpu_type, "from_program")
    _check_held(base, pool, giver.name, b.gpus, start)
    name = b.name or f"{b.gpus} {pool.gpu_type} {giver.name}->{taker.name} {_iso(b.start)}"
    _check_name_free(s, name)
    at = now()
    t = TransferRow(
        name=name,
        pool_id=pool.id,
        gpus=b.gpus,
        from_entity_id=giver.id,
        to_entity_id=taker.id,
        to_site_id=site.id if site else None,
        from_program=b.from_program,
        to_program=b.to_program,
        start=_iso(b.start),
        end=_iso(b.end) if b.end else None,
        price_usd=b.price_usd,
        note=b.note,
        state=TransferState.REQUESTED.value,
        requested_by=person_id,
        requested_at=at,
        version=1,
    )
    _check_candidate(s, t)
    s.add(t)
    s.flush()
    t.terms = terms.freeze(current_case(s, t))
    s.flush()
    tx.audit("request", "transfer", t.id, None, row_dict(t))
    _step(tx, t, None, TransferState.REQUESTED, b.note)
    return t


def _check_dates(sc: Scenario, b: TransferBody) -> datetime:
    start = as_datetime(b.start)
    span = f"{sc.start:%Y-%m-%d} .. {sc.end:%Y-%m-%d}"
    if not sc.start <= start < sc.end:
        raise InputError(f"start: {start:%Y-%m-%d} is outside the plan ({span})")
    if b.end is not None:
        end = as_datetime(b.end)
        if end <= start:
            raise InputError(f"end: {end:%Y-%m-%d} is not after the start {start:%Y-%m-%d}")
        if end > sc.end:
            raise InputError(f"end: {end:%Y-%m-%d} is after the plan's end ({span})")
    return start


def _check_program(sc: Scenario, taker: str, given: str | None, gpu_type: str, field: str) -> None:
    programs = sc.entity(taker).programs
    names = [p.name for p in programs]
    if given is not None and given not in names:
        raise InputError(
            f"{field}: {given!r} is not a program of {taker!r} "
            f"(its programs: {', '.join(names) or 'none'})"
        )
    if (
        given is None
        and len(names) != 1
        and len([p for p in programs if p.quota(GpuTypeName(gpu_type))]) != 1
    ):
        raise InputError(
            f"{field}: {taker!r} has {len(names)} programs; name the one that gets the "
            f"GPUs (one of: {', '.join(names) or 'none'})"
        )


def _check_held(sc: Scenario, pool: Pool, giver: str, gpus: int, start: datetime) -> None:
    if gpus % pool.gpus_per_node:
        raise InputError(
            f"gpus: {gpus} is not whole nodes of pool {pool.name!r} "
            f"({pool.gpus_per_node} GPUs per node)"
        )
    held = holders_at({p.name: p for p in sc.pools}, sc.transfers, start)
    have = held.get(pool.name, {}).get(giver, 0)
    if gpus > have:
        raise InputError(
            f"gpus: on {start:%Y-%m-%d} {giver!r} holds {have} GPUs of pool {pool.name!r} "
            f"(owned or received by transfers in the plan), fewer than {gpus}"
        )


def _check_name_free(s: Session, name: str) -> None:
    live = [TransferState.REJECTED.value, TransferState.REVOKED.value]
    taken = s.scalar(
        select(TransferRow.id).where(TransferRow.name == name, TransferRow.state.not_in(live))
    )
    if taken is not None:
        raise ConflictError(
            f"name: transfer {taken} is already named {name!r}; give another name",
            code="name-taken",
        )


def _check_candidate(s: Session, t: TransferRow) -> None:
    try:
        plan_scenario(s, extra_transfers=[t])
    except ScenarioError as e:
        raise InputError("the plan with this transfer does not load", e.problems) from None


def _check_plan(s: Session, why: str) -> None:
    """The plan (as changed in this transaction) must still load."""
    s.flush()
    try:
        plan_scenario(s)
    except ScenarioError as e:
        msg = f"{why}: the plan would no longer load: " + "; ".join(p.render() for p in e.problems)
        raise ConflictError(msg, code="plan-conflict") from None


# --- steps --------------------------------------------------------------------------------


def _step(
    tx: Tx, t: TransferRow, was: TransferState | None, to: TransferState, note: str
) -> TransferStep:
    st = TransferStep(
        transfer_id=t.id,
        from_state=was.value if was else None,
        to_state=to.value,
        actor=tx.actor,
        at=now(),
        note=note,
    )
    tx.session.add(st)
    tx.session.flush()
    return st


def _load(tx: Tx, transfer_id: int, expected_version: int | None) -> TransferRow:
    t: TransferRow = _get(tx.session, TransferRow, transfer_id, "transfer")
    if expected_version is not None and t.version != expected_version:
        raise ConflictError(
            f"transfer {t.id} is at version {t.version}, not {expected_version}: it changed "
            "since you read it; reload it and decide again",
            code="stale-state",
        )
    return t


def _require(t: TransferRow, allowed: Sequence[TransferState], verb: str) -> TransferState:
    state = TransferState(t.state)
    if state not in allowed:
        need = " or ".join(a.value for a in allowed)
        raise ConflictError(
            f"cannot {verb} transfer {t.id}: it is {state.value} (needs {need})",
            code="bad-state",
        )
    return state


def _advance(
    tx: Tx,
    t: TransferRow,
    to: TransferState,
    verb: str,
    note: str,
    values: Mapping[str, Any] | None = None,
) -> TransferRow:
    """Move ``t`` to state ``to`` if nobody changed it since it was read (its version)."""
    before = row_dict(t)
    was = TransferState(t.state)
    stmt = (
        update(TransferRow)
        .where(TransferRow.id == t.id, TransferRow.version == t.version)
        .values(state=to.value, version=t.version + 1, **(values or {}))
        .execution_options(synchronize_session=False)
    )
    res = cast(CursorResult[Any], tx.session.execute(stmt))
    if res.rowcount != 1:
        raise ConflictError(
            f"transfer {t.id} was changed by someone else while you acted (version "
            f"{t.version} is stale); reload it and retry",
            code="stale-state",
        )
    tx.session.refresh(t)
    _step(tx, t, was, to, note)
    tx.audit(verb, "transfer", t.id, before, row_dict(t))
    return t


# --- assessment ---------------------------------------------------------------------------


def queue_assessment(
    tx: Tx,
    transfer_id: int,
    *,
    seeds: int = 3,
    markup: float = 0.0,
    market_rate: float | None = None,
) -> Run:
    """Queue the assessment of a requested transfer: a ``runs`` row of kind
    ``assessment`` that :mod:`gpufleet.governance.runs.queue` executes (the kind is
    registered below); its result moves the transfer to ``assessed``."""
    t = _load(tx, transfer_id, None)
    _require(t, (TransferState.REQUESTED,), "assess")
    if not 1 <= seeds <= MAX_SEEDS:
        raise InputError(f"seeds: {seeds}; expected 1 to {MAX_SEEDS}")
    if markup < 0 or (market_rate is not None and market_rate < 0):
        raise InputError("markup and market_rate: expected numbers >= 0")
    pending = tx.session.scalar(
        select(Run.id).where(
            Run.transfer_id == t.id,
            Run.kind == "assessment",
            Run.status.in_([RunStatus.QUEUED.value, RunStatus.RUNNING.value]),
        )
    )
    if pending is not None:
        raise ConflictError(
            f"transfer {t.id} already has assessment run {pending} pending",
            code="assessment-pending",
        )
    fairness.require_room(tx.session, t.from_entity_id)  # the giver's cap on queued runs
    run = Run(
        kind="assessment",
        status=RunStatus.QUEUED.value,
        request={"transfer_id": t.id, "seeds": seeds, "markup": markup, "market_rate": market_rate},
        created_by=tx.actor,
        created_at=now(),
        transfer_id=t.id,
    )
    tx.session.add(run)
    tx.session.flush()
    tx.audit("queue", "run", run.id, None, row_dict(run))
    return run


def record_assessment(tx: Tx, run: Run) -> TransferRow:
    """A finished assessment run: its transfer moves ``requested -> assessed`` and keeps
    the run's id (its charge gives the fair value the price is compared with)."""
    if run.transfer_id is None:
        raise InputError(f"run {run.id} is not a transfer's assessment")
    t = _load(tx, run.transfer_id, None)
    _require(t, (TransferState.REQUESTED,), "record an assessment of")
    note = f"assessed by run {run.id}"
    return _advance(tx, t, TransferState.ASSESSED, "assess", note, {"assessment_run_id": run.id})


RUN_KINDS.add("assessment", RunKind(prepare_assessment, record_assessment))


# --- decisions ----------------------------------------------------------------------------


def approve(
    tx: Tx, transfer_id: int, person_id: int, note: str = "", *, expected_version: int | None = None
) -> TransferRow:
    """Person ``person_id`` approves. They must be eligible (:mod:`.rules`) and not have
    decided before; with the group's ``require_assessment`` the transfer must be assessed.
    When eligible approvals reach the number required, the transfer is ``approved`` (and
    part of the plan, which must still load)."""
    return _decide(tx, transfer_id, person_id, "approve", note, expected_version)


def reject(
    tx: Tx, transfer_id: int, person_id: int, note: str = "", *, expected_version: int | None = None
) -> TransferRow:
    """Person ``person_id`` rejects (one eligible rejection suffices): ``rejected``."""
    return _decide(tx, transfer_id, person_id, "reject", note, expected_version)


def _decide(
    tx: Tx, transfer_id: int, person_id: int, decision: str, note: str, version: int | None
) -> TransferRow:
    s = tx.session
    t = _load(tx, transfer_id, version)
    state = _require(t, OPEN, decision)
    person: PersonRow = _get(s, PersonRow, person_id, "person")
    case = case_of(s, t, [person_id])
    if any(d.person_id == person_id for d in case.decisions):
        raise ConflictError(
            f"{person.name} has already decided on transfer {t.id}", code="already-decided"
        )
    _require_eligible(case, person_id)
    if (
        decision == "approve"
        and rules.requires_assessment(case)
        and state != TransferState.ASSESSED
    ):
        raise ConflictError(
            f"transfer {t.id} must be assessed before it is approved (queue its assessment)",
            code="not-assessed",
        )
    a = Approval(transfer_id=t.id, person_id=person_id, decision=decision, at=now(), note=note)
    try:
        with s.begin_nested():
            s.add(a)
            s.flush()
    except IntegrityError:
        raise ConflictError(
            f"{person.name} has already decided on transfer {t.id}", code="already-decided"
        ) from None
    tx.audit("create", "approval", a.id, None, row_dict(a))
    v = rules.evaluate(replace(case, decisions=(*case.decisions, rules.Vote(person_id, decision))))
    by = f"{person.name}" + (f": {note}" if note else "")
    if decision == "reject":
        return _advance(tx, t, TransferState.REJECTED, "reject", f"rejected by {by}")
    if not v.approved:
        tally = f"approval {v.approvals} of {v.approvals_required} by {by}"
        return _advance(tx, t, state, "approve", tally)
    _advance(
        tx,
        t,
        TransferState.APPROVED,
        "approve",
        f"approved ({v.approvals_required} needed) by {by}",
    )
    _check_plan(s, f"approving transfer {t.id}")
    return t


def _require_eligible(case: rules.Case, person_id: int) -> None:
    """ForbiddenError with the first reason unless the person may decide on the case."""
    me = next(p for p in case.people if p.id == person_id)
    elig = rules.eligibility(case, me)
    if not elig.eligible:
        raise ForbiddenError(elig.reasons[0].message, elig.reasons[0].code)


def require_decider(s: Session, t: TransferRow, person_id: int) -> None:
    """The person may take a decision on ``t`` (approve, reject, revoke, end it early):
    the rules' eligibility, under the frozen terms and now (:func:`rules.eligibility`)."""
    _get(s, PersonRow, person_id, "person")
    _require_eligible(case_of(s, t, [person_id]), person_id)


# --- after approval -----------------------------------------------------------------------


def activate(
    tx: Tx, transfer_id: int, note: str = "", *, expected_version: int | None = None
) -> TransferRow:
    """An approved transfer takes effect: ``active``."""
    t = _load(tx, transfer_id, expected_version)
    _require(t, (TransferState.APPROVED,), "activate")
    return _advance(tx, t, TransferState.ACTIVE, "activate", note)


def ends_early(t: TransferRow, at: date | datetime | str | None) -> bool:
    """Whether ending ``t`` at ``at`` changes what was approved: a permanent transfer
    ended, or a lease ended before its own end. (Ending a lease at its end is not.)"""
    if at is None:
        return t.end is None
    when = as_datetime(_parse_when(at))
    return t.end is None or when < datetime.fromisoformat(t.end)


def end(
    tx: Tx,
    transfer_id: int,
    at: date | datetime | str | None = None,
    note: str = "",
    *,
    by: int | None = None,
    expected_version: int | None = None,
) -> TransferRow:
    """An active transfer ends (the GPUs go back) at ``at``: ``ended``. Without ``at`` it
    ends at its own end (a lease); a permanent transfer needs ``at``. It stays in the plan
    up to its end; the plan must still load (the receiver must still hold the GPUs).

    Ending a lease at its own end carries out what was approved. Ending it earlier, or
    ending a permanent transfer, changes the decision: like a revocation it needs ``by``, a
    person eligible to decide on the transfer (ForbiddenError otherwise)."""
    t = _load(tx, transfer_id, expected_version)
    _require(t, (TransferState.ACTIVE,), "end")
    when = _end_date(t, at)
    if ends_early(t, when):
        if by is None:
            raise ForbiddenError(
                f"ending transfer {t.id} on {when}, before its approved end "
                f"({t.end or 'none: permanent'}), is a decision: a person eligible to "
                "decide on it must take it",
                "needs-decider",
            )
        require_decider(tx.session, t, by)
    _advance(tx, t, TransferState.ENDED, "end", note or f"ended on {when}", {"end": when})
    _check_plan(tx.session, f"ending transfer {t.id}")
    return t


def _end_date(t: TransferRow, at: date | datetime | str | None) -> str:
    if at is None:
        if t.end is None:
            raise InputError(f"at: transfer {t.id} is permanent; give the date it ends")
        return t.end
    when = _parse_when(at)
    iso = _iso(when)
    if as_datetime(when) <= datetime.fromisoformat(t.start):
        raise InputError(f"at: {iso} is not after the transfer's start {t.start}")
    if t.end is not None and as_datetime(when) > datetime.fromisoformat(t.end):
        raise InputError(f"at: {iso} is after the transfer's own end {t.end}")
    return iso


def _parse_when(at: date | datetime | str) -> date | datetime:
    if not isinstance(at, str):
        return at
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(at.strip())
        except ValueError:
            continue
    raise InputError(f"at: {at!r} is not a date (YYYY-MM-DD)")


def revoke(
    tx: Tx, transfer_id: int, note: str = "", *, by: int, expected_version: int | None = None
) -> TransferRow:
    """Person ``by`` revokes an approved or active transfer: out of the plan, as if never
    made. Revoking is a decision: ``by`` must be eligible to decide on the transfer, as an
    approver must (not its requester, not conflicted, an officer or director of a party or,
    when independence is required, an independent director); one such person suffices, as
    one eligible rejection does. The plan must still load (no later transfer may depend on
    these GPUs)."""
    t = _load(tx, transfer_id, expected_version)
    _require(t, (TransferState.APPROVED, TransferState.ACTIVE), "revoke")
    require_decider(tx.session, t, by)
    _advance(tx, t, TransferState.REVOKED, "revoke", note)
    _check_plan(tx.session, f"revoking transfer {t.id}")
    return t


# --- reading ------------------------------------------------------------------------------


def steps(s: Session, transfer_id: int) -> list[TransferStep]:
    return list(
        s.scalars(
            select(TransferStep)
            .where(TransferStep.transfer_id == transfer_id)
            .order_by(TransferStep.id)
        )
    )


def approvals(s: Session, transfer_id: int) -> list[Approval]:
    return list(
        s.scalars(select(Approval).where(Approval.transfer_id == transfer_id).order_by(Approval.id))
    )


def review(s: Session, transfer_id: int) -> dict[str, Any]:
    """A transfer with its steps, decisions and the rules' verdict (who may still decide,
    and why others may not), as JSON values."""
    t: TransferRow = _get(s, TransferRow, transfer_id, "transfer")
    v = rules.evaluate(case_of(s, t))
    return {
        "transfer": row_dict(t),
        "steps": [row_dict(x) for x in steps(s, t.id)],
        "approvals": [row_dict(a) for a in approvals(s, t.id)],
        "verdict": v.as_dict(),
    }

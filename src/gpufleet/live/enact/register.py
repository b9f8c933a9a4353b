"""The register's rows the desired state is computed from, as frozen values, and their
reading from the store (:func:`read_rows`). The desired state is a pure function of a
:class:`RegisterRows` (and the mapping): tests build one by hand.

Instants are naive UTC, as the register's dates are (a date is its midnight)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.errors import InputError
from gpufleet.governance.register.plan import IN_PLAN, plan_scenario
from gpufleet.governance.store.models import (
    Approval,
    EntityRow,
    PersonRow,
    Plan,
    Pool,
    ProgramRow,
    QuotaRow,
    TransferRow,
)
from gpufleet.live.enact.model import ApprovalNote


@dataclass(frozen=True)
class ProgramRec:
    name: str
    entity: str
    weight: float


@dataclass(frozen=True)
class QuotaRec:
    """A quota row: ``program``'s nominal GPUs of ``gpu_type`` from ``effective`` on
    (None: from the plan's start), with the borrowing and lending limits that Kueue enacts."""

    program: str
    gpu_type: str
    effective: datetime | None
    nominal: int
    borrowing_limit: int | None = None  # None: no limit (Kueue's; Slurm has none)
    lending_limit: int | None = None  # None: all of it may be lent


@dataclass(frozen=True)
class PoolRec:
    name: str
    owner: str
    gpu_type: str
    gpus_per_node: int


@dataclass(frozen=True)
class TransferRec:
    """A transfer of the plan (approved, active or ended), programs resolved as the plan
    resolves them (a transfer that names none moves its entity's first program's)."""

    id: int | None
    name: str
    state: str
    pool: str
    gpus: int
    giver: str  # program
    taker: str  # program
    start: datetime
    end: datetime | None
    approvals: tuple[ApprovalNote, ...] = ()

    def in_force(self, at: datetime) -> bool:
        """In force over [start, end): the register's own reading of a transfer's window."""
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True)
class RegisterRows:
    programs: tuple[ProgramRec, ...]
    quotas: tuple[QuotaRec, ...]
    pools: tuple[PoolRec, ...]
    transfers: tuple[TransferRec, ...]

    def program(self, name: str) -> ProgramRec | None:
        return next((p for p in self.programs if p.name == name), None)

    def pool(self, name: str) -> PoolRec | None:
        return next((p for p in self.pools if p.name == name), None)


def _instant(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return (
        at.replace(tzinfo=None) if at.tzinfo is None else at.astimezone(None).replace(tzinfo=None)
    )


def read_rows(s: Session) -> RegisterRows:
    """The register's programs, quotas, pools and in-plan transfers (with approvals)."""
    if s.get(Plan, 1) is None:
        raise InputError(
            "the register is empty: there is nothing to enact "
            "(expected `gpufleet db seed SCENARIO [--governance FILE]` first)"
        )
    entity = {e.id: e.name for e in s.scalars(select(EntityRow))}
    programs = list(s.scalars(select(ProgramRow).order_by(ProgramRow.id)))
    program_name = {p.id: p.name for p in programs}
    quotas = s.scalars(select(QuotaRow).order_by(QuotaRow.id))
    pools = list(s.scalars(select(Pool).order_by(Pool.id)))
    return RegisterRows(
        programs=tuple(ProgramRec(p.name, entity[p.entity_id], p.weight) for p in programs),
        quotas=tuple(
            QuotaRec(
                program_name[q.program_id],
                q.gpu_type,
                _instant(q.effective) if q.effective else None,
                q.nominal,
                q.borrowing_limit,
                q.lending_limit,
            )
            for q in quotas
        ),
        pools=tuple(
            PoolRec(p.name, entity[p.owner_id], p.gpu_type, p.gpus_per_node) for p in pools
        ),
        transfers=_transfers(s, {p.id: p.name for p in pools}),
    )


def _transfers(s: Session, pool_name: dict[int, str]) -> tuple[TransferRec, ...]:
    resolved = {t.name: t for t in plan_scenario(s).transfers}
    person = {p.id: p.name for p in s.scalars(select(PersonRow))}
    rows = s.scalars(
        select(TransferRow)
        .where(TransferRow.state.in_([st.value for st in IN_PLAN]))
        .order_by(TransferRow.start, TransferRow.id)
    )
    out = []
    for t in rows:
        plan = resolved[t.name]
        approvals = tuple(
            ApprovalNote(person.get(a.person_id, str(a.person_id)), a.decision, a.at.isoformat())
            for a in s.scalars(
                select(Approval).where(Approval.transfer_id == t.id).order_by(Approval.id)
            )
        )
        out.append(
            TransferRec(
                t.id,
                t.name,
                t.state,
                pool_name[t.pool_id],
                t.gpus,
                plan.from_program,
                plan.to_program,
                plan.start,
                plan.end,
                approvals,
            )
        )
    return tuple(out)

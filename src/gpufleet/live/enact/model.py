"""The desired state's vocabulary: what a Slurm cluster should hold so that it enforces the
register at an instant, each element with the register's rows that cause it.

A :class:`DesiredState` is a frozen value: a tuple of :class:`Setting` (one attribute of one
account: its parent, its fair-share, one GPU cap) and of :class:`DesiredReservation`. Every
element carries its causes (:data:`Cause`): the mapping line that makes an account, the
program's weight, the quota row, the transfer (with its approvals) that moves quota or
gives nodes for a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

PARENT = "parent"
FAIRSHARE = "fairshare"
GPU_TRES = "gres/gpu"


class GpuLimitStyle(StrEnum):
    """How the cluster writes a GPU cap: ``GrpTRES=gres/gpu=N`` (``total``, the dev
    cluster's convention) or ``GrpTRES=gres/gpu:h100=N`` per type (``typed``)."""

    TOTAL = "total"
    TYPED = "typed"


class LeaseStyle(StrEnum):
    """What a transfer changes on the cluster: only the two programs' caps (``quota``), or
    also a reservation of the giver's nodes for the taker's account over the transfer's
    window (``reservation``; the transfer's GPUs must be whole nodes of its pool)."""

    QUOTA = "quota"
    RESERVATION = "reservation"


@dataclass(frozen=True)
class ClusterSettings:
    """Per cluster: its name (Slurm's ClusterName), the conventions above, the root account,
    and ``fairshare_scale``: a program's Slurm shares are ``round(weight * scale)``."""

    cluster: str
    gpu_limits: GpuLimitStyle = GpuLimitStyle.TOTAL
    leases: LeaseStyle = LeaseStyle.QUOTA
    root: str = "root"
    fairshare_scale: int = 100


@dataclass(frozen=True)
class MappingCause:
    """The mapping's line ``slurm.accounts.ACCOUNT: {entity, program}``."""

    account: str
    entity: str
    program: str | None

    def text(self) -> str:
        who = f"{self.entity}/{self.program}" if self.program else self.entity
        return f"mapping: account {self.account} is {who}"


@dataclass(frozen=True)
class WeightCause:
    program: str
    weight: float

    def text(self) -> str:
        return f"register: program {self.program} weight {self.weight:g}"


NO_ROW = "no quota row"


@dataclass(frozen=True)
class QuotaCause:
    """The register's quota row in force: (program, type, effective) is its unique key."""

    program: str
    gpu_type: str
    nominal: int
    effective: str  # the row's date, or "plan start"

    def text(self) -> str:
        if self.effective == NO_ROW:
            return f"quota: {self.program} has no {self.gpu_type} quota row (0)"
        return (
            f"quota: {self.program} {self.gpu_type} nominal {self.nominal} "
            f"(effective {self.effective})"
        )


@dataclass(frozen=True)
class ApprovalNote:
    person: str
    decision: str
    at: str


@dataclass(frozen=True)
class TransferCause:
    """A transfer in force at the instant, with what it moves and who approved it."""

    transfer_id: int | None
    name: str
    state: str
    gpus: int
    gpu_type: str
    pool: str
    giver: str  # program
    taker: str  # program
    start: str
    end: str | None
    approvals: tuple[ApprovalNote, ...] = ()

    def text(self) -> str:
        ref = f"transfer #{self.transfer_id}" if self.transfer_id is not None else "transfer"
        window = f"{self.start} -> {self.end or 'open'}"
        return (
            f"{ref} {self.name!r} ({self.state}): {self.gpus} {self.gpu_type} of {self.pool} "
            f"{self.giver} -> {self.taker}, {window}"
        )


Cause = MappingCause | WeightCause | QuotaCause | TransferCause


def cause_dict(c: Cause) -> dict[str, Any]:
    """A cause as JSON (the plan's ``--json`` and the audit records)."""
    kind = {
        MappingCause: "mapping",
        WeightCause: "weight",
        QuotaCause: "quota",
        TransferCause: "transfer",
    }[type(c)]
    out: dict[str, Any] = {"kind": kind, "text": c.text()}
    for k, v in c.__dict__.items():
        out[k] = [a.__dict__ for a in v] if k == "approvals" else v
    return out


Value = str | int | None
"""A setting's value: a parent's name, shares, a GPU cap; None: no cap."""


@dataclass(frozen=True)
class Setting:
    """One attribute of one account: ``parent``, ``fairshare``, ``gres/gpu`` or
    ``gres/gpu:TYPE`` (a GrpTRES cap; None: no cap)."""

    account: str
    attribute: str
    value: Value
    causes: tuple[Cause, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.attribute)


@dataclass(frozen=True)
class DesiredReservation:
    """A reservation of ``nodes`` for ``accounts`` over [start, end)."""

    name: str
    accounts: tuple[str, ...]
    nodes: tuple[str, ...]
    start: datetime
    end: datetime
    causes: tuple[Cause, ...] = ()


@dataclass(frozen=True)
class DesiredState:
    """What the cluster should hold at ``at``. ``notes``: what the register says that this
    cluster cannot carry (a transfer of a program with no account here, ...)."""

    cluster: str
    at: datetime
    settings: tuple[Setting, ...]
    reservations: tuple[DesiredReservation, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def setting(self, account: str, attribute: str) -> Setting | None:
        return next((s for s in self.settings if s.key == (account, attribute)), None)

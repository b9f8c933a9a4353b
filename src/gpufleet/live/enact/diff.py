"""The diff of a desired state with what the cluster holds: the changes, in the order they
are applied, each with its before, after and causes.

Order: accounts added (parents first), parents moved, shares, GPU caps lowered, GPU caps
raised, then reservations deleted, updated, created. Lowering before raising means that
while a quota moves between two accounts their caps never add up to more than the
register grants. An account the cluster has and the desired state does not name is left
alone (never deleted: its jobs and usage history hang off it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gpufleet.live.enact.current import AccountNow, ClusterNow
from gpufleet.live.enact.model import (
    FAIRSHARE,
    PARENT,
    Cause,
    DesiredReservation,
    DesiredState,
    Setting,
    Value,
)
from gpufleet.live.slurm.reservations import Reservation

DEFAULT_SHARES = 1
"""Shares of a new account (sacctmgr's default, https://slurm.schedmd.com/sacctmgr.html)."""


class Kind(StrEnum):
    ADD_ACCOUNT = "add-account"
    SET = "set"
    CREATE_RESERVATION = "create-reservation"
    UPDATE_RESERVATION = "update-reservation"
    DELETE_RESERVATION = "delete-reservation"


@dataclass(frozen=True)
class ReservationSpec:
    """What gpufleet sets of a reservation (and what it compares)."""

    accounts: tuple[str, ...]
    nodes: str
    start: str  # ISO, UTC
    end: str


@dataclass(frozen=True)
class Change:
    kind: Kind
    target: str  # the account or reservation
    attribute: str  # PARENT, FAIRSHARE, a GPU TRES; "" for accounts and reservations
    before: Value | ReservationSpec
    after: Value | ReservationSpec
    causes: tuple[Cause, ...] = ()

    @property
    def lowers_cap(self) -> bool:
        b, a = self.before, self.after
        return (
            self.kind is Kind.SET
            and self.attribute.startswith("gres/")
            and a is not None
            and (b is None or (isinstance(a, int) and isinstance(b, int) and a < b))
        )


def _cap_order(c: Change) -> int:
    return 0 if c.lowers_cap else 1


def diff(desired: DesiredState, now: ClusterNow) -> tuple[Change, ...]:
    adds = _adds(desired, now)
    added = {c.target for c in adds}
    sets = [c for s in desired.settings if (c := _set(s, now.accounts.get(s.account), added))]
    parents = [c for c in sets if c.attribute == PARENT]
    shares = [c for c in sets if c.attribute == FAIRSHARE]
    caps = sorted((c for c in sets if c.attribute not in (PARENT, FAIRSHARE)), key=_cap_order)
    return (*adds, *parents, *shares, *caps, *_reservations(desired, now))


def _adds(desired: DesiredState, now: ClusterNow) -> list[Change]:
    """New accounts, each after its parent (the root's children first)."""
    parents = {s.account: s for s in desired.settings if s.attribute == PARENT}
    out: list[Change] = []
    done = set(now.accounts)
    while pending := [s for a, s in parents.items() if a not in done]:
        ready = [s for s in pending if s.value in done]
        if not ready:
            cycle = ", ".join(f"{s.account} under {s.value}" for s in pending)
            raise ValueError(f"accounts whose parents never exist: {cycle}")
        for s in ready:
            out.append(Change(Kind.ADD_ACCOUNT, s.account, "", None, s.value, s.causes))
            done.add(s.account)
    return out


def _set(s: Setting, account: AccountNow | None, added: set[str]) -> Change | None:
    if account is None:
        if s.attribute == PARENT:
            return None  # the add gives it its parent
        before: Value = DEFAULT_SHARES if s.attribute == FAIRSHARE else None
    else:
        before = account.value(s.attribute)
    if before == s.value:
        return None
    return Change(Kind.SET, s.account, s.attribute, before, s.value, s.causes)


def spec_of_desired(r: DesiredReservation) -> ReservationSpec:
    return ReservationSpec(r.accounts, ",".join(r.nodes), r.start.isoformat(), r.end.isoformat())


def spec_of_current(r: Reservation) -> ReservationSpec:
    naive = r.start.replace(tzinfo=None).isoformat(), r.end.replace(tzinfo=None).isoformat()
    return ReservationSpec(r.accounts, r.nodes, *naive)


def _same(d: ReservationSpec, c: ReservationSpec, desired: DesiredState) -> bool:
    """Equal in accounts, nodes and end; the start too while it is ahead (a reservation
    created after its window began starts when it was created)."""
    ahead = d.start > desired.at.isoformat()
    return (d.accounts, d.nodes, d.end) == (c.accounts, c.nodes, c.end) and (
        not ahead or d.start == c.start
    )


def _reservations(desired: DesiredState, now: ClusterNow) -> list[Change]:
    want = {r.name: r for r in desired.reservations}
    out = [
        Change(Kind.DELETE_RESERVATION, name, "", spec_of_current(r), None)
        for name, r in sorted(now.reservations.items())
        if name not in want
    ]
    for name, r in want.items():
        spec = spec_of_desired(r)
        have = now.reservations.get(name)
        if have is None:
            out.append(Change(Kind.CREATE_RESERVATION, name, "", None, spec, r.causes))
        elif not _same(spec, spec_of_current(have), desired):
            out.append(
                Change(Kind.UPDATE_RESERVATION, name, "", spec_of_current(have), spec, r.causes)
            )
    return out

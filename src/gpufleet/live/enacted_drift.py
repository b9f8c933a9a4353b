"""Drift on a scheduler's enforced settings, as the enactment recorded it: the third kind
of drift beside the GPU counts and the caps against the plan's quota
(:mod:`gpufleet.live.findings`), shown by ``gpufleet status`` and ``GET /live/findings``.

The enact worker and ``gpufleet apply slurm --apply`` audit each setting changed outside
gpufleet once (``enact-drift``: target, attribute, the value found, the register's, who
changed it and when, from Slurm's transaction log; docs/enact.md). One is **current**
until a later record of the same cluster, account and attribute says otherwise, in the
audit log's order:

- an ``enact-change`` of that setting (``--enforce`` reverted it, or a scheduled change
  made it): no longer current;
- an ``enact-rollback`` that put back, on that setting, the value the drift found (the
  change that reverted it was rolled back): current again;
- a newer ``enact-drift`` of that setting: it replaces the older.

What the log cannot say: a setting put back by hand to the register's value is current
here until the next enactment runs on it; the worker's own state
(``GET /live/status``'s ``poller.enact.drift``) is the one read at its last tick.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpufleet.governance.store.models import AuditRecord
from gpufleet.live.enact.journal import OBJECT_TYPE

ACTIONS = ("enact-drift", "enact-change", "enact-rollback")


@dataclass(frozen=True)
class EnactDrift:
    cluster: str
    target: str  # the Slurm account (or gpufleet's reservation)
    attribute: str  # gres/gpu, fairshare, parent, a reservation's ''
    found: object
    desired: object
    actor: str | None  # who changed it, from Slurm's log (None: not recorded there)
    changed_at: str | None
    seen_at: str  # when gpufleet audited it (the audit record's instant, ISO 8601)
    seq: int  # its audit record
    message: str


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    at: str
    action: str
    cluster: str
    before: dict[str, Any]
    after: dict[str, Any]


def current(entries: Iterable[JournalEntry]) -> tuple[EnactDrift, ...]:
    """The drift still current after ``entries`` (in the audit log's order), oldest first."""
    now: dict[tuple[str, str, str], EnactDrift] = {}
    cleared: dict[tuple[str, str, str], EnactDrift] = {}
    for e in entries:
        side = e.before if e.action == "enact-rollback" else e.after
        key = (e.cluster, str(side.get("target", "")), str(side.get("attribute", "")))
        if e.action == "enact-drift":
            now[key] = _drift(e)
            cleared.pop(key, None)
        elif e.action == "enact-change" and key in now:
            cleared[key] = now.pop(key)
        elif (
            e.action == "enact-rollback"
            and key in cleared
            and e.after.get("value") == cleared[key].found
        ):
            now[key] = cleared.pop(key)
    return tuple(sorted(now.values(), key=lambda d: d.seq))


def _drift(e: JournalEntry) -> EnactDrift:
    b = e.after
    return EnactDrift(
        cluster=e.cluster,
        target=str(b.get("target", "")),
        attribute=str(b.get("attribute", "")),
        found=b.get("found"),
        desired=b.get("desired"),
        actor=b.get("actor"),
        changed_at=b.get("changed_at"),
        seen_at=e.at,
        seq=e.seq,
        message=str(b.get("text", "")),
    )


def read_current(s: Session) -> tuple[EnactDrift, ...]:
    """The current enactment drift of every cluster in the register's audit log."""
    q = (
        select(AuditRecord)
        .where(AuditRecord.object_type == OBJECT_TYPE, AuditRecord.action.in_(ACTIONS))
        .order_by(AuditRecord.seq)
    )
    return current(
        JournalEntry(r.seq, r.at, r.action, r.object_id, _body(r.before), _body(r.after))
        for r in s.scalars(q)
    )


def _body(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else None
    return value if isinstance(value, dict) else {}


def as_json(d: EnactDrift) -> dict[str, Any]:
    return {
        "cluster": d.cluster,
        "target": d.target,
        "attribute": d.attribute,
        "found": d.found,
        "desired": d.desired,
        "actor": d.actor,
        "changed_at": d.changed_at,
        "seen_at": d.seen_at,
        "audit_seq": d.seq,
        "message": d.message,
    }

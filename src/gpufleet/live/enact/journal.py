"""The apply's journal, kept in the register's hash-chained audit log (object type
``slurm-cluster``, id the cluster's name), written ahead of every change:

1. ``enact-begin``: the run's id, the instant enacted, and every change in order with its
   before, after, causes, the command that makes it and **its exact inverse**. Written
   before the cluster is touched; if it cannot be written the apply stops there.
2. ``enact-change``: after each change succeeded: before, after, the command, and the
   transfers and approvals it enacts (the causes).
3. ``enact-rollback``: after each inverse run on a failure, in reverse order.
4. ``enact-end``: the outcome (``applied``, ``rolled-back``, ``rollback-failed``,
   ``finished-by`` a later run, ``recovered-rolled-back``), the failing command and its
   stderr.

A run with a begin and no end was cut short (``kill -9``, a lost machine). The next run
finds it (:func:`unfinished`) and compares each of its changes with the cluster
(:func:`assess`): all at their before is the **old state**, all at their after the **new
state**, anything else **partly** (naming the changes applied); then it finishes it (the
new diff completes it) or rolls back the applied ones with the recorded inverses.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gpufleet.errors import GpufleetError
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord
from gpufleet.live.enact.commands import Argv
from gpufleet.live.enact.current import ClusterNow
from gpufleet.live.enact.diff import Change, Kind, ReservationSpec, spec_of_current
from gpufleet.live.enact.model import TransferCause, cause_dict

OBJECT_TYPE = "slurm-cluster"


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _plain(v: object) -> object:
    return asdict(v) if isinstance(v, ReservationSpec) else v


def change_dict(n: int, c: Change, forward: Argv, inverse: Argv) -> dict[str, Any]:
    return {
        "n": n,
        "kind": c.kind.value,
        "target": c.target,
        "attribute": c.attribute,
        "before": _plain(c.before),
        "after": _plain(c.after),
        "causes": [cause_dict(x) for x in c.causes],
        "transfers": sorted(
            {x.transfer_id for x in c.causes if isinstance(x, TransferCause) and x.transfer_id}
        ),
        "forward": list(forward),
        "inverse": list(inverse),
    }


class JournalError(GpufleetError):
    """The audit log could not be written: the apply stops at that point (before the
    cluster is touched, for the run's first record)."""


class Journal:
    """Appends a run's records; every append is its own committed transaction, so what
    was written survives the process."""

    def __init__(self, store: Store, actor: str, cluster: str, run: str | None = None) -> None:
        self.store, self.actor, self.cluster = store, actor, cluster
        self.run = run or new_run_id()

    def _append(self, action: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        try:
            with self.store.write(self.actor) as tx:
                tx.audit(action, OBJECT_TYPE, self.cluster, before, {"run": self.run, **after})
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise JournalError(f"the audit log could not be written ({action}): {reason}") from exc

    def begin(
        self,
        at: datetime,
        changes: list[dict[str, Any]],
        notes: tuple[str, ...],
        desired: list[list[Any]] | None = None,
    ) -> None:
        """``desired``: every (account, attribute, value) the run enacts toward (the
        worker's baseline after a restart, :func:`last_desired`)."""
        body = {"at": at.isoformat(), "changes": changes, "notes": list(notes)}
        self._append("enact-begin", None, body | ({"desired": desired} if desired else {}))

    def change(self, step: dict[str, Any]) -> None:
        before = {"target": step["target"], "attribute": step["attribute"], "value": step["before"]}
        after = {
            k: step[k]
            for k in ("n", "kind", "target", "attribute", "causes", "transfers", "forward")
        }
        self._append("enact-change", before, {**after, "value": step["after"]})

    def rollback(self, step: dict[str, Any]) -> None:
        before = {"target": step["target"], "attribute": step["attribute"], "value": step["after"]}
        self._append(
            "enact-rollback",
            before,
            {"n": step["n"], "inverse": step["inverse"], "value": step["before"]},
        )

    def end(self, outcome: str, **detail: Any) -> None:
        self._append("enact-end", None, {"outcome": outcome, **detail})


@dataclass(frozen=True)
class Unfinished:
    run: str
    seq: int
    at: str
    changes: list[dict[str, Any]]


def _records(store: Store, cluster: str) -> list[AuditRecord]:
    with store.read() as s:
        q = (
            select(AuditRecord)
            .where(AuditRecord.object_type == OBJECT_TYPE, AuditRecord.object_id == cluster)
            .where(AuditRecord.action.in_(("enact-begin", "enact-end")))
            .order_by(AuditRecord.seq)
        )
        return list(s.scalars(q))


def unfinished(store: Store, cluster: str) -> Unfinished | None:
    """The latest run on ``cluster`` that began and never ended, if any."""
    begun: dict[str, Unfinished] = {}
    for r in _records(store, cluster):
        body = json.loads(r.after)
        if r.action == "enact-begin":
            begun[body["run"]] = Unfinished(body["run"], r.seq, body["at"], body["changes"])
        else:
            begun.pop(body["run"], None)
    return max(begun.values(), key=lambda u: u.seq) if begun else None


def current_value(step: dict[str, Any], now: ClusterNow) -> object:
    """What the cluster holds now of the step's target, in the journal's terms."""
    kind = Kind(step["kind"])
    if kind is Kind.ADD_ACCOUNT:
        account = now.accounts.get(step["target"])
        return account.parent if account else None
    if kind is Kind.SET:
        account = now.accounts.get(step["target"])
        return account.value(step["attribute"]) if account else None
    held = now.reservations.get(step["target"])
    return asdict(spec_of_current(held)) if held else None


@dataclass(frozen=True)
class Assessment:
    """Where an unfinished run left the cluster: ``old``, ``new`` or ``partly``."""

    state: str
    applied: tuple[int, ...]  # the changes at their after
    neither: tuple[int, ...]  # changed since by someone else, or a reservation's start moved

    def text(self) -> str:
        if self.state == "old":
            return "old state: none of its changes is on the cluster"
        if self.state == "new":
            return "new state: all of its changes are on the cluster"
        out = f"partly: changes {', '.join(map(str, self.applied)) or 'none'} applied"
        if self.neither:
            out += f"; changes {', '.join(map(str, self.neither))} at neither before nor after"
        return out


def _comparable(value: object) -> object:
    """A reservation without its start (one created after its window began starts when
    it was created, not at the recorded start)."""
    return {k: v for k, v in value.items() if k != "start"} if isinstance(value, dict) else value


def assess(run: Unfinished, now: ClusterNow) -> Assessment:
    applied, before, neither = [], [], []
    for step in run.changes:
        value = _comparable(current_value(step, now))
        if value == _comparable(step["after"]):
            applied.append(step["n"])
        elif value == _comparable(step["before"]):
            before.append(step["n"])
        else:
            neither.append(step["n"])
    n = len(run.changes)
    state = "new" if len(applied) == n else "old" if len(before) == n else "partly"
    return Assessment(state, tuple(applied), tuple(neither))


def last_desired(store: Store, cluster: str) -> list[list[Any]] | None:
    """The desired values of the latest run that applied or never ended (the state the
    cluster was last brought toward), as the worker recorded them; None if none did."""
    begins: dict[str, list[list[Any]] | None] = {}
    ended: dict[str, str] = {}
    order: list[str] = []
    for r in _records(store, cluster):
        body = json.loads(r.after)
        if r.action == "enact-begin":
            begins[body["run"]] = body.get("desired")
            order.append(body["run"])
        else:
            ended[body["run"]] = body.get("outcome", "")
    for run in reversed(order):
        if ended.get(run) in (None, "applied", "finished-by"):
            return begins[run]
    return None

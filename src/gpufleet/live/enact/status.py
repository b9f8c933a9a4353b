"""What the worker and ``gpufleet apply slurm`` share beyond the apply: the sorting of a
diff into what to make and what is drift (:func:`classify`), and the journal's story for
``gpufleet apply slurm --status`` (:func:`journal_status`).

:func:`classify`: the scheduled changes (:func:`.schedule.split` against a baseline:
the worker's last tick, or the desired values journalled with the last run that applied
or never ended), plus every change of a run cut short (finished forward), are made; the
rest is drift, made too only with ``enforce``. No baseline anywhere (the first run on a
cluster): everything is scheduled, as the plain ``apply`` always was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord
from gpufleet.live.enact.current import read_cluster
from gpufleet.live.enact.diff import Change, diff
from gpufleet.live.enact.drift import DriftFinding
from gpufleet.live.enact.journal import OBJECT_TYPE, last_desired, unfinished
from gpufleet.live.enact.model import PARENT, DesiredState
from gpufleet.live.enact.schedule import Key, as_rows, change_key, desired_values, from_rows, split
from gpufleet.live.runner import CommandRunner


@dataclass(frozen=True)
class Sorted:
    keys: frozenset[Key]  # the changes to make
    drift: tuple[Change, ...]
    values: dict[Key, object]  # the desired values (the next baseline)

    def keep(self, c: Change) -> bool:
        return change_key(c) in self.keys

    @property
    def baseline(self) -> list[list[object]]:
        return as_rows(self.values)


def journal_baseline(store: Store, cluster: str) -> dict[Key, object] | None:
    rows = last_desired(store, cluster)
    return from_rows(rows) if rows else None


def classify(
    store: Store,
    runner: CommandRunner,
    desired: DesiredState,
    enforce: bool,
    baseline: Mapping[Key, object] | None = None,
    from_journal: bool = True,
) -> Sorted:
    """``baseline`` None and ``from_journal``: the journal's."""
    if baseline is None and from_journal:
        baseline = journal_baseline(store, desired.cluster)
    values = desired_values(desired)
    parts = split(diff(desired, read_cluster(runner, desired.cluster)), values, baseline)
    cut = unfinished(store, desired.cluster)
    cut_keys = {
        (str(c["target"]), PARENT if c["kind"] == "add-account" else str(c["attribute"]))
        for c in (cut.changes if cut else [])
    }
    drift = tuple(c for c in parts.drift if change_key(c) not in cut_keys)
    keys = {change_key(c) for c in parts.scheduled} | cut_keys
    if enforce:
        keys |= {change_key(c) for c in drift}
    return Sorted(frozenset(keys), drift, values)


@dataclass(frozen=True)
class JournalLine:
    seq: int
    at: str
    actor: str
    action: str
    text: str


def _line_text(action: str, body: dict[str, Any]) -> str:
    if action == "enact-begin":
        return f"run {body['run']} begins: {len(body['changes'])} change(s) at {body['at']}"
    if action == "enact-change":
        return f"run {body['run']}: {body['target']} {body['attribute']} -> {body['value']}"
    if action == "enact-rollback":
        return f"run {body['run']}: change {body['n']} undone -> {body['value']}"
    if action == "enact-end":
        extra = f" by {body['by']}" if "by" in body else ""
        return f"run {body['run']} ends {body['outcome']}{extra}"
    return str(body.get("text", ""))


def journal_status(store: Store, cluster: str, last: int = 30) -> list[JournalLine]:
    """The latest ``last`` enactment records of ``cluster`` (runs and drift), oldest first."""
    with store.read() as s:
        q = (
            select(AuditRecord)
            .where(AuditRecord.object_type == OBJECT_TYPE, AuditRecord.object_id == cluster)
            .order_by(AuditRecord.seq.desc())
            .limit(last)
        )
        rows = list(s.scalars(q))
    return [
        JournalLine(r.seq, str(r.at), r.actor, r.action, _line_text(r.action, json.loads(r.after)))
        for r in reversed(rows)
    ]


def render_status(lines: list[JournalLine]) -> str:
    if not lines:
        return "no enactment recorded for this cluster\n"
    return "".join(f"#{x.seq} {x.at} {x.actor} {x.action}: {x.text}\n" for x in lines)


def audit_drift(
    store: Store, actor: str, cluster: str, found: tuple[DriftFinding, ...], enforce: bool
) -> int:
    """Audit each finding not audited before (``enact-drift``, keyed by target, attribute,
    value found and when it was changed); returns how many were new."""
    with store.read() as s:
        q = select(AuditRecord.after).where(
            AuditRecord.object_type == OBJECT_TYPE,
            AuditRecord.object_id == cluster,
            AuditRecord.action == "enact-drift",
        )
        seen = {json.loads(a).get("key", "") for a in s.scalars(q)}
    new = [f for f in found if f.key not in seen]
    for f in new:
        with store.write(actor) as tx:
            body = f.as_dict() | {"key": f.key, "enforced": enforce}
            tx.audit("enact-drift", OBJECT_TYPE, cluster, None, body)
    return len(new)

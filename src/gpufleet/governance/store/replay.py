"""Replaying the audit log against the rows: what the chain cannot see.

The chain proves the log was not rewritten; it says nothing about a row changed behind the
log's back (a transfer flipped to ``approved`` with SQL, a token row inserted by hand).
Every audited mutation stores the row as :func:`audit.row_dict` wrote it (``after``; ``None``
for a delete), so replaying the log gives, for every row it ever saw, the row as it must be
now. :func:`check_rows` compares that with every row of every audited table and names

- each row whose fields differ from the log's last word (field by field);
- each row the log never saw (inserted outside it);
- each row the log says exists but is gone (deleted outside it), or says was deleted but
  is there;
- each record whose ``before`` is not the row the previous record left: the row was
  changed outside the log in between, even if an audited change came after.

Which object_type is which table (:data:`AUDITED`) comes from every ``tx.audit(...)`` call.
Object ids are spelled by name for register kinds looked up by name (site, entity, ...)
and by number for the rest, and a rename changes the name; so rows are keyed here by the
primary key ``id`` that every ``before``/``after`` carries, not by ``object_id``.

Not compared, each for a reason (:data:`NOT_COMPARED`): ``tokens.last_used_at`` changes on
every use and is not audited (a record per request would flood the log); a finished run's
``result`` is committed by SHA-256 and size (:func:`result_digest`, the same formula as
:func:`gpufleet.governance.runs.queue.result_digest`), so that is what is compared.
``transfer_steps`` rows are not audited themselves: each transfer record has exactly one
step, so their number, states and actor are checked against the transfer records
(:func:`_check_steps`); a step's ``at`` and ``note`` are committed by no record.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, select
from sqlalchemy.orm import Session

from gpufleet.governance.store import audit
from gpufleet.governance.store.canonical import canonical
from gpufleet.governance.store.models import (
    Approval,
    Base,
    EntityRow,
    GroupRules,
    LiveCapacityRow,
    LiveConfigRow,
    LiveDemandRow,
    LiveDownNodeRow,
    LiveFailureRow,
    LiveQuotaRow,
    LiveSampleRow,
    LiveUnmappedRow,
    LiveUsageRow,
    MeterRow,
    PersonRole,
    PersonRow,
    Plan,
    Pool,
    ProgramRow,
    QuotaRow,
    Run,
    SiteRow,
    StatementRow,
    Token,
    TransferRow,
    TransferStep,
)

# object_type (as tx.audit names it) -> its table's model
AUDITED: dict[str, type[Base]] = {
    "plan": Plan,
    "group": GroupRules,
    "site": SiteRow,
    "entity": EntityRow,
    "program": ProgramRow,
    "quota": QuotaRow,
    "pool": Pool,
    "person": PersonRow,
    "role": PersonRole,
    "transfer": TransferRow,
    "approval": Approval,
    "run": Run,
    "token": Token,
    "live-config": LiveConfigRow,
    "statement": StatementRow,
}
# object types of records about things outside the database, and why no row is replayed:
# the record is the only copy, kept by the chain
EXTERNAL: dict[str, str] = {
    "slurm-cluster": "a change gpufleet made on a Slurm cluster (docs/enact.md): the cluster "
    "holds the state, and is compared with the desired state, not with a row",
    "meter-period": "the digest of a period's metered rows (docs/metering.md): the rows are "
    "measurements, replaced when the period is metered again; the record says what they were",
}
# tables that are not replayed row for row, and why
NOT_REPLAYED: dict[str, str] = {
    "audit_log": "the log itself (the chain and the anchors check it)",
    "audit_head": "the chain's head (the chain checks it against the log's last record)",
    TransferStep.__tablename__: "not audited itself: checked against the transfer records",
    **{
        m.__tablename__: "live observations are measurements, not audited (docs/live.md)"
        for m in (
            LiveSampleRow,
            LiveCapacityRow,
            LiveUsageRow,
            LiveDemandRow,
            LiveQuotaRow,
            LiveDownNodeRow,
            LiveUnmappedRow,
            LiveFailureRow,
        )
    },
    MeterRow.__tablename__: "metered GPU-seconds are measurements re-read from sacct and DCGM; "
    "each metering's digest is audited (meter-period)",
}
# (table, column) -> why it is left out of the comparison
NOT_COMPARED: dict[tuple[str, str], str] = {
    ("tokens", "last_used_at"): "updated on every use of the token, without an audit record",
}
_DIGEST_KEYS = {"sha256", "bytes"}


def result_digest(result: Any) -> dict[str, Any]:
    """A run result as its ``finish`` record commits to it: SHA-256 and size of its
    canonical JSON."""
    text = canonical(result).encode()
    return {"sha256": hashlib.sha256(text).hexdigest(), "bytes": len(text)}


@dataclass(frozen=True)
class RowDiff:
    """One row (or record) where the data and the log disagree."""

    table: str
    id: int | None
    label: str
    problem: str

    def render(self) -> str:
        if self.table == "audit_log":  # a record the replay cannot place: says which
            return self.problem
        row = f"{self.table} row {self.id}" if self.id is not None else self.table
        return f"{row}{self.label}: {self.problem}"


@dataclass(frozen=True)
class RowsVerdict:
    ok: bool
    rows: int
    tables: int
    diffs: tuple[RowDiff, ...] = ()

    def render(self) -> str:
        if self.ok:
            return f"rows agree: {self.rows} rows of {self.tables} tables match the log's replay"
        head = f"rows differ from the log: {len(self.diffs)} problem(s)"
        return "\n".join([head] + ["  " + d.render() for d in self.diffs])


@dataclass
class _Seen:
    seq: int
    action: str
    row: dict[str, Any] | None  # None: deleted


# --- normalizing a row's values ------------------------------------------------------------


def _columns(model: type[Base]) -> dict[str, Any]:
    return {c.key: c.type for c in model.__table__.columns}


def _norm(kind: Any, v: Any) -> Any:
    """One value as every path writes it: times as aware UTC ISO (SQLite reads them back
    naive), floats as floats (an int given for a Float column stays an int in memory)."""
    if v is None:
        return None
    if isinstance(kind, DateTime):
        t = datetime.fromisoformat(v) if isinstance(v, str) else v
        if not isinstance(t, datetime):
            return v
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(kind, Float) and isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return v


def _normal(model: type[Base], row: dict[str, Any]) -> dict[str, Any]:
    table = model.__tablename__
    cols = _columns(model)
    return {k: _norm(cols.get(k), v) for k, v in row.items() if (table, k) not in NOT_COMPARED}


def _same(model: type[Base], field: str, logged: Any, current: Any) -> bool:
    if (
        model is Run
        and field == "result"
        and isinstance(logged, dict)
        and set(logged) == _DIGEST_KEYS
        and current is not None
    ):
        return bool(result_digest(current) == logged)
    return bool(logged == current)


def _show(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _field_diffs(
    model: type[Base], logged: dict[str, Any], current: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """(field, the log's value, the current value) for each field that differs, shown."""
    out = []
    for f in sorted(set(logged) | set(current)):
        a, b = logged.get(f), current.get(f)
        if not _same(model, f, a, b):
            if model is Run and f == "result" and isinstance(a, dict) and set(a) == _DIGEST_KEYS:
                b = result_digest(b) if b is not None else None
            out.append((f, _show(a), _show(b)))
    return out


def _label(row: dict[str, Any] | None) -> str:
    name = (row or {}).get("name")
    return f" ({name!r})" if isinstance(name, str) else ""


# --- replay --------------------------------------------------------------------------------


@dataclass
class Replay:
    """The log replayed: each row's last state, and what the log itself got wrong."""

    seen: dict[tuple[str, int], _Seen]
    diffs: list[RowDiff]
    transfer_records: dict[int, list[tuple[int, str, str | None, str | None]]]
    records: int


def replay(records: Iterable[dict[str, Any]]) -> Replay:
    """Replay stored records (``before``/``after`` as JSON text) in ``seq`` order."""
    r = Replay({}, [], defaultdict(list), 0)
    for rec in records:
        r.records += 1
        _apply(r, rec)
    return r


def _apply(r: Replay, rec: dict[str, Any]) -> None:
    seq, otype = rec["seq"], rec["object_type"]
    if otype in EXTERNAL:
        return
    model = AUDITED.get(otype)
    if model is None:
        what = f"record {seq}: object_type {otype!r} names no audited table"
        r.diffs.append(RowDiff("audit_log", seq, "", what))
        return
    before, after = json.loads(rec["before"]), json.loads(rec["after"])
    row = after if after is not None else before
    rid = row.get("id") if isinstance(row, dict) else None
    if not isinstance(rid, int):
        what = f"record {seq} ({rec['action']} {otype}): its row has no integer id"
        r.diffs.append(RowDiff("audit_log", seq, "", what))
        return
    table = model.__tablename__
    prev = r.seen.get((table, rid))
    if prev is not None and before is not None and prev.row is not None:
        changed = _field_diffs(model, _normal(model, prev.row), _normal(model, before))
        if changed:
            r.diffs.append(RowDiff(table, rid, _label(before), _between(prev, seq, changed)))
    r.seen[(table, rid)] = _Seen(seq, rec["action"], after)
    if model is TransferRow:
        was = before.get("state") if isinstance(before, dict) else None
        now = after.get("state") if isinstance(after, dict) else None
        r.transfer_records[rid].append((seq, rec["actor"], was, now))


def _between(prev: _Seen, seq: int, changed: list[tuple[str, str, str]]) -> str:
    told = "; ".join(f"{f} {a} -> {b}" for f, a, b in changed)
    return (
        f"changed outside the log between records {prev.seq} and {seq} (record {seq}'s "
        f"before is not what record {prev.seq} left): {told}"
    )


# --- comparing with the rows ---------------------------------------------------------------


def check_rows(s: Session, records: Iterable[dict[str, Any]]) -> RowsVerdict:
    """Replay ``records`` and compare with every row of every audited table."""
    r = replay(records)
    diffs = list(r.diffs)
    rows = 0
    for model in AUDITED.values():
        current = {row.id: audit.row_dict(row) for row in s.scalars(select(model))}  # type: ignore[attr-defined]
        rows += len(current)
        diffs += _compare_table(model, current, r.seen)
    step_rows, step_diffs = _check_steps(s, r.transfer_records)
    rows += step_rows
    diffs += step_diffs
    return RowsVerdict(not diffs, rows, len(AUDITED) + 1, tuple(diffs))


def _compare_table(
    model: type[Base], current: dict[int, dict[str, Any]], seen: dict[tuple[str, int], _Seen]
) -> list[RowDiff]:
    table = model.__tablename__
    out = []
    logged_ids = {rid for (t, rid) in seen if t == table}
    for rid in sorted(set(current) | logged_ids):
        row, last = current.get(rid), seen.get((table, rid))
        label = _label(row or (last.row if last else None))
        if last is None:
            out.append(RowDiff(table, rid, label, "no audit record (inserted outside the log)"))
        elif row is None and last.row is not None:
            why = f"the log (record {last.seq}, {last.action}) says it exists; it is gone"
            out.append(RowDiff(table, rid, label, why + " (deleted outside the log)"))
        elif row is not None and last.row is None:
            why = f"the log deleted it at record {last.seq}; it is there (put back outside the log)"
            out.append(RowDiff(table, rid, label, why))
        elif row is not None and last.row is not None:
            changed = _field_diffs(model, _normal(model, last.row), _normal(model, row))
            if changed:
                told = "; ".join(f"{f} is {b}, the log says {a}" for f, a, b in changed)
                where = f" (as of record {last.seq}, {last.action})"
                out.append(RowDiff(table, rid, label, told + where))
    return out


def _check_steps(
    s: Session, transfer_records: dict[int, list[tuple[int, str, str | None, str | None]]]
) -> tuple[int, list[RowDiff]]:
    """Each transfer record has exactly one step, in the same order, with the same states
    and actor (``request``/``create``: from none; every later record: its before's state)."""
    table = TransferStep.__tablename__
    steps: dict[int, list[TransferStep]] = defaultdict(list)
    n = 0
    for step in s.scalars(select(TransferStep).order_by(TransferStep.id)):
        steps[step.transfer_id].append(step)
        n += 1
    out = []
    for tid in sorted(set(steps) | set(transfer_records)):
        recs, have = transfer_records.get(tid, []), steps.get(tid, [])
        for i in range(max(len(recs), len(have))):
            rec = recs[i] if i < len(recs) else None
            st = have[i] if i < len(have) else None
            out += _step_diff(table, tid, rec, st)
    return n, out


def _step_diff(
    table: str, tid: int, rec: tuple[int, str, str | None, str | None] | None, st: Any
) -> list[RowDiff]:
    if st is None:
        assert rec is not None
        why = f"transfer {tid}'s record {rec[0]} ({rec[2]} -> {rec[3]}) has no step (deleted)"
        return [RowDiff(table, None, "", why)]
    if rec is None:
        why = f"step of transfer {tid} ({st.from_state} -> {st.to_state}) has no transfer record"
        return [RowDiff(table, st.id, "", why + " (inserted outside the log)")]
    seq, actor, was, now = rec
    got = (st.from_state, st.to_state, st.actor)
    want = (was, now, actor)
    if got == want:
        return []
    why = f"step {got[0]} -> {got[1]} by {got[2]!r}, transfer {tid}'s record {seq} says "
    return [RowDiff(table, st.id, "", why + f"{want[0]} -> {want[1]} by {want[2]!r}")]

"""The append-only, hash-chained audit log.

Record ``n`` stores ``prev_hash`` = the hash of record ``n - 1`` (record 1: 64 zeros) and

    hash_n = SHA-256( canonical JSON of {seq, at, actor, action, object_type, object_id,
                                          before, after, prev_hash} )

where canonical JSON sorts keys, has no spaces and keeps non-ASCII as is. Editing a
record changes its hash; removing or reordering records breaks the ``prev_hash`` links
or the sequence; removing the last records leaves the head row (which every writer
updates in the same transaction) pointing past the log's end. :func:`verify` reports the
first record where any of these fails.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

# the log's vocabulary, kept where the export reader can share it; re-exported for readers
# of the log (audit.GENESIS, audit.canonical)
from gpufleet.governance.store.canonical import FIELDS, GENESIS, canonical, plain
from gpufleet.governance.store.export_format import parse_csv, parse_json
from gpufleet.governance.store.models import AuditHead, AuditRecord, Base


def row_dict(row: Base) -> dict[str, Any]:
    """A row's columns as plain JSON values: what an audit record's before/after holds."""
    out: dict[str, Any] = {}
    for col in row.__table__.columns:
        v = getattr(row, col.key)
        out[col.key] = plain(v) if isinstance(v, datetime | date | Enum) else v
    return out


def record_hash(fields: dict[str, Any]) -> str:
    body = {k: fields[k] for k in FIELDS if k != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def make_record(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    prev_hash: str,
) -> AuditRecord:
    fields: dict[str, Any] = {
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": canonical(before),
        "after": canonical(after),
        "prev_hash": prev_hash,
    }
    fields["hash"] = record_hash(fields)
    return AuditRecord(**fields)


def as_fields(r: AuditRecord) -> dict[str, Any]:
    return {k: getattr(r, k) for k in FIELDS}


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str = ""

    def render(self) -> str:
        if self.ok:
            return f"audit log intact: {self.records} records, chain and head agree"
        return f"audit log broken at record {self.first_bad_seq}: {self.problem}"


def verify_records(
    records: Iterable[dict[str, Any]],
    head: tuple[int, str] | None,
    start: tuple[int, str] = (0, GENESIS),
) -> ChainCheck:
    """Check a sequence of records (in ``seq`` order) and the head; name the first bad one.
    ``start``: the (seq, hash) the records follow (a checkpoint already checked)."""
    prev, expected_seq, n = start[1], start[0] + 1, 0
    for f in records:
        n += 1
        seq = f["seq"]
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "out of order or duplicated"
            return ChainCheck(
                False, n, expected_seq, f"record {expected_seq} is {what} (found {seq})"
            )
        if f["prev_hash"] != prev:
            return ChainCheck(False, n, seq, "prev_hash does not match the previous record's hash")
        if record_hash(f) != f["hash"]:
            return ChainCheck(False, n, seq, "content does not match its hash (edited)")
        prev, expected_seq = f["hash"], seq + 1
    last = expected_seq - 1
    if head is not None and (head[0] != last or head[1] != prev):
        return _head_verdict(n, head, last)
    return ChainCheck(True, n)


def _head_verdict(n: int, head: tuple[int, str], last: int) -> ChainCheck:
    if head[0] > last:
        why, bad = "records removed from the end", last + 1
    elif head[0] < last:
        why, bad = "the head was moved back, or records appended without moving it", head[0] + 1
    else:
        why, bad = "the head's hash is not the last record's", last
    return ChainCheck(
        False, n, bad, f"the head says the log ends at record {head[0]}, the log ends at {last} "
        f"({why})",
    )  # fmt: skip


def iter_records(
    s: Session, batch: int = 1000, after: int = 0, upto: int | None = None
) -> Iterator[dict[str, Any]]:
    """The stored records with ``after < seq`` (and ``seq <= upto``), in ``seq`` order."""
    last = after
    while True:
        q = select(AuditRecord).where(AuditRecord.seq > last)
        if upto is not None:
            q = q.where(AuditRecord.seq <= upto)
        rows = s.scalars(q.order_by(AuditRecord.seq).limit(batch)).all()
        if not rows:
            return
        for r in rows:
            yield as_fields(r)
        last = rows[-1].seq


def snapshot(s: Session) -> None:
    """Make the rest of ``s``'s transaction read one snapshot (call it first): on
    PostgreSQL, READ COMMITTED would let a writer commit between reading the head and
    reading the log, so a concurrent append would look like a truncation. SQLite's read
    transaction is a snapshot already. A session that has read already keeps its level
    (it cannot change mid-transaction)."""
    if s.get_bind().dialect.name == "postgresql" and not s.in_transaction():
        s.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def head_of(s: Session) -> tuple[int, str]:
    head = s.get(AuditHead, 1)
    return (head.seq, head.hash) if head else (0, GENESIS)


def verify(s: Session) -> ChainCheck:
    """Verify the stored log. Records are read in storage order of their ``seq`` key, so a
    reordering shows as a broken link; the head row catches a truncated tail."""
    snapshot(s)
    return verify_records(iter_records(s), head_of(s))


def export_json(records: Iterable[dict[str, Any]]) -> str:
    out = []
    for f in records:
        d = dict(f)
        d["before"], d["after"] = json.loads(d["before"]), json.loads(d["after"])
        out.append(d)
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def export_csv(records: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(FIELDS), lineterminator="\n")
    w.writeheader()
    for f in records:
        w.writerow(f)
    return buf.getvalue()


def verify_export(text: str, fmt: str, file: str = "") -> ChainCheck:
    """Verify an exported log (an auditor's copy) without the database. A file that is not
    a well-formed export raises :class:`InputError` naming the file, record and field."""
    return verify_records(parse_export(text, fmt, file), None)


def parse_export(text: str, fmt: str, file: str = "") -> list[dict[str, Any]]:
    """The records of an export, as the store holds them (``before``/``after`` as canonical
    JSON text); every problem located by line, record number and field."""
    return parse_json(text, file) if fmt == "json" else parse_csv(text, file)

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

from gpufleet.store.models import AuditHead, AuditRecord, Base

GENESIS = "0" * 64
FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "prev_hash",
    "hash",
)


def _plain(v: object) -> object:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Enum):
        return v.value
    return str(v)


def canonical(obj: object) -> str:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def row_dict(row: Base) -> dict[str, Any]:
    """A row's columns as plain JSON values: what an audit record's before/after holds."""
    out: dict[str, Any] = {}
    for col in row.__table__.columns:
        v = getattr(row, col.key)
        out[col.key] = _plain(v) if isinstance(v, datetime | date | Enum) else v
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
class Verdict:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str = ""

    def render(self) -> str:
        if self.ok:
            return f"audit log intact: {self.records} records, chain and head agree"
        return f"audit log broken at record {self.first_bad_seq}: {self.problem}"


def verify_records(records: Iterable[dict[str, Any]], head: tuple[int, str] | None) -> Verdict:
    """Check a sequence of records (in ``seq`` order) and the head; name the first bad one."""
    prev, expected_seq, n = GENESIS, 1, 0
    for f in records:
        n += 1
        seq = f["seq"]
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "out of order or duplicated"
            return Verdict(False, n, expected_seq, f"record {expected_seq} is {what} (found {seq})")
        if f["prev_hash"] != prev:
            return Verdict(False, n, seq, "prev_hash does not match the previous record's hash")
        if record_hash(f) != f["hash"]:
            return Verdict(False, n, seq, "content does not match its hash (edited)")
        prev, expected_seq = f["hash"], seq + 1
    last = expected_seq - 1
    if head is not None and (head[0] != last or head[1] != prev):
        return Verdict(
            False,
            n,
            last + 1,
            f"the head says the log ends at record {head[0]}, the log ends at {last} "
            "(records removed from the end)",
        )
    return Verdict(True, n)


def iter_records(s: Session, batch: int = 1000) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        rows = s.scalars(
            select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq).limit(batch)
        ).all()
        if not rows:
            return
        for r in rows:
            yield as_fields(r)
        last = rows[-1].seq


def verify(s: Session) -> Verdict:
    """Verify the stored log. Records are read in storage order of their ``seq`` key, so a
    reordering shows as a broken link; the head row catches a truncated tail."""
    head = s.get(AuditHead, 1)
    return verify_records(iter_records(s), (head.seq, head.hash) if head else (0, GENESIS))


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


def verify_export(text: str, fmt: str) -> Verdict:
    """Verify an exported log (an auditor's copy) without the database."""
    if fmt == "json":
        rows = json.loads(text)
        recs = [
            {**r, "before": canonical(r["before"]), "after": canonical(r["after"])} for r in rows
        ]
    else:
        recs = [{**r, "seq": int(r["seq"])} for r in csv.DictReader(io.StringIO(text))]
    return verify_records(recs, None)

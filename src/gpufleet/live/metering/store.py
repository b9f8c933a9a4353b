"""Metered rows in the register (table ``meter_usage``).

Idempotent: metering a period again deletes the period's rows of that cluster and source
and writes what was found, in one transaction, so the rows of a period are always one
metering's. Each metering appends one audit record (object type ``meter-period``, id
``CLUSTER START/END``) with the SHA-256 of the rows' canonical JSON, unless the last
such record already holds the same digest: metering the same accounting twice changes
nothing, not even the chain; a changed accounting (a late job, a corrected record) is a
new record whose ``before`` is the old digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gpufleet.governance.store.canonical import canonical
from gpufleet.governance.store.db import Tx
from gpufleet.governance.store.models import AuditRecord, MeterRow
from gpufleet.live.metering.meter import MeterKey, MeterRecord
from gpufleet.live.metering.period import Period

OBJECT_TYPE = "meter-period"


def digest(records: Iterable[MeterRecord]) -> str:
    body = [[*vars(r.key).values(), r.gpu_seconds, r.jobs] for r in sorted(records)]
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _object_id(cluster: str, period: Period, source: str) -> str:
    start, end = period.key()
    return f"{cluster} {source} {start}/{end}"


def _last_digest(s: Session, object_id: str) -> str | None:
    q = (
        select(AuditRecord.after)
        .where(AuditRecord.object_type == OBJECT_TYPE, AuditRecord.object_id == object_id)
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    )
    after = s.execute(q).scalar_one_or_none()
    return str(json.loads(after)["sha256"]) if after else None


def write_period(
    tx: Tx, cluster: str, period: Period, source: str, records: Sequence[MeterRecord]
) -> bool:
    """Replace the period's rows of ``source``; True when they changed (and were audited)."""
    start, end = period.key()
    s = tx.session
    s.execute(
        delete(MeterRow).where(
            MeterRow.cluster == cluster,
            MeterRow.period_start == start,
            MeterRow.period_end == end,
            MeterRow.source == source,
        )
    )
    rows = [
        {"cluster": cluster, "period_start": start, "period_end": end, **vars(r.key),
         "gpu_seconds": r.gpu_seconds, "jobs": r.jobs}
        for r in records
        if r.key.source == source
    ]  # fmt: skip
    if rows:
        s.execute(insert(MeterRow), rows)
    oid = _object_id(cluster, period, source)
    new = digest(r for r in records if r.key.source == source)
    old = _last_digest(s, oid)
    if new == old:
        return False
    before = {"sha256": old} if old else None
    tx.audit("meter", OBJECT_TYPE, oid, before, {"sha256": new, "rows": len(rows)})
    return True


def read_period(s: Session, period: Period, cluster: str | None = None) -> list[MeterRecord]:
    start, end = period.key()
    q = select(MeterRow).where(MeterRow.period_start == start, MeterRow.period_end == end)
    if cluster is not None:
        q = q.where(MeterRow.cluster == cluster)
    out: list[MeterRecord] = []
    for r in s.scalars(q.order_by(MeterRow.id)):
        key = MeterKey(
            r.source, r.account, r.entity, r.program, r.owner, r.pool, r.site, r.gpu_type
        )
        out.append(MeterRecord(key, r.gpu_seconds, r.jobs))
    return sorted(out)

"""Observations in the register's store: write one, compact old ones, read series back.

Write path: :func:`ingest` turns one :class:`~gpufleet.live.observation.Observation` into
a raw :class:`~gpufleet.live.series.Sample` and writes it, its child rows and (when the
configuration's text is new) the configuration, in the caller's one writing transaction
(:class:`~gpufleet.governance.store.db.Tx`), then :func:`compact` downsamples what the
retention policy says is due, in the same transaction.

**Audit.** A sample is a measurement, not a governance decision: it is not appended to
the audit chain (a 100k-GPU fleet observed every minute would add 525,600 links a year
that prove nothing about anyone's decision). What the samples were taken under is: the
first use of a configuration (the sources and the mapping, :class:`LiveConfig`) appends
one audit record ``use live-config`` with its row (digest and texts), in the same
transaction as the sample, and each sample names its configuration; ``audit verify
--replay`` checks the ``live_configs`` rows against those records.

Read path (typed, for the CLI, the API and the dashboard): :func:`samples` over a time
window, :func:`latest`, :func:`configs`.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gpufleet.domain import Reason
from gpufleet.errors import ConflictError
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.db import Tx, now
from gpufleet.governance.store.models import (
    LiveCapacityRow,
    LiveConfigRow,
    LiveDemandRow,
    LiveDownNodeRow,
    LiveFailureRow,
    LiveQuotaRow,
    LiveSampleRow,
    LiveUnmappedRow,
    LiveUsageRow,
)
from gpufleet.live.observation import Observation
from gpufleet.live.retention import DEFAULT_RETENTION, Retention, due_buckets, merge
from gpufleet.live.series import (
    CAPACITY_FIELDS,
    USAGE_FIELDS,
    CapacityPoint,
    DemandPoint,
    DownNodePoint,
    FailurePoint,
    QuotaPoint,
    Sample,
    UnmappedPoint,
    UsagePoint,
    sample_of,
    utc,
)

_CHUNK = 500  # ids per IN (...) when reading child rows


@dataclass(frozen=True)
class LiveConfig:
    """The texts observations are taken under: the live configuration file and the
    mapping file."""

    config: str
    mapping: str

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (self.config, self.mapping):
            data = part.encode()
            h.update(len(data).to_bytes(8, "big") + data)
        return h.hexdigest()


@dataclass(frozen=True)
class Ingested:
    """What one :func:`ingest` wrote: the sample's id, its rows, and what compaction did."""

    sample_id: int
    rows: int
    config_id: int | None
    merged: int  # samples merged into coarser ones (and deleted)
    expired: int  # samples of the last tier deleted past its keep


def ingest(
    tx: Tx,
    obs: Observation,
    span_s: float,
    config: LiveConfig | None = None,
    retention: Retention = DEFAULT_RETENTION,
) -> Ingested:
    """Write one observation as a raw sample standing for ``span_s`` seconds, then compact.
    An observation at an instant already stored is refused with
    :class:`ConflictError`; nothing is written."""
    sample = sample_of(obs, span_s)
    if _ids(tx.session, sample.tier, exactly=sample.at):
        raise ConflictError(
            f"an observation at {sample.at.isoformat()} is already stored; observations are "
            "appended, one per instant",
            "observation-exists",
        )
    config_id = _config_id(tx, config) if config is not None else None
    sid, rows = write_sample(tx.session, sample, config_id)
    merged, expired = compact(tx.session, retention, utc(obs.at))
    return Ingested(sid, rows, config_id, merged, expired)


def _config_id(tx: Tx, config: LiveConfig) -> int:
    s = tx.session
    digest = config.digest
    row = s.execute(select(LiveConfigRow).where(LiveConfigRow.digest == digest)).scalar()
    if row is not None:
        return row.id
    row = LiveConfigRow(
        digest=digest, config=config.config, mapping=config.mapping, first_used_at=now()
    )
    s.add(row)
    s.flush()
    tx.audit("use", "live-config", row.id, None, row_dict(row))
    return row.id


def write_sample(s: Session, sample: Sample, config_id: int | None = None) -> tuple[int, int]:
    """Insert a sample and its rows (bulk); its id and the number of child rows."""
    head = LiveSampleRow(
        tier=sample.tier,
        at=sample.at,
        span_s=sample.span_s,
        samples=sample.samples,
        busy_threshold_pct=sample.busy_threshold_pct,
        config_id=config_id,
    )
    s.add(head)
    s.flush()
    sid = head.id
    tables: list[tuple[Any, list[dict[str, Any]]]] = [
        (LiveCapacityRow, [_row(sid, c) for c in sample.capacity]),
        (LiveUsageRow, [_row(sid, u) for u in sample.usage]),
        (LiveDemandRow, [_demand_row(sid, d) for d in sample.demand]),
        (LiveQuotaRow, [_row(sid, q) for q in sample.quotas]),
        (LiveDownNodeRow, [_row(sid, n) for n in sample.down_nodes]),
        (LiveUnmappedRow, [_row(sid, u) for u in sample.unmapped]),
        (LiveFailureRow, [_row(sid, f) for f in sample.failures]),
    ]
    n = 0
    for table, rows in tables:
        if rows:
            s.execute(insert(table), rows)
            n += len(rows)
    return sid, n


def _row(sample_id: int, point: Any) -> dict[str, Any]:
    d = dict(vars(point))
    d["sample_id"] = sample_id
    return d


def _demand_row(sample_id: int, d: DemandPoint) -> dict[str, Any]:
    row = _row(sample_id, d)
    row["reason"] = d.reason.value if d.reason is not None else None
    row["scheduler_reasons"] = ",".join(d.scheduler_reasons)
    return row


# --- compaction -------------------------------------------------------------------------


def compact(s: Session, retention: Retention, at: datetime) -> tuple[int, int]:
    """Merge every whole bucket the policy says is due at ``at`` into the next tier (a
    bucket already there is merged with them), and delete the last tier's samples past
    its keep. (samples merged, samples expired)."""
    merged = 0
    tiers = retention.tiers
    for fine, coarse in itertools.pairwise(tiers):
        assert fine.keep_s is not None  # Retention refuses a tier after one kept for ever
        cutoff = at - timedelta(seconds=fine.keep_s)
        ids = _ids(s, fine.name, before=cutoff)
        if not ids:
            continue
        due = due_buckets(read_samples(s, ids), fine.keep_s, coarse.resolution_s, at)
        for start, group in sorted(due.items()):
            existing = _ids(s, coarse.name, exactly=start)
            group = read_samples(s, existing) + group
            _delete(s, existing + [_id_of(s, g) for g in group[len(existing) :]])
            write_sample(s, merge(group, coarse.name, start))
            merged += len(group) - len(existing)
    last = tiers[-1]
    expired = 0
    if last.keep_s is not None:
        old = _ids(s, last.name, before=at - timedelta(seconds=last.keep_s))
        _delete(s, old)
        expired = len(old)
    return merged, expired


def _ids(
    s: Session, tier: str, before: datetime | None = None, exactly: datetime | None = None
) -> list[int]:
    q = select(LiveSampleRow.id).where(LiveSampleRow.tier == tier)
    if before is not None:
        q = q.where(LiveSampleRow.at < before)
    if exactly is not None:
        q = q.where(LiveSampleRow.at == exactly)
    return list(s.execute(q.order_by(LiveSampleRow.at)).scalars())


def _id_of(s: Session, sample: Sample) -> int:
    q = select(LiveSampleRow.id).where(
        LiveSampleRow.tier == sample.tier, LiveSampleRow.at == sample.at
    )
    return int(s.execute(q).scalar_one())


def _delete(s: Session, ids: Sequence[int]) -> None:
    """Delete samples with their rows (children first: SQLite's cascade needs nothing)."""
    children = (
        LiveCapacityRow,
        LiveUsageRow,
        LiveDemandRow,
        LiveQuotaRow,
        LiveDownNodeRow,
        LiveUnmappedRow,
        LiveFailureRow,
    )
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for table in children:
            s.execute(delete(table).where(table.sample_id.in_(chunk)))
        s.execute(delete(LiveSampleRow).where(LiveSampleRow.id.in_(chunk)))


# --- reading ----------------------------------------------------------------------------


PARTS = ("capacity", "usage", "demand", "quotas", "down_nodes", "unmapped", "failures")
"""The child rows of a sample; a reader may ask for some of them only (the others read
back empty), e.g. ``("capacity",)`` for GPU-days over a long window."""

_TABLES: dict[str, Any] = {
    "capacity": LiveCapacityRow,
    "usage": LiveUsageRow,
    "demand": LiveDemandRow,
    "quotas": LiveQuotaRow,
    "down_nodes": LiveDownNodeRow,
    "unmapped": LiveUnmappedRow,
    "failures": LiveFailureRow,
}


def samples(
    s: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    parts: Sequence[str] = PARTS,
) -> list[Sample]:
    """Every sample (of any tier) whose instant is in ``[since, until)``, in time order,
    with the child rows named in ``parts``. Tiers do not overlap: a bucket's raw samples
    are gone once it is merged."""
    q = select(LiveSampleRow.id)
    if since is not None:
        q = q.where(LiveSampleRow.at >= since)
    if until is not None:
        q = q.where(LiveSampleRow.at < until)
    ids = list(s.execute(q.order_by(LiveSampleRow.at, LiveSampleRow.tier)).scalars())
    return read_samples(s, ids, parts)


def latest(s: Session, until: datetime | None = None) -> Sample | None:
    """The newest sample (before ``until``, when given), or None when there is none."""
    q = select(LiveSampleRow.id).order_by(LiveSampleRow.at.desc()).limit(1)
    if until is not None:
        q = q.where(LiveSampleRow.at < until)
    ids = list(s.execute(q).scalars())
    return read_samples(s, ids)[0] if ids else None


def configs(s: Session) -> list[tuple[int, str, datetime]]:
    """The configurations observations were taken under: (id, digest, first used)."""
    rows = s.execute(select(LiveConfigRow).order_by(LiveConfigRow.id)).scalars()
    return [(r.id, r.digest, utc(r.first_used_at)) for r in rows]


def read_samples(s: Session, ids: Sequence[int], parts: Sequence[str] = PARTS) -> list[Sample]:
    """The samples with these ids, in the order given. Rows are read as plain rows (Core),
    not ORM objects: a day of one-minute samples of a 100k-GPU fleet is 0.56 M rows."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)} (expected some of {PARTS})")
    out: list[Sample] = []
    for i in range(0, len(ids), _CHUNK):
        out += _read_chunk(s, ids[i : i + _CHUNK], parts)
    return out


def _children(s: Session, table: Any, ids: Sequence[int]) -> dict[int, list[Any]]:
    by: dict[int, list[Any]] = defaultdict(list)
    cols = table.__table__
    for r in s.execute(select(cols).where(cols.c.sample_id.in_(ids)).order_by(cols.c.id)):
        by[r.sample_id].append(r)
    return by


_READERS: dict[str, Any] = {}  # filled below: part -> row-to-point function


def _read_chunk(s: Session, ids: Sequence[int], parts: Sequence[str]) -> list[Sample]:
    table = LiveSampleRow.__table__
    heads = {r.id: r for r in s.execute(select(table).where(table.c.id.in_(ids)))}
    rows = {p: _children(s, _TABLES[p], ids) for p in parts}
    out = []
    for i in ids:
        h = heads[i]
        got = {p: tuple(_READERS[p](r) for r in rows[p].get(i, ())) for p in parts}
        out.append(
            Sample(
                at=utc(h.at),
                tier=h.tier,
                span_s=h.span_s,
                samples=h.samples,
                busy_threshold_pct=h.busy_threshold_pct,
                capacity=got.get("capacity", ()),
                usage=got.get("usage", ()),
                demand=got.get("demand", ()),
                quotas=got.get("quotas", ()),
                down_nodes=got.get("down_nodes", ()),
                unmapped=got.get("unmapped", ()),
                failures=got.get("failures", ()),
            )
        )
    return out


def _capacity(r: Any) -> CapacityPoint:
    counts = {n: getattr(r, n) for n in CAPACITY_FIELDS}
    return CapacityPoint(r.entity, r.site, r.gpu_type, **counts)


def _usage(r: Any) -> UsagePoint:
    counts = {n: getattr(r, n) for n in USAGE_FIELDS}
    return UsagePoint(r.entity, r.program, r.holder, r.site, r.gpu_type, **counts)


def _demand(r: Any) -> DemandPoint:
    reasons = tuple(x for x in r.scheduler_reasons.split(",") if x)
    reason = Reason(r.reason) if r.reason is not None else None
    return DemandPoint(r.entity, r.program, r.gpu_type, reason, reasons, r.gpus, r.jobs)


def _quota(r: Any) -> QuotaPoint:
    return QuotaPoint(
        r.scheduler, r.scope, r.entity, r.program, r.gpu_type, r.gpus, r.borrowing_limit
    )


def _down(r: Any) -> DownNodePoint:
    return DownNodePoint(
        r.scheduler,
        r.node,
        r.entity,
        r.site,
        r.pool,
        r.gpu_type,
        r.gpus,
        r.state,
        r.reason,
        r.span_s,
    )


_READERS.update(
    capacity=_capacity,
    usage=_usage,
    demand=_demand,
    quotas=_quota,
    down_nodes=_down,
    unmapped=lambda r: UnmappedPoint(r.kind, r.name, r.source, r.gpus),
    failures=lambda r: FailurePoint(r.source, r.asked, r.error, r.count),
)


def sample_rows(samples_: Iterable[Sample]) -> int:
    """The rows these samples take in the store (one per sample plus its child rows)."""
    return sum(
        1
        + len(x.capacity)
        + len(x.usage)
        + len(x.demand)
        + len(x.quotas)
        + len(x.down_nodes)
        + len(x.unmapped)
        + len(x.failures)
        for x in samples_
    )

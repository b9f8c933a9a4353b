"""How long stored observations are kept, and how they are downsampled (pure functions;
:func:`gpufleet.live.store.compact` applies them to the store).

A :class:`Retention` is a list of tiers, finest first. The first is ``raw`` (each
observation as taken); each later tier merges the previous tier's samples into buckets of
``resolution_s`` seconds (aligned on the UTC epoch) once a whole bucket is older than the
previous tier's ``keep_s``. The last tier's samples are deleted after its own ``keep_s``
(None: kept). The default: raw one-minute samples for 2 days, hourly for 90 days, daily
for ever.

Merging (:func:`merge`) keeps GPU-seconds: every count becomes the span-weighted mean
``sum(v_i x span_i) / sum(span_i)`` over the merged samples, a row missing from a sample
counting 0 there, and an unknown (None) value leaving that sample's span out of the mean
(all unknown: unknown). So ``mean x span`` of a bucket equals the sum of its samples'
``count x span`` wherever every count was known. Caps in force and unmapped names keep
the latest sample's value; a down node keeps the seconds it was seen down, a failure the
number of samples it failed in; the scheduler's reasons of a demand row are united.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from gpufleet.errors import InputError
from gpufleet.live.series import (
    CAPACITY_FIELDS,
    RAW,
    USAGE_FIELDS,
    CapacityPoint,
    DemandPoint,
    FailurePoint,
    Sample,
    UsagePoint,
)

DAY_S = 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Tier:
    name: str
    resolution_s: int  # 0: raw, as observed
    keep_s: int | None  # None: for ever


@dataclass(frozen=True)
class Retention:
    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        problems = _problems(self.tiers)
        if problems:
            raise InputError("retention: " + "; ".join(problems))

    def tier(self, name: str) -> Tier:
        return next(t for t in self.tiers if t.name == name)


def _problems(tiers: Sequence[Tier]) -> list[str]:
    if not tiers or tiers[0].name != RAW or tiers[0].resolution_s != 0:
        return ["the first tier must be 'raw' with resolution_s 0"]
    out = []
    for prev, t in itertools.pairwise(tiers):
        if prev.keep_s is None:
            out.append(f"tier {prev.name!r} keeps for ever, so no tier may follow it")
        elif t.resolution_s <= prev.resolution_s or (
            prev.resolution_s and t.resolution_s % prev.resolution_s
        ):
            out.append(
                f"tier {t.name!r}: resolution_s {t.resolution_s} must be a multiple of, "
                f"and larger than, {prev.name!r}'s {prev.resolution_s}"
            )
        elif prev.keep_s < t.resolution_s:
            out.append(f"tier {prev.name!r} must keep at least one bucket of {t.name!r}")
    if len({t.name for t in tiers}) != len(tiers):
        out.append("tier names must differ")
    return out


DEFAULT_RETENTION = Retention(
    (
        Tier(RAW, 0, 2 * DAY_S),
        Tier("hour", 3_600, 90 * DAY_S),
        Tier("day", DAY_S, None),
    )
)


def bucket_start(at: datetime, resolution_s: int) -> datetime:
    """The start of the UTC-epoch-aligned bucket of ``resolution_s`` holding ``at``."""
    offset = int((at - EPOCH).total_seconds()) // resolution_s * resolution_s
    return EPOCH + timedelta(seconds=offset)


def due_buckets(
    samples: Iterable[Sample], keep_s: int, resolution_s: int, now: datetime
) -> dict[datetime, list[Sample]]:
    """The samples to merge now, by bucket: those of every bucket that ends at or before
    ``now - keep_s`` (a bucket is merged whole, never in part)."""
    cutoff = now - timedelta(seconds=keep_s)
    out: dict[datetime, list[Sample]] = {}
    for s in samples:
        start = bucket_start(s.at, resolution_s)
        if start + timedelta(seconds=resolution_s) <= cutoff:
            out.setdefault(start, []).append(s)
    return out


K = TypeVar("K", bound=Hashable)
P = TypeVar("P")


def _grouped(
    samples: Sequence[Sample], rows: Callable[[Sample], Iterable[P]], key: Callable[[P], K]
) -> dict[K, list[tuple[float, P]]]:
    out: dict[K, list[tuple[float, P]]] = {}
    for s in samples:
        for r in rows(s):
            out.setdefault(key(r), []).append((s.span_s, r))
    return out


def _mean(present: Sequence[tuple[float, Any]], name: str, total_s: float) -> float | None:
    """Span-weighted mean of field ``name``: absent rows count 0, unknown ones drop out."""
    known = [(span, float(getattr(r, name))) for span, r in present if getattr(r, name) is not None]
    known_s = total_s - sum(span for span, r in present if getattr(r, name) is None)
    if known_s <= 0 or not known:
        return None if known_s <= 0 else 0.0
    return sum(span * v for span, v in known) / known_s


def _capacity(samples: Sequence[Sample], total: float) -> list[CapacityPoint]:
    out = []
    for (e, site, t), rows in _grouped(samples, lambda s: s.capacity, lambda r: r.key).items():
        m = {n: _mean(rows, n, total) for n in CAPACITY_FIELDS}
        m["registered"] = m["registered"] or 0.0
        out.append(CapacityPoint(e, site, t, **m))  # type: ignore[arg-type]
    return out


def _usage(samples: Sequence[Sample], total: float) -> list[UsagePoint]:
    out = []
    for (e, p, h, site, t), rows in _grouped(samples, lambda s: s.usage, lambda r: r.key).items():
        m = {n: _mean(rows, n, total) for n in USAGE_FIELDS}
        m["allocated"] = m["allocated"] or 0.0
        out.append(UsagePoint(e, p, h, site, t, **m))  # type: ignore[arg-type]
    return out


def _demand(samples: Sequence[Sample], total: float) -> list[DemandPoint]:
    out = []
    for (e, p, t, reason), rows in _grouped(samples, lambda s: s.demand, lambda r: r.key).items():
        said = tuple(sorted({x for _, d in rows for x in d.scheduler_reasons}))
        gpus, jobs = _mean(rows, "gpus", total) or 0.0, _mean(rows, "jobs", total) or 0.0
        out.append(DemandPoint(e, p, t, reason, said, gpus, jobs))
    return out


def merge(samples: Sequence[Sample], tier: str, at: datetime) -> Sample:
    """The samples (in time order) as one sample of ``tier`` starting at ``at``."""
    total = sum(s.span_s for s in samples)
    last = samples[-1]
    down = [
        replace(rows[-1][1], span_s=sum(r.span_s for _, r in rows))
        for rows in _grouped(samples, lambda s: s.down_nodes, lambda r: r.key).values()
    ]
    failures = [
        FailurePoint(src, asked, error, sum(f.count for _, f in rows))
        for (src, asked, error), rows in _grouped(
            samples, lambda s: s.failures, lambda r: r.key
        ).items()
    ]
    return Sample(
        at=at,
        tier=tier,
        span_s=total,
        samples=sum(s.samples for s in samples),
        busy_threshold_pct=last.busy_threshold_pct,
        capacity=tuple(_capacity(samples, total)),
        usage=tuple(_usage(samples, total)),
        demand=tuple(_demand(samples, total)),
        quotas=last.quotas,
        down_nodes=tuple(down),
        unmapped=last.unmapped,
        failures=tuple(failures),
    )

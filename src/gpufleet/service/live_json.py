"""The live fleet as the API returns it: windows and their bounds, series downsampled to a
resolution the window chooses, and the typed findings (:mod:`gpufleet.live.findings`)
written as JSON. Pure functions; the routes (:mod:`gpufleet.service.routes.live`) read
the store, apply the caller's view and call these.

**Windows.** ``window`` is a duration (``90m``, ``24h``, ``7d``) ending at ``end``
(default: now). A series is at most :data:`MAX_SERIES_WINDOW_S` long and is returned,
unless asked otherwise, at the resolution of the store's tier that still holds all of the
window (:data:`AUTO_UP_TO_S`: ``minute`` up to 2 days, ``hour`` up to 90 days, ``day``
beyond; :data:`gpufleet.live.retention.DEFAULT_RETENTION`), so a window never asks for
finer points than are stored, and each series has at most :data:`MAX_POINTS` points.
A window too long, or a resolution asked for that would give more points, is refused
(422, naming the field and the limit) before anything is read; an answer of more than
:data:`MAX_TOTAL_POINTS` points in all series together, once read (it depends on how
many entities, sites and GPU types there are), is refused the same way.

The status, findings and suggestions are :mod:`gpufleet.live.status`'s (``gpufleet status
--json``'s JSON); this module adds what the API serves beside them: the latest sample's
capacity, usage, caps in force and unmapped names.

**Downsampling** merges the samples of each bucket with the store's own merge
(:func:`gpufleet.live.retention.merge`): every count is the span-weighted mean over the
bucket, so ``value x span_s`` keeps the GPU-seconds observed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gpufleet.errors import InputError, Problem
from gpufleet.governance.store.values import iso_utc
from gpufleet.live.retention import DEFAULT_RETENTION, bucket_start, merge
from gpufleet.live.series import (
    CAPACITY_FIELDS,
    RAW,
    CapacityPoint,
    QuotaPoint,
    Sample,
    UnmappedPoint,
    UsagePoint,
)

RESOLUTIONS_S = {"minute": 60, "hour": 3_600, "day": 86_400}
"""The resolutions a series may be asked at, finest first."""
DAY_S = 86_400
AUTO_UP_TO_S: dict[str, float | None] = {
    "minute": DEFAULT_RETENTION.tier(RAW).keep_s,
    "hour": DEFAULT_RETENTION.tier("hour").keep_s,
    "day": None,
}
"""The resolution a window gets when none is asked: the store's tiers (raw samples kept
2 days, hourly 90 days, daily for ever), so a window is drawn at the finest resolution
the store still holds for all of it."""
MAX_POINTS = 2_880
"""Points per series at most: two days of minutes, 90 days of hours (2,160), five years
of days (1,827)."""
MAX_TOTAL_POINTS = 50_000
"""Points in one answer at most, all series together (about 5 MB of JSON)."""
MAX_SERIES_WINDOW_S = 1_830 * DAY_S
"""A series' window at most: five years (the daily tier is kept for ever)."""
MAX_FINDINGS_WINDOW_S = 400 * DAY_S
"""The window the findings sum over at most (a year and a month of hourly or daily samples)."""
DEFAULT_WINDOW = "1d"  # as `gpufleet status` (gpufleet.live.status.DEFAULT_WINDOW_S)

_DURATION = re.compile(r"\s*(\d{1,7})\s*([smhd])\s*")
_UNIT_S = {"s": 1, "m": 60, "h": 3_600, "d": DAY_S}


def bad(field: str, message: str, expected: str) -> InputError:
    """A 422 naming the query field, what was wrong and what would be right."""
    return InputError(f"{field}: {message}", [Problem(field, message, expected)])


def _limit_text(seconds: float) -> str:
    return f"{seconds / DAY_S:g}d" if seconds % DAY_S == 0 else f"{seconds:g}s"


def parse_window(text: str, most_s: float, field: str = "window") -> timedelta:
    """``90m``, ``24h``, ``7d``, ``3600s``: positive and at most ``most_s`` seconds."""
    expected = f"a duration like 90m, 24h or 7d, from 1m to {_limit_text(most_s)}"
    m = _DURATION.fullmatch(text)
    if m is None:
        raise bad(field, f"{text[:40]!r} is not a duration", expected)
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    if not 60 <= seconds <= most_s:
        raise bad(field, f"{text.strip()} is outside the limits", expected)
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {"start": iso_utc(self.start), "end": iso_utc(self.end), "seconds": self.seconds}


EARLIEST_END = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_END = datetime(3000, 1, 1, tzinfo=UTC)


def _end(end: datetime) -> datetime:
    """``end`` in UTC (naive: UTC), within :data:`EARLIEST_END` and :data:`LATEST_END`
    (so that no window, nor the suggestions' look back before it, leaves the calendar)."""
    try:
        stop: datetime | None = (
            end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
        )
    except OverflowError:  # year 1 at -14:00 is before the calendar's first instant in UTC
        stop = None
    if stop is None or not EARLIEST_END <= stop < LATEST_END:
        raise bad(
            "end",
            f"{end.isoformat()} is outside the limits",
            "an instant from 1970-01-01 to 2999-12-31, ISO 8601 (no offset: UTC)",
        )
    return stop


def window_of(text: str, end: datetime | None, most_s: float) -> Window:
    """The window ``text`` long ending at ``end`` (naive: UTC; default now)."""
    length = parse_window(text, most_s)
    stop = datetime.now(UTC) if end is None else _end(end)
    return Window(stop - length, stop)


def resolution_of(window: Window, asked: str | None) -> str:
    """The resolution asked for, or the finest whose points fit :data:`MAX_POINTS`."""
    names = ", ".join(RESOLUTIONS_S)
    if asked is None:
        return next(n for n, keep in AUTO_UP_TO_S.items() if keep is None or window.seconds <= keep)
    if asked not in RESOLUTIONS_S:
        raise bad("resolution", f"{asked[:40]!r} is not a resolution", f"one of {names}")
    points = _points(window, RESOLUTIONS_S[asked])
    if points > MAX_POINTS:
        fits = [n for n, s in RESOLUTIONS_S.items() if _points(window, s) <= MAX_POINTS]
        raise bad(
            "resolution",
            f"{asked} over {_limit_text(window.seconds)} gives {points} points, more than "
            f"{MAX_POINTS} a series",
            f"one of {', '.join(fits)} for this window, or a shorter window",
        )
    return asked


def _points(window: Window, resolution_s: int) -> int:
    return math.ceil(window.seconds / resolution_s)


# --- series -----------------------------------------------------------------------------


def downsample(samples: Sequence[Sample], resolution: str) -> list[Sample]:
    """The samples merged per bucket of ``resolution`` (aligned on the UTC epoch), in
    time order; a bucket with one sample keeps it as it is."""
    size = RESOLUTIONS_S[resolution]
    buckets: dict[datetime, list[Sample]] = {}
    for s in samples:
        buckets.setdefault(bucket_start(s.at, size), []).append(s)
    out = []
    for start, group in sorted(buckets.items()):
        out.append(group[0] if len(group) == 1 else merge(group, resolution, start))
    return out


Key = tuple[str, str, str]


def check_total(series: int, most: int, total: int) -> None:
    """Refuse ``total`` points (``series`` series of up to ``most`` points) over the limit."""
    if total > MAX_TOTAL_POINTS:
        raise bad(
            "window",
            f"{series} series of up to {most} points each make {total} points, "
            f"more than {MAX_TOTAL_POINTS} in one answer",
            "a shorter window, a coarser resolution, or entity, site or gpu_type to narrow it",
        )


def wanted(c: CapacityPoint, keep: Key) -> bool:
    """``c`` passes the filters ``keep`` (entity, site, GPU type; "" for any)."""
    return all(want in ("", have) for want, have in zip(keep, c.key, strict=True))


def estimate(
    latest: Sample | None, samples: int, window: Window, resolution: str, keep: Key
) -> None:
    """Refuse before reading a window whose answer would be over the limit, judged by
    the latest sample's series (those the caller may see and asked for) x the points
    (no more than the samples stored in the window)."""
    if latest is None:
        return
    series = sum(1 for c in latest.capacity if wanted(c, keep))
    most = min(samples, _points(window, RESOLUTIONS_S[resolution]))
    check_total(series, most, series * most)


def series_json(
    buckets: Sequence[Sample], window: Window, resolution: str, keep: Key
) -> dict[str, Any]:
    """Capacity per entity, site and GPU type over the buckets; ``keep``: the filters
    (entity, site, GPU type; "" for any). Refuses more than :data:`MAX_TOTAL_POINTS`."""
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for b in buckets:
        for c in b.capacity:
            if wanted(c, keep):
                point = {"at": iso_utc(b.at), "span_s": b.span_s, "samples": b.samples}
                point.update({f: getattr(c, f) for f in CAPACITY_FIELDS})
                by_key.setdefault(c.key, []).append(point)
    check_total(len(by_key), len(buckets), sum(len(points) for points in by_key.values()))
    return {
        "window": window.as_dict(),
        "resolution": resolution,
        "resolution_s": RESOLUTIONS_S[resolution],
        "metrics": list(CAPACITY_FIELDS),
        "series": [
            {"entity": e, "site": s, "gpu_type": t, "points": points}
            for (e, s, t), points in sorted(by_key.items())
        ],
    }


# --- the latest sample -------------------------------------------------


def capacity_json(c: CapacityPoint) -> dict[str, Any]:
    out: dict[str, Any] = {"entity": c.entity, "site": c.site, "gpu_type": c.gpu_type}
    out.update({f: getattr(c, f) for f in CAPACITY_FIELDS})
    out["in_use"] = c.in_use
    out["idle_or_unallocated"] = c.wasted_idle
    return out


def plain_json(p: UsagePoint | QuotaPoint | UnmappedPoint) -> dict[str, Any]:
    return dict(vars(p))


def latest_json(x: Sample | None, whole: bool) -> dict[str, Any]:
    """The latest sample's capacity, usage and caps in force (as the caller may see
    them), and, for a caller who sees the whole fleet, the names the mapping could not
    place (None for the others: those names belong to no entity yet)."""
    if x is None:
        return {"capacity": [], "usage": [], "quotas": [], "unmapped": [] if whole else None}
    return {
        "busy_threshold_pct": x.busy_threshold_pct,
        "capacity": [capacity_json(c) for c in x.capacity],
        "usage": [plain_json(u) for u in x.usage],
        "quotas": [plain_json(q) for q in x.quotas],
        "unmapped": [plain_json(u) for u in x.unmapped] if whole else None,
    }

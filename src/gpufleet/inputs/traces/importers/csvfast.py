"""A chunk of a mapped CSV's rows turned into columns in C loops (``map(float, ...)``,
``map(str.strip, ...)``) instead of one Python call per cell: what lets a multi-million-row
file be read in seconds (issue 14 item 9).

It reads a chunk only when every row of it is good, and then gives exactly what the row
parser (:class:`~gpufleet.inputs.traces.importers.csvmap._RowParser`) gives: the same
``float()`` of each cell (``datetime.fromisoformat`` and its epoch seconds for ISO times),
the same missing markers, the same checks. Anything it does not vouch for (a row of the
wrong width, a value the row parser would reject, a NaN or infinity written out, an end
before a start) makes it answer None before it has counted anything (GPU names, times
without an offset), and the chunk is read row by row, which reports each problem with its
line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from gpufleet.inputs.traces.importers.columnmap import MapField, TimeFormat
from gpufleet.inputs.traces.importers.common import Columns, UtcTimes
from gpufleet.inputs.traces.importers.gpu_names import GpuNames


class _RowParser(Protocol):
    """What this module reads of the row parser (csvmap's ``_RowParser``): where each field
    is, the time format, whether run times are end - start, and its name resolvers."""

    at: dict[MapField, int]
    fmt: TimeFormat
    use_span: bool
    times: UtcTimes
    names: GpuNames
    shared: Callable[[list[str]], list[str]]


F64 = np.ndarray[Any, np.dtype[np.float64]]
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "unknown"})
_INF = math.inf
_AS_NAN = {m: "nan" for m in (*MISSING, *(m.upper() for m in MISSING), "NaN", "N/A", "Null")}
"""The usual spellings of a missing cell, read as ``float("nan")`` in the C loop; others
(`` NA ``, ``nULL``) go through :func:`_float_or_missing`, and every NaN is checked to be a
missing marker after."""


class _NotVouched(Exception):
    """The chunk holds something only the row parser may judge."""


Chunk = tuple[list[int], list[list[str]]]
"""Rows of a CSV and the line each starts on."""


def fast_columns(parse: _RowParser, chunk: Chunk, width: int) -> Columns | None:
    """The chunk's columns, or None when it must be read row by row (the module docstring)."""
    lines, rows = chunk
    if set(map(len, rows)) != {width}:
        return None
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    naive = [0]  # ISO times without an offset, counted when the chunk is vouched for
    try:
        floats = _floats(parse, cols, n, naive)
    except _NotVouched:
        return None
    parse.times.naive += naive[0]
    text = _texts(parse, cols, n)  # counts GPU names: only once the chunk is vouched for
    submit, start, duration, gpus, cpus, memory_gb = floats
    return Columns(
        submit,
        start,
        duration,
        gpus,
        cpus,
        memory_gb,
        text[MapField.GPU_TYPE],
        text[MapField.QUEUE],
        text[MapField.USER],
        text[MapField.STATUS],
        text[MapField.JOB_ID],
        np.array(lines, dtype=np.float64),
    )


def _floats(
    parse: _RowParser, cols: list[tuple[str, ...]], n: int, naive: list[int]
) -> tuple[F64, F64, F64, F64, F64, F64]:
    """submit, start, duration, gpus, cpus, memory_gb: the row parser's checks per column
    (``naive[0]`` gains the ISO times read without an offset)."""
    at = parse.at
    iso = parse.fmt is TimeFormat.ISO

    def column(f: MapField, least: float, required: bool = False) -> F64:
        if f not in at:
            return np.full(n, np.nan)
        return _numbers(cols[at[f]], least, required)

    def time(f: MapField, required: bool = False) -> F64:
        if not iso or f not in at:
            return column(f, -_INF, required)
        values, without_offset = _iso_times(cols[at[f]], required)
        naive[0] += without_offset
        return values

    submit = time(MapField.SUBMIT, required=True)
    start = time(MapField.START)
    if parse.use_span:
        end = time(MapField.END)
        if (end < start).any():  # NaN compares False, as in the row parser
            raise _NotVouched
        duration = end - start
    else:
        duration = column(MapField.DURATION, 0.0)
    gpus = column(MapField.GPUS, 0.0, required=True)
    return (
        submit,
        start,
        duration,
        gpus,
        column(MapField.CPUS, 0.0),
        column(MapField.MEMORY_GB, 0.0),
    )


def _numbers(col: tuple[str, ...], least: float, required: bool) -> F64:
    """``float()`` of each cell; a missing one is NaN where allowed. Vouches only for
    finite values of ``least`` or more, and for NaN only where the cell is a
    missing marker (``nan`` written out is one; ``-nan`` is not)."""
    try:
        cells = col if required else map(_AS_NAN.get, col, col)
        arr = np.fromiter(map(float, cells), np.float64, len(col))
    except ValueError:
        if required:
            raise _NotVouched from None
        arr = np.fromiter(map(_float_or_missing, col), np.float64, len(col))
    nan = np.isnan(arr)
    if nan.any():
        if required:
            raise _NotVouched
        for i in np.flatnonzero(nan).tolist():
            if col[i].strip().lower() not in MISSING:
                raise _NotVouched
    known = arr[~nan]
    if (known < least).any() or not np.isfinite(known).all():
        raise _NotVouched
    return arr


_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_TZINFO = attrgetter("tzinfo")


def _iso_times(col: tuple[str, ...], required: bool) -> tuple[F64, int]:
    """Epoch seconds of each ISO 8601 cell, as :class:`UtcTimes` reads them (a time
    without an offset is UTC), and how many had no offset; NaN for a missing cell where
    allowed. ``datetime.timestamp`` of an aware time is its difference from the aware
    epoch, so the two give the same float."""
    cells = list(map(str.strip, col))
    try:
        times: list[datetime | None] = list(map(datetime.fromisoformat, cells))
    except ValueError:
        times = [_iso_or_missing(c, required) for c in cells]
    if None in times:
        known = [t for t in times if t is not None]
        without = list(map(_TZINFO, known)).count(None)
        return np.fromiter(map(_epoch_s, times), np.float64, len(cells)), without
    without = list(map(_TZINFO, times)).count(None)
    if without:
        return np.fromiter(map(_epoch_s, times), np.float64, len(cells)), without
    aware: list[datetime] = times  # type: ignore[assignment]  # no None: checked above
    return np.fromiter(map(datetime.timestamp, aware), np.float64, len(cells)), 0


def _iso_or_missing(text: str, required: bool) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        if not required and text.lower() in MISSING:
            return None
        raise _NotVouched from None


def _epoch_s(t: datetime | None) -> float:
    if t is None:
        return math.nan
    return (t - (_EPOCH if t.tzinfo is None else _EPOCH_UTC)).total_seconds()


def _float_or_missing(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        if text.strip().lower() in MISSING:
            return math.nan
        raise _NotVouched from None


def _texts(parse: _RowParser, cols: list[tuple[str, ...]], n: int) -> dict[MapField, list[str]]:
    """The text columns, stripped; GPU models resolved (and counted) as the row parser
    does; queue, user and status strings shared with every equal one read before."""
    at = parse.at
    keep: dict[MapField, Callable[[list[str]], list[str]]] = {
        MapField.GPU_TYPE: parse.names.resolve_all,
        MapField.QUEUE: parse.shared,
        MapField.USER: parse.shared,
        MapField.STATUS: parse.shared,
        MapField.JOB_ID: _same,
    }
    out: dict[MapField, list[str]] = {}
    for f, how in keep.items():
        out[f] = how(list(map(str.strip, cols[at[f]]))) if f in at else [""] * n
    return out


def _same(values: list[str]) -> list[str]:
    return values

"""Any CSV with a header line, read through a column map (:mod:`.columnmap`).

The delimiter is taken from the header: comma, semicolon, tab or ``|``, whichever splits it
into columns that include every mapped one (a comma when several do); a file read with
another delimiter than a comma says so in its notes. A row whose field count differs from
the header's is a bad row, and when it holds another delimiter the error asks whether the file
mixes them. Quoted fields follow the usual CSV rules (Python's :mod:`csv`).

Values: ``submit`` and ``gpus`` must be present in every row; empty (or ``NA``, ``null``,
``nan``, ``none``, ``unknown``) ``start``, ``end``, ``duration``, ``cpus``, ``memory_gb``
are unknown (NaN), so a job still running keeps ``duration_s`` NaN. A negative duration, a
negative GPU count and an end before the start are bad rows.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gpufleet.gcpause import gc_paused
from gpufleet.inputs.traces.importers.columnmap import ColumnMap, MapField, TimeFormat
from gpufleet.inputs.traces.importers.common import (
    NAN,
    BadValue,
    Columns,
    ColumnsBuilder,
    JobRow,
    UtcTimes,
    fatal,
    finish_columns,
    open_text,
    shared_strings,
)
from gpufleet.inputs.traces.importers.csvfast import MISSING, Chunk, fast_columns
from gpufleet.inputs.traces.importers.gpu_names import GpuNames
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

if TYPE_CHECKING:
    from _csv import Reader

DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
ISO_EXPECTED = "an ISO 8601 time such as 2024-05-01T10:00:00Z"
NUMBER_EXPECTED = {
    MapField.GPUS: "a number of GPUs, 0 or more (fractions allowed)",
    MapField.DURATION: "seconds, 0 or more",
    MapField.CPUS: "a number of CPU cores, 0 or more",
    MapField.MEMORY_GB: "GiB of memory, 0 or more",
}
UNIX_GUESS_S = 1e9  # 2001-09-09: a larger first submit is taken for Unix time


CHUNK_ROWS = 10_000
"""Rows read, checked and turned into columns at a time: large enough that the per-column
work is in C, small enough that a chunk's text is a few MB whatever the file's size."""


def load_csv(
    path: Path,
    policy: RowPolicy,
    column_map: str | ColumnMap,
    time_format: str | TimeFormat | None = None,
) -> Workload:
    """Read ``path`` through ``column_map`` (``FIELD=COLUMN,...``); see the module docstring."""
    read = CsvRead(path, policy, column_map, time_format)
    columns = ColumnsBuilder()
    for chunk in read.chunks():
        columns.add(chunk)
    cols = columns.build()
    return finish_columns(cols, path, read.notes, policy, absolute=read.absolute)


class CsvRead:
    """One pass over a mapped CSV, a chunk of rows at a time: :meth:`chunks` yields each
    chunk's jobs as :class:`Columns` (times as the file writes them), in file order; once it
    is exhausted, ``notes`` and ``absolute`` (times are epoch seconds, so the workload's
    origin is the earliest submit) hold what the whole file said.

    A chunk whose rows are all good is converted column by column (:mod:`.csvfast`),
    whatever its time format; one that holds a bad row is read row by row as before, so
    every error and skipped row is reported in file order with its line, whichever path
    read its chunk."""

    def __init__(
        self,
        path: Path,
        policy: RowPolicy,
        column_map: str | ColumnMap,
        time_format: str | TimeFormat | None = None,
        *,
        columnar: bool = True,
    ) -> None:
        self.path = path
        self.columnar = columnar  # False: every chunk row by row (the tests' reference)
        self.policy = policy
        self.cmap = column_map if isinstance(column_map, ColumnMap) else ColumnMap.parse(column_map)
        self.fmt = TimeFormat.named(time_format) if time_format is not None else None
        self.notes: list[str] = []
        self.absolute = self.fmt is not TimeFormat.RELATIVE_SECONDS

    def chunks(self, rows_per_chunk: int = CHUNK_ROWS) -> Iterator[Columns]:
        policy, notes = self.policy, self.notes
        unknown = 0
        with open_text(self.path, policy, "a CSV file with a header line") as fh:
            skipped, header_text = _header_line(fh)
            delimiter, header = _delimiter(header_text, self.cmap, policy, skipped + 1)
            if delimiter != ",":
                notes.append(f"file read as {DELIMITERS[delimiter]}-delimited (from its header)")
            reader = csv.reader(fh, delimiter=delimiter)
            first = _first_row(_raw_rows(reader, skipped + 1), len(header), delimiter, policy)
            if first is None:
                fatal(policy, skipped + 2, "", "no data rows after the header", "one row per job")
            at = header.index(_col(self.cmap, MapField.SUBMIT))
            fmt = self.fmt or _guess_format(first[1], at, notes)
            self.absolute = fmt is not TimeFormat.RELATIVE_SECONDS
            parse = _RowParser(self.cmap, header, fmt, notes)
            row_reader = _ChunkRows(parse, len(header), delimiter, policy)
            chunk: Chunk | None = ([first[0]], [first[1]])
            while chunk is not None:
                if chunk[0]:  # a chunk of blank lines holds no row
                    with gc_paused():
                        fast = fast_columns(parse, chunk, len(header)) if self.columnar else None
                        cols = fast or row_reader(chunk)
                    unknown += int(np.isnan(cols.duration_s).sum())
                    yield cols
                chunk = cols = None  # type: ignore[assignment]  # free this chunk's rows first
                with gc_paused():
                    chunk = _raw_chunk(reader, skipped + 1, rows_per_chunk)
        self.notes = [*notes, *parse.notes(unknown)]


def _raw_rows(reader: Reader, before: int) -> Iterator[tuple[int, list[str]]]:
    """(line, row) for each non-blank row, whatever its width (for the first row only:
    :func:`_raw_chunk` reads the rest)."""
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        yield before + reader.line_num, row


def _first_row(
    raw: Iterator[tuple[int, list[str]]], width: int, delimiter: str, policy: RowPolicy
) -> tuple[int, list[str]] | None:
    """The first row of the header's width; rows before it are bad rows."""
    for line, row in raw:
        if len(row) == width:
            return line, row
        _bad_width(policy, line, row, width, delimiter)
    return None


def _raw_chunk(reader: Reader, before: int, n: int) -> Chunk | None:
    """The (lines, rows) of the next up to ``n`` non-blank rows, whatever their width, in
    one comprehension (a row's line is read right after it, as a quoted field may span
    lines); None at the end of the file."""
    got = [(reader.line_num, row) for row in islice(reader, n)]
    if not got:
        return None
    kept = [(before + line, row) for line, row in got if row and (len(row) > 1 or row[0].strip())]
    return [line for line, _ in kept], [row for _, row in kept]


class _ChunkRows:
    """A chunk read row by row (the path for a chunk with a bad row): each row checked for
    its width and parsed in file order, each problem handed to the policy."""

    def __init__(self, parse: _RowParser, width: int, delimiter: str, policy: RowPolicy):
        self.parse, self.width, self.delimiter, self.policy = parse, width, delimiter, policy

    def __call__(self, chunk: Chunk) -> Columns:
        parse, policy, delimiter = self.parse, self.policy, self.delimiter
        out: list[JobRow] = []
        ids: list[str] = []
        lines: list[int] = []
        for line, row in zip(*chunk, strict=True):
            if len(row) != self.width:
                _bad_width(policy, line, row, self.width, delimiter)
                continue
            try:
                out.append(parse(row))
            except BadValue as e:
                policy.bad(line, e.column, e.message, e.expected, delimiter.join(row))
                continue
            ids.append(parse.job_id(row))
            lines.append(line)
        return Columns.from_rows(out, ids, lines)


def _col(cmap: ColumnMap, f: MapField) -> str:
    column = cmap.get(f)
    assert column is not None, f"{f} is required by ColumnMap.parse"
    return column


def _header_line(fh: Iterator[str]) -> tuple[int, str]:
    """(blank lines before the header, the header line)."""
    for skipped, line in enumerate(fh):
        if line.strip():
            return skipped, line
    raise AssertionError("open_text let an empty file through")  # pragma: no cover


def _delimiter(text: str, cmap: ColumnMap, policy: RowPolicy, line: int) -> tuple[str, list[str]]:
    """The delimiter that finds every mapped column in the header, and the header's names."""
    wanted = [c for _, c in cmap.columns]
    splits = {d: [n.strip() for n in next(csv.reader([text], delimiter=d))] for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (sum(c in splits[d] for c in wanted), len(splits[d])))
    header = splits[best]
    for f, column in cmap.columns:
        if column not in header:
            how = f" (read as {DELIMITERS[best]}-delimited)" if best != "," else ""
            fatal(
                policy,
                line,
                "--map",
                f"column {column!r} (for {f.value}) is not in the header{how}",
                "one of the header's columns: " + ", ".join(repr(n) for n in header),
            )
        if header.count(column) > 1:
            fatal(
                policy,
                line,
                "--map",
                f"column {column!r} (for {f.value}) appears {header.count(column)} times in the "
                "header",
                "a column name that appears once; rename the duplicates",
            )
    return best, header


def _bad_width(policy: RowPolicy, line: int, row: list[str], width: int, delimiter: str) -> None:
    """A row whose field count differs from the header's: a bad row, with a hint when it
    holds another delimiter."""
    raw = delimiter.join(row)
    others = [name for d, name in DELIMITERS.items() if d != delimiter and d in raw]
    hint = f"; the row holds {others[0]}: does the file mix delimiters?" if others else ""
    policy.bad(
        line,
        "row",
        f"{len(row)} field(s) where the header has {width}{hint}",
        f"{width} fields separated by {DELIMITERS[delimiter]}",
        raw,
    )


def _guess_format(row: list[str], at: int, notes: list[str]) -> TimeFormat:
    text = row[at].strip() if at < len(row) else ""
    try:
        value = float(text)
    except ValueError:
        fmt = TimeFormat.ISO
    else:
        fmt = TimeFormat.UNIX if value >= UNIX_GUESS_S else TimeFormat.RELATIVE_SECONDS
    notes.append(f"time format taken as {fmt.value} from the first row's submit {text!r}")
    return fmt


class _RowParser:
    """One CSV row -> one job. Each workload column gets a reader fixed up front (position,
    column name, format), so the per-row work is a few calls and no lookups."""

    def __init__(self, cmap: ColumnMap, header: list[str], fmt: TimeFormat, notes: list[str]):
        self.at = {f: header.index(c) for f, c in cmap.columns}
        self.name = dict(cmap.columns)
        self.fmt = fmt
        self.times = UtcTimes()
        self.names = GpuNames()
        self.submit = self._time(MapField.SUBMIT, required=True)
        self.start = self._time(MapField.START)
        self.end = self._time(MapField.END)
        self.duration = self._number(MapField.DURATION)
        self.gpus = self._number(MapField.GPUS, required=True)
        self.cpus = self._number(MapField.CPUS)
        self.memory_gb = self._number(MapField.MEMORY_GB)
        self.gpu_type = self._text(MapField.GPU_TYPE, self.names.resolve)
        share = shared_strings()
        self.shared: Callable[[list[str]], list[str]] = lambda xs: list(map(share, xs, xs))
        self.queue, self.user, self.status = (
            self._text(f, lambda s: share(s, s))
            for f in (MapField.QUEUE, MapField.USER, MapField.STATUS)
        )
        self.job_id = self._text(MapField.JOB_ID, str)
        self.use_span = MapField.DURATION not in self.at
        if not self.use_span and MapField.END in self.at:
            notes.append(
                f"column {self.name[MapField.END]!r} (end) not read: run times come from "
                f"{self.name[MapField.DURATION]!r} (duration)"
            )

    def __call__(self, row: list[str]) -> JobRow:
        start = self.start(row)
        return (
            self.submit(row),
            start,
            self._span(row, start) if self.use_span else self.duration(row),
            self.gpus(row),
            self.gpu_type(row),
            self.cpus(row),
            self.memory_gb(row),
            self.queue(row),
            self.user(row),
            self.status(row),
        )

    def _span(self, row: list[str], start: float) -> float:
        end = self.end(row)
        if end < start:
            s, e = self.name[MapField.START], self.name[MapField.END]
            raise BadValue(
                e,
                f"{row[self.at[MapField.END]].strip()!r} is before {s} "
                f"{row[self.at[MapField.START]].strip()!r}",
                f"an {e} at or after the {s}",
            )
        return end - start  # NaN when either is unknown

    def _cell(self, f: MapField, required: bool) -> Callable[[list[str]], str | None]:
        """The cell's stripped text, or None when it holds no value."""
        i, column = self.at[f], self.name[f]

        def cell(row: list[str]) -> str | None:
            text = row[i].strip()
            if not text or (text[0] in _MISSING_FIRST and text.lower() in MISSING):
                if required:
                    raise BadValue(column, "empty", f"a value for {f.value} in every row")
                return None
            return text

        return cell

    def _time(self, f: MapField, required: bool = False) -> Callable[[list[str]], float]:
        if f not in self.at:
            return _unknown
        cell, column = self._cell(f, required), self.name[f]
        if self.fmt is TimeFormat.ISO:
            epoch_s = self.times.epoch_s

            def iso(row: list[str]) -> float:
                text = cell(row)
                return NAN if text is None else epoch_s(text, column, ISO_EXPECTED)

            return iso
        kind = "Unix seconds" if self.fmt is TimeFormat.UNIX else "seconds after the origin"
        expected = f"{kind}, a finite number (--time-format {self.fmt.value})"

        def seconds(row: list[str]) -> float:
            text = cell(row)
            return NAN if text is None else _float(text, column, expected, -math.inf)

        return seconds

    def _number(self, f: MapField, required: bool = False) -> Callable[[list[str]], float]:
        if f not in self.at:
            return _unknown
        cell, column, expected = self._cell(f, required), self.name[f], NUMBER_EXPECTED[f]
        negative = "a negative duration" if f is MapField.DURATION else "negative"

        def number(row: list[str]) -> float:
            text = cell(row)
            return NAN if text is None else _float(text, column, expected, 0.0, negative)

        return number

    def _text(self, f: MapField, keep: Callable[[str], str]) -> Callable[[list[str]], str]:
        if f not in self.at:
            return _nothing
        i = self.at[f]

        def text(row: list[str]) -> str:
            return keep(row[i].strip())

        return text

    def notes(self, unknown: int) -> list[str]:
        """``unknown``: how many jobs read have no duration."""
        what = "both a start and an end" if self.use_span else "a duration"
        counted = [f"{unknown} job(s) without {what}: duration NaN"] if unknown else []
        return [*counted, *self.times.notes("CSV"), *self.names.notes()]


_MISSING_FIRST = frozenset("nNuU")


def _unknown(row: list[str]) -> float:
    return NAN


def _nothing(row: list[str]) -> str:
    return ""


def _float(
    text: str, column: str, expected: str, least: float, negative: str = "negative"
) -> float:
    """``text`` as a finite number of ``least`` or more (``negative`` names a smaller one).
    ``-inf`` is not finite whatever ``least`` is: a time of -inf once passed as a time with
    no lower bound and crashed the conversion to a date (issue 14)."""
    try:
        n = float(text)
    except ValueError:
        raise BadValue(column, f"{text!r} is not a number", expected) from None
    if not math.isfinite(n):
        raise BadValue(column, f"{text!r} is not finite", expected)
    if n < least:
        raise BadValue(column, f"{text!r} is {negative}", expected)
    return n

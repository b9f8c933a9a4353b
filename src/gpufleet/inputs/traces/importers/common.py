"""What every importer shares: the bad-value exception its parsers raise, times read as UTC
seconds, the row tuple, opening a file, and the step that turns rows into a ``Workload``.

Times: a timestamp with a zone offset is converted to UTC; one without is read as UTC (the
importer notes how many were). Times are kept as seconds since the Unix epoch while reading;
the finished workload's ``origin`` is the earliest submit (a naive UTC datetime) and every
time becomes seconds after it.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from gpufleet.errors import Problem
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import F64, Workload

NAN = float("nan")
_EPOCH = datetime(1970, 1, 1)

# submit, start, duration, gpus, gpu_type, cpus, memory_gb, queue, user, status; times in
# epoch seconds (or relative seconds for a CSV whose times are relative)
JobRow = tuple[float, float, float, float, str, float, float, str, str, str]


class BadValue(Exception):
    """One bad value in a row: where (the column, or a JSON path), what, and what would be
    right. Parsers raise it; the importer's row loop hands it to the :class:`RowPolicy`."""

    def __init__(self, column: str, message: str, expected: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message
        self.expected = expected


@dataclass
class UtcTimes:
    """Parses ISO 8601 timestamps to epoch seconds (UTC), counting those without an offset."""

    naive: int = 0

    def epoch_s(self, text: str, column: str, expected: str) -> float:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(column, f"{text!r} is not a time", expected) from None
        if dt.tzinfo is None:
            self.naive += 1
            return (dt - _EPOCH).total_seconds()
        return dt.timestamp()

    def notes(self, what: str) -> list[str]:
        if not self.naive:
            return []
        return [f"{self.naive} {what} time(s) carried no time zone offset and were read as UTC"]


def utc_datetime(epoch_s: float) -> datetime:
    """Epoch seconds -> a naive datetime in UTC (the workload's ``origin`` convention)."""
    return datetime.fromtimestamp(epoch_s, UTC).replace(tzinfo=None)


@dataclass
class Counts:
    """Counted facts an importer reports as notes: ``add("pending jobs kept ...")``."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, note: str, n: int = 1) -> None:
        self.counts[note] = self.counts.get(note, 0) + n

    def notes(self) -> list[str]:
        return [f"{n} {note}" for note, n in self.counts.items()]


def shared_strings() -> Callable[[str, str], str]:
    """``share(s, s)`` returns one ``str`` object for all equal strings (queue, user and
    status repeat a lot; sharing keeps a million-row import small)."""
    seen: dict[str, str] = {}
    return seen.setdefault


@dataclass
class Columns:
    """Jobs as columns, as an importer reads them (times as the file has them: epoch seconds,
    or relative seconds for a CSV whose times are relative): a whole file, or one chunk of a
    file read a chunk at a time (:mod:`.csvmap`)."""

    submit_s: F64
    start_s: F64
    duration_s: F64
    gpus: F64
    cpus: F64
    memory_gb: F64
    gpu_type: list[str]
    queue: list[str]
    user: list[str]
    status: list[str]
    job_id: list[str] | None = None
    source_line: F64 | None = None

    def __len__(self) -> int:
        return len(self.submit_s)

    @classmethod
    def from_rows(
        cls, rows: list[JobRow], job_ids: list[str] | None = None, lines: list[int] | None = None
    ) -> Columns:
        c: list[list[Any]] = [list(x) for x in zip(*rows, strict=True)] if rows else []
        c = c or [[] for _ in range(10)]

        def f(i: int) -> F64:
            return np.asarray(c[i], dtype=np.float64)

        return cls(
            f(0), f(1), f(2), f(3), f(5), f(6), c[4], c[7], c[8], c[9],
            job_ids,
            None if lines is None else np.asarray(lines, dtype=np.float64),
        )  # fmt: skip


class ColumnsBuilder:
    """Columns grown a chunk at a time (:meth:`add`), then :meth:`build` once. Floats go to
    ``array`` buffers and texts to one list each, never a list of chunks concatenated at
    the end: a chunk's freed arrays stay in the process's heap, so a concatenation would
    hold every column twice (issue 14 item 9: a 2M-row read)."""

    _FLOATS = ("submit_s", "start_s", "duration_s", "gpus", "cpus", "memory_gb", "source_line")
    _TEXTS = ("gpu_type", "queue", "user", "status", "job_id")

    def __init__(self) -> None:
        self._f = {k: array("d") for k in self._FLOATS}
        self._t: dict[str, list[str]] = {k: [] for k in self._TEXTS}
        self._no_ids = self._no_lines = False

    def add(self, cols: Columns) -> None:
        self._no_ids |= cols.job_id is None
        self._no_lines |= cols.source_line is None
        for k, buf in self._f.items():
            col = getattr(cols, k)
            if col is not None:
                buf.frombytes(np.asarray(col, dtype=np.float64).tobytes())
        for k, out in self._t.items():
            out.extend(getattr(cols, k) or ())

    def build(self) -> Columns:
        f = {k: np.array(self._f.pop(k), dtype=np.float64) for k in self._FLOATS}  # each freed
        t = self._t
        return Columns(
            f["submit_s"], f["start_s"], f["duration_s"], f["gpus"], f["cpus"], f["memory_gb"],
            t["gpu_type"], t["queue"], t["user"], t["status"],
            None if self._no_ids else t["job_id"],
            None if self._no_lines else f["source_line"],
        )  # fmt: skip


def finish(
    rows: list[JobRow],
    path: Path,
    notes: Iterable[str],
    policy: RowPolicy,
    *,
    absolute: bool,
    job_ids: list[str] | None = None,
    lines: list[int] | None = None,
) -> Workload:
    """The workload of ``rows`` (:func:`finish_columns` for rows read one at a time)."""
    cols = Columns.from_rows(rows, job_ids, lines)
    return finish_columns(cols, path, notes, policy, absolute=absolute)


def finish_columns(
    cols: Columns, path: Path, notes: Iterable[str], policy: RowPolicy, *, absolute: bool
) -> Workload:
    """The workload of ``cols``. ``absolute``: times are epoch seconds, so ``origin`` is set
    to the earliest submit and times are shifted to seconds after it; otherwise the times are
    already relative and kept as they are. ``job_id`` and ``source_line``, where the source
    has them, are the source's job ids and line numbers."""
    submit, start = cols.submit_s, cols.start_s
    origin = None
    if absolute and len(submit):
        t0 = float(submit.min())
        origin = utc_datetime(t0)
        submit = submit - t0
        start = start - t0
    return Workload.build(
        path.stem,
        submit,
        cols.duration_s,
        cols.gpus,
        origin=origin,
        notes=[*notes, *policy.notes()],
        source=str(path),
        start_s=start,
        gpu_type=cols.gpu_type,
        cpus=cols.cpus,
        memory_gb=cols.memory_gb,
        queue=cols.queue,
        user=cols.user,
        status=cols.status,
        job_id=cols.job_id,
        source_line=cols.source_line,
    )


_INDEX = re.compile(r"\[\d+\]")


def bad_item(policy: RowPolicy, index: int, bad: BadValue, raw: str) -> None:
    """:meth:`RowPolicy.bad` for a JSON item, which has a path but no line: the problem reads
    ``file: items[3].spec...: what (expected ...)``. When skipping, the reason is counted with
    the indices generalized (``items[*]``) and the rejects file's line column holds the item's
    index."""
    problem = Problem(bad.column, bad.message, bad.expected, policy.file, None)
    if not policy.skip:
        raise RowError(problem)
    where = _INDEX.sub("[*]", bad.column)
    policy.skipped[f"{where}: {bad.message.split(':')[0]}"] += 1
    policy.rejects.append((index, problem.render(), raw))


def fatal(
    policy: RowPolicy, line: int | None, column: str, message: str, expected: str
) -> NoReturn:
    """:meth:`RowPolicy.fatal`, typed as the raise it is."""
    policy.fatal(line, column, message, expected)
    raise AssertionError("RowPolicy.fatal returned")  # pragma: no cover


def open_text(path: Path, policy: RowPolicy, expected: str) -> TextIO:
    """The file as UTF-8 text (a byte-order mark is dropped); a file that cannot be read or
    holds nothing but blanks is a fatal problem whose message says what was ``expected``."""
    try:
        fh = path.open("r", encoding="utf-8-sig", errors="replace", newline="")
    except OSError as e:
        fatal(policy, None, "", f"cannot read ({e.strerror or e})", "a readable file")
    while chunk := fh.read(65536):
        if chunk.strip():
            fh.seek(0)
            return fh
    fh.close()
    fatal(policy, None, "", "the file is empty", expected)

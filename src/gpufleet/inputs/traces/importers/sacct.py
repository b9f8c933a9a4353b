"""Slurm accounting exports: the output of ``sacct --parsable2`` (``|``-separated, one header
line), one row per job.

Ask sacct for exactly these fields (extra fields are ignored, so adding more does no harm)::

    sacct --allusers --allocations --parsable2 --starttime=2024-01-01 --endtime=now \\
      --format=JobID,User,Account,Partition,State,Submit,Start,End,Elapsed,AllocTRES,ReqTRES \\
      > jobs.sacct

``--starttime`` matters: without it sacct lists only jobs since midnight today. Set
``SLURM_TIME_FORMAT='%Y-%m-%dT%H:%M:%S%z'`` to put the zone offset in the times (or
``SLURM_TIME_FORMAT=%s`` for Unix seconds); without an offset they are in the cluster's local
time, which this importer cannot know and reads as UTC (and says so in the workload's notes).

JobID, Submit, Start, End and AllocTRES (or ReqTRES) are required. A file written with
``--delimiter`` or ``--noheader`` is read with the same delimiter, or with its ``--format``
list as the columns (``sacct_format.SacctFormat``). How each column becomes the workload's:

==========  ===============================================================================
JobID       job steps (an ID with a ``.``: ``123.batch``, ``123.0``) are skipped, even
            without ``--allocations``; array tasks (``123_4``) are jobs
Submit      ``submit_s``; ISO 8601 with or without a zone offset, or Unix seconds
Start       ``start_s``; ``Unknown``/``None`` (not started) -> NaN
End         the end; ``Unknown``/``None`` (still running or pending) -> duration NaN
Elapsed     ``duration_s`` of a finished job (``[DD-]HH:MM:SS`` or ``MM:SS.mmm``); it leaves
            out time the job spent suspended. Without the column, End - Start
AllocTRES   ``gpus`` from ``gres/gpu=N`` (or the sum of the typed ``gres/gpu:TYPE=N``),
            ``gpu_type`` from the typed entry, ``cpus`` from ``cpu=``, ``memory_gb`` from
            ``mem=`` (K/M/G/T are Slurm's binary units, so ``mem=64G`` is 64 GiB)
ReqTRES     the same, for jobs never allocated (AllocTRES empty: pending, cancelled early)
Account     ``queue`` (Slurm's unit of fair share and quota); Partition when it is empty.
            Partition and QOS name where and how urgently a job ran, not whose it was
User        ``user``
State       ``status``: its first word (``CANCELLED by 123`` -> ``CANCELLED``)
==========  ===============================================================================

Decisions, all reported in the workload's notes:

* Jobs without GPUs are kept with ``gpus`` 0 (they still use the partition's nodes).
* Jobs not finished are kept: pending ones with ``start_s`` and ``duration_s`` NaN, running
  ones with ``start_s`` set and ``duration_s`` NaN (their final run time is not known yet).
* A job that ended without starting (cancelled while pending) has duration 0.
* A typed GPU the catalog does not know (``gres/gpu:v100``) is kept under its own name; a job
  with several GPU types gets ``gpu_type`` "" (any).
* End before Start is a bad row.

Speed: the file is streamed line by line; TRES strings, which repeat, are parsed once each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gpufleet.inputs.traces.importers.common import (
    NAN,
    BadValue,
    Counts,
    JobRow,
    UtcTimes,
    fatal,
    finish,
    open_text,
    shared_strings,
)
from gpufleet.inputs.traces.importers.gpu_names import GpuNames
from gpufleet.inputs.traces.importers.sacct_format import (
    Layout,
    SacctFormat,
    layout,
)
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

PARSABLE2 = SacctFormat()  # '|', with a header line
TIME_EXPECTED = "an ISO time such as 2024-05-01T10:00:00"
ELAPSED_EXPECTED = "[DD-]HH:MM:SS or MM:SS.mmm"
TRES_EXPECTED = "NAME=COUNT items such as cpu=8,mem=64G,gres/gpu=4"
_NOT_A_TIME = frozenset({"Unknown", "None", ""})
_MEM_UNITS = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0, "P": 1024.0**2}


@dataclass(frozen=True)
class Tres:
    """One parsed TRES string. ``types``: the typed GPU names with a count above 0."""

    gpus: float
    types: tuple[str, ...]
    cpus: float
    memory_gb: float


def load_sacct(path: Path, policy: RowPolicy, fmt: SacctFormat = PARSABLE2) -> Workload:
    """Read a ``sacct --parsable2`` export (see the module docstring for the fields); ``fmt``
    gives another ``--delimiter`` or, for a ``--noheader`` file, its ``--format`` columns."""
    d = fmt.delimiter
    with open_text(path, policy, "sacct --parsable2 output with its header line") as fh:
        if fmt.columns is not None:  # --noheader: every line is a job
            names, header, at, trailing = list(fmt.columns), "", 0, False
        else:
            header, at = "", 0
            while not header:  # open_text saw a non-blank line, so this ends
                header, at = fh.readline().strip(), at + 1
            trailing = header.endswith(d)  # --parsable (not 2) ends every line with one
            names = (header[: -len(d)] if trailing else header).split(d)
        reader = _Reader(layout(names, header, at, policy, fmt), policy, fmt)
        for lineno, line in enumerate(fh, start=at + 1):
            text = line.rstrip("\r\n")
            if not text:
                continue
            if fmt.columns is not None:  # no header to tell: a --parsable row has one more
                trailing = text.endswith(d) and text.count(d) == reader.lay.width
            reader.line(lineno, text[: -len(d)] if trailing and text.endswith(d) else text)
    if reader.data_lines == 0:
        fatal(
            policy,
            at + 1,
            "",
            "no job rows" + (" after the header" if fmt.columns is None else ""),
            "one row per job; sacct lists only today's jobs unless given --starttime",
        )
    no_gpus = sum(1 for r in reader.rows if r[3] == 0)
    if no_gpus:
        reader.counts.add("job(s) without GPUs kept with gpus=0", no_gpus)
    notes = [*reader.counts.notes(), *reader.times.notes("sacct"), *reader.gpu_names.notes()]
    return finish(
        reader.rows,
        path,
        notes,
        policy,
        absolute=True,
        job_ids=reader.job_ids,
        lines=reader.lines,
    )


class _Reader:
    """The row loop's state: the rows so far, the counts behind the notes, the caches."""

    def __init__(self, layout: Layout, policy: RowPolicy, fmt: SacctFormat) -> None:
        self.lay = layout
        self.delimiter = fmt.delimiter
        self.headerless = fmt.columns is not None
        self.policy = policy
        self.rows: list[JobRow] = []
        self.job_ids: list[str] = []  # JobID of each row, as sacct wrote it
        self.lines: list[int] = []
        self.counts = Counts()
        self.times = UtcTimes()
        self.gpu_names = GpuNames()
        self.share = shared_strings()
        self.tres_cache: dict[str, Tres] = {}
        self.data_lines = 0

    def line(self, lineno: int, text: str) -> None:
        self.data_lines += 1
        fields = text.split(self.delimiter)
        try:
            if len(fields) != self.lay.width:
                fields = self._fit(fields)
            if "." in fields[self.lay.job_id]:
                self.counts.add("job step row(s) skipped (IDs with a '.'; the job's row counts)")
                return
            self.rows.append(self._job(fields))
            self.job_ids.append(fields[self.lay.job_id])
            self.lines.append(lineno)
        except BadValue as e:
            self.policy.bad(lineno, e.column, e.message, e.expected, text)

    def _fit(self, fields: list[str]) -> list[str]:
        """A row with one field per column; a delimiter inside JobName is put back."""
        width, jn, d = self.lay.width, self.lay.job_name, self.delimiter
        if jn is not None and len(fields) > width:
            extra = len(fields) - width
            return [*fields[:jn], d.join(fields[jn : jn + extra + 1]), *fields[jn + extra + 1 :]]
        where = "--columns lists" if self.headerless else "the header has"
        raise BadValue(
            "row",
            f"{len(fields)} field(s) where {where} {width}",
            f"{width} fields separated by {d!r}, as sacct --parsable2 writes them",
        )

    def _job(self, f: list[str]) -> JobRow:
        lay = self.lay
        state = f[lay.state].split(" ", 1)[0].rstrip("+") if lay.state is not None else ""
        submit = self._stamp(f[lay.submit], "Submit", TIME_EXPECTED)
        start = NAN if f[lay.start] in _NOT_A_TIME else self._stamp(f[lay.start], "Start")
        end = NAN if f[lay.end] in _NOT_A_TIME else self._stamp(f[lay.end], "End")
        duration = self._duration(f, start, end, state)
        tres = self._tres(f)
        gpu_type = ""
        if len(tres.types) == 1:
            gpu_type = self.gpu_names.resolve(tres.types[0])
        elif tres.types:
            self.counts.add("job(s) with several GPU types kept with gpu_type '' (any)")
        queue = f[lay.account] if lay.account is not None else ""
        if not queue and lay.partition is not None:
            queue = f[lay.partition]
        user = f[lay.user] if lay.user is not None else ""
        share = self.share
        return (
            submit,
            start,
            duration,
            tres.gpus,
            gpu_type,
            tres.cpus,
            tres.memory_gb,
            share(queue, queue),
            share(user, user),
            share(state, state),
        )

    def _stamp(
        self, text: str, column: str, expected: str = TIME_EXPECTED + ", or Unknown"
    ) -> float:
        """ISO 8601, or Unix seconds (``SLURM_TIME_FORMAT=%s``)."""
        if text.isdigit():
            return float(text)
        return self.times.epoch_s(text, column, expected)

    def _duration(self, f: list[str], start: float, end: float, state: str) -> float:
        lay = self.lay
        if math.isnan(end):
            self.counts.add(f"job(s) not finished ({state or 'no State'}): duration NaN")
            return NAN
        if math.isnan(start):
            self.counts.add("job(s) ended without starting: duration 0")
            return 0.0
        if end < start:
            raise BadValue(
                "End",
                f"{f[lay.end]!r} is before Start {f[lay.start]!r}",
                "an End at or after Start",
            )
        return elapsed_s(f[lay.elapsed]) if lay.elapsed is not None else end - start

    def _tres(self, f: list[str]) -> Tres:
        lay = self.lay
        column, text = "AllocTRES", f[lay.alloc] if lay.alloc is not None else ""
        if not text and lay.req is not None:
            column, text = "ReqTRES", f[lay.req]
            if text:
                self.counts.add("job(s) never allocated: GPUs, CPUs and memory from ReqTRES")
        tres = self.tres_cache.get(text)
        if tres is None:
            tres = parse_tres(text, column)
            self.tres_cache[text] = tres
        return tres


def elapsed_s(text: str) -> float:
    """Seconds in a Slurm duration: ``[DD-]HH:MM:SS[.fff]`` or ``MM:SS[.fff]``."""
    days, sep, clock = text.partition("-")
    if not sep:
        days, clock = "0", text
    parts = clock.split(":")
    try:
        d = int(days)
        if len(parts) == 3:
            h, m, s = int(parts[0]), int(parts[1]), float(parts[2])
        elif len(parts) == 2:
            h, m, s = 0, int(parts[0]), float(parts[1])
        else:
            raise ValueError(text)
    except ValueError:
        raise BadValue("Elapsed", f"{text!r} is not a duration", ELAPSED_EXPECTED) from None
    if d < 0 or h < 0 or not 0 <= m < 60 or not 0 <= s < 60:
        raise BadValue("Elapsed", f"{text!r} is out of range", ELAPSED_EXPECTED)
    return d * 86400 + h * 3600 + m * 60 + s


def parse_tres(text: str, column: str) -> Tres:
    """GPUs, GPU types, CPUs and memory (GiB) of a TRES string. Slurm writes the total
    (``gres/gpu=4``) next to the typed counts (``gres/gpu:h100=4``); the total wins."""
    total: float | None = None
    typed: dict[str, float] = {}
    cpus = memory = NAN
    for item in _items(text):
        key, sep, value = item.partition("=")
        if not sep:
            raise BadValue(column, f"{item!r} has no '='", TRES_EXPECTED)
        if key == "gres/gpu":
            total = _count(value, item, column)
        elif key.startswith("gres/gpu:"):
            name = key[len("gres/gpu:") :]
            typed[name] = typed.get(name, 0.0) + _count(value, item, column)
        elif key == "cpu":
            cpus = _count(value, item, column)
        elif key == "mem":
            memory = _memory_gb(value, item, column)
    gpus = total if total is not None else sum(typed.values())
    return Tres(gpus, tuple(n for n, c in typed.items() if c > 0), cpus, memory)


def _items(text: str) -> Iterator[str]:
    return (item for item in text.split(",") if item)


def _count(value: str, item: str, column: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise BadValue(column, f"{item!r}: {value!r} is not a number", TRES_EXPECTED) from None
    if not math.isfinite(n) or n < 0:
        raise BadValue(column, f"{item!r}: {value!r} is not a count", "a count of 0 or more")
    return n


def _memory_gb(value: str, item: str, column: str) -> float:
    unit = value[-1:].upper()
    scale = _MEM_UNITS.get(unit)
    number = value[:-1] if scale is not None else value
    try:
        n = float(number)
    except ValueError:
        raise BadValue(
            column, f"{item!r}: {value!r} is not a memory size", "a size such as 512M, 64G or 2T"
        ) from None
    if not math.isfinite(n) or n < 0:
        raise BadValue(column, f"{item!r}: {value!r} is not a memory size", "a size of 0 or more")
    return n * (scale if scale is not None else _MEM_UNITS["M"])  # Slurm's default unit is M

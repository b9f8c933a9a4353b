"""What the CLI writes to stderr, and how: logging, notes, errors and progress.

stdout carries a command's data (its text or ``--json`` document); stderr carries the rest.
The global flags set it once per run (:func:`configure`):

- ``-v`` / ``-vv``: the package's log records from INFO / DEBUG (default: WARNING);
- ``-q``: no notes, no progress, only errors;
- ``--log-format json``: every stderr line is one JSON object (``ts``, ``level``,
  ``logger``, ``msg`` and the record's fields), so a log shipper can read it; notes,
  errors and progress come as such lines too.

Progress (:class:`ProgressBar`; :class:`Stages` for work with no fraction; :class:`Cycles`
for a loop that runs every interval) shows on a terminal only: piped or redirected stderr, a
notebook's captured stream or ``-q`` keep it silent. It starts once a run has taken 2 s
(``GPUFLEET_PROGRESS_AFTER_S`` sets another number of seconds).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from gpufleet.errors import InputError

LogFormat = Literal["text", "json"]
LOG = logging.getLogger("gpufleet")
# LogRecord's own attributes: whatever else a record holds came from `extra=` and is a field
_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@dataclass
class Output:
    """The run's settings: verbosity (-1 quiet, 0 default, 1+ verbose) and the log format."""

    verbosity: int = 0
    log_format: LogFormat = "text"

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0


OUTPUT = Output()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ISO 8601), level, logger, msg, and the fields
    given with ``extra=``; an exception's text under ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        d: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        d.update({k: v for k, v in vars(record).items() if k not in _RECORD_KEYS})
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(d, default=str)


class StderrHandler(logging.Handler):
    """Writes each record to ``stream``, else to whatever ``sys.stderr`` is when the record
    comes (so a handler left from an earlier run never writes to a stream since closed)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.target = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            out = self.target or sys.stderr
            out.write(self.format(record) + "\n")
            out.flush()
        except Exception:  # logging's rule: a failing handler must not fail the program
            self.handleError(record)


def configure(verbosity: int, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Set the run's output: the ``gpufleet`` logger's level and its one stderr handler
    (replacing the one an earlier run in this process set). Records still propagate, so a
    host's own logging (a test's capture, an application embedding gpufleet) sees them."""
    OUTPUT.verbosity, OUTPUT.log_format = verbosity, log_format
    level = logging.ERROR if verbosity < 0 else (logging.WARNING, logging.INFO)[min(verbosity, 1)]
    if verbosity >= 2:
        level = logging.DEBUG
    for h in [h for h in LOG.handlers if isinstance(h, StderrHandler)]:
        LOG.removeHandler(h)
    handler = StderrHandler(stream)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter("gpufleet: %(message)s")
    )
    LOG.addHandler(handler)
    LOG.setLevel(level)


def reset() -> None:
    """Undo :func:`configure` at the end of a run (main() in a test or a notebook leaves
    no handler, level or setting behind)."""
    for h in [h for h in LOG.handlers if isinstance(h, StderrHandler)]:
        LOG.removeHandler(h)
    LOG.setLevel(logging.NOTSET)
    OUTPUT.verbosity, OUTPUT.log_format = 0, "text"


def note(msg: str, stream: TextIO | None = None) -> None:
    """A message for the person at the terminal (where a file went, a secret's caveat):
    plain text, a JSON line with ``--log-format json``, nothing with ``-q``."""
    if OUTPUT.quiet:
        return
    out = stream or sys.stderr
    if OUTPUT.log_format == "json":
        out.write(_json_line("info", msg) + "\n")
    else:
        out.write(msg + "\n")


def error(msg: str, stream: TextIO | None = None, prefix: str = "gpufleet: ") -> None:
    """The error a command ends with (``gpufleet: ...``), shown even with ``-q``."""
    out = stream or sys.stderr
    if OUTPUT.log_format == "json":
        out.write(_json_line("error", msg) + "\n")
    else:
        out.write(f"{prefix}{msg}\n")
    out.flush()


def _json_line(level: str, msg: str, **fields: Any) -> str:
    ts = datetime.now(UTC).isoformat(timespec="milliseconds")
    return json.dumps({"ts": ts, "level": level, "logger": "gpufleet.cli", "msg": msg, **fields})


def progress_after_s() -> float:
    """Seconds before progress shows: ``GPUFLEET_PROGRESS_AFTER_S`` or 2 (bad input when it
    is not a number >= 0)."""
    raw = os.environ.get("GPUFLEET_PROGRESS_AFTER_S", "2")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise InputError(
            f"GPUFLEET_PROGRESS_AFTER_S={raw!r}: not a number of seconds (expected e.g. 0 or 2)"
        )
    return value


class ProgressBar:
    """Progress on stderr with its rate and the time left, for a run's fraction done.

    Shown only on a terminal, not with ``-q``, and only once a run has taken over
    ``after_s`` seconds (a short one shows nothing). ``total`` and ``unit`` name what the
    fraction counts (``total=40, unit="runs"``: 0.5 is 20 runs) so the rate reads as
    ``3.1 runs/s``; without them it is per cent per second. The time left assumes the rest
    goes at the rate so far: elapsed x (1 - f) / f. On a terminal with ``--log-format
    json`` it writes a JSON line at most once a second instead of redrawing a bar.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        after_s: float | None = None,
        force: bool = False,
        total: float | None = None,
        unit: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.clock = clock
        self.t0 = clock()
        self.after_s = progress_after_s() if after_s is None else after_s
        self.enabled = force or (_isatty(self.stream) and not OUTPUT.quiet)
        self.total, self.unit = total, unit
        self.shown = False
        self._last = -math.inf

    def __call__(self, fraction: float) -> None:
        now = self.clock()
        elapsed = now - self.t0
        if not self.enabled or elapsed < self.after_s:
            return
        f = max(0.0, min(1.0, fraction))
        every = 1.0 if OUTPUT.log_format == "json" else 0.1
        if now - self._last < every and f < 1.0:
            return
        self._last = now
        rate, left = self.rate(f, elapsed), self.seconds_left(f, elapsed)
        if OUTPUT.log_format == "json":
            line = _json_line(
                "info",
                f"{self.label} {f * 100:.1f}%",
                progress=self.label,
                fraction=round(f, 4),
                rate=round(rate, 4),
                rate_unit=f"{self.unit or '%'}/s",
                seconds_left=None if left is None else round(left, 1),
            )
            self.stream.write(line + "\n")
        else:
            n = int(f * 30)
            self.stream.write(
                f"\r{self.label} [{'#' * n}{'.' * (30 - n)}] {f * 100:5.1f}% "
                f"{_rate_text(rate, self.unit)}, {_left_text(left)}\x1b[K"
            )
        self.stream.flush()
        self.shown = True

    def rate(self, fraction: float, elapsed_s: float) -> float:
        """Units (or per cent) done per second so far."""
        done = fraction * self.total if self.total is not None else fraction * 100.0
        return done / elapsed_s if elapsed_s > 0 else 0.0

    @staticmethod
    def seconds_left(fraction: float, elapsed_s: float) -> float | None:
        """elapsed x (1 - f) / f; unknown (None) before anything is done."""
        return elapsed_s * (1.0 - fraction) / fraction if fraction > 0 else None

    def close(self) -> None:
        if self.shown and OUTPUT.log_format != "json":
            self.stream.write("\n")
            self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a stand-in stream
        return False


def _rate_text(rate: float, unit: str) -> str:
    return f"{rate:.3g} {unit}/s" if unit else f"{rate:.2g}%/s"


def _left_text(left: float | None) -> str:
    return "time left unknown" if left is None else f"{_span(left)} left"


def _span(seconds: float) -> str:
    """``59s``, ``1m30s``, ``1h20m``: seconds rounded to the nearest one."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Stages:
    """For work with no fraction to show (a trace's loader reads a file whole): each stage's
    name when it starts and its time when it ends, on a terminal only (as
    :class:`ProgressBar`): ``trace convert: reading X ... 3.2 s``."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        force: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = force or (_isatty(self.stream) and not OUTPUT.quiet)
        self.clock = clock
        self.current: tuple[str, float] | None = None

    def start(self, what: str) -> None:
        self.done()
        self.current = (what, self.clock())
        if self.enabled and OUTPUT.log_format != "json":
            self.stream.write(f"{self.label}: {what} ...")
            self.stream.flush()

    def done(self) -> None:
        if self.current is None:
            return
        what, t0 = self.current
        self.current = None
        if not self.enabled:
            return
        took = self.clock() - t0
        if OUTPUT.log_format == "json":
            line = _json_line("info", f"{self.label}: {what}", stage=what, seconds=round(took, 3))
            self.stream.write(line + "\n")
        else:
            self.stream.write(f" {took:.1f} s\n")
        self.stream.flush()


class Cycles:
    """Between the cycles of a loop that runs every interval (``observe --every``): the
    cycles done (of ``count``, when given), how long the last one took and when the next
    starts, counted down once a second until it does; the line is cleared before the next
    cycle prints its result. On a terminal only (as :class:`ProgressBar`); with
    ``--log-format json``, one JSON line per wait instead of a countdown."""

    def __init__(
        self,
        label: str,
        every_s: float,
        count: int | None = None,
        stream: TextIO | None = None,
        force: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label, self.every_s, self.count = label, every_s, count
        self.stream = stream or sys.stderr
        self.enabled = force or (_isatty(self.stream) and not OUTPUT.quiet)
        self.clock, self.sleep = clock, sleep

    def wait(self, cycles: int, started: float) -> None:
        """Sleep until ``every_s`` after ``started`` (the ``clock()`` at which the last
        cycle, the ``cycles``-th, began), showing the countdown."""
        took = self.clock() - started
        due = started + self.every_s
        done = f"cycle {cycles}" + (f" of {self.count}" if self.count is not None else "")
        if self.enabled and OUTPUT.log_format == "json":
            line = _json_line(
                "info",
                f"{self.label}: {done} took {took:.1f} s",
                progress=self.label,
                cycles=cycles,
                count=self.count,
                last_cycle_s=round(took, 3),
                next_in_s=round(max(0.0, due - self.clock()), 1),
            )
            self.stream.write(line + "\n")
            self.stream.flush()
        shown = False
        while (left := due - self.clock()) > 0:
            if self.enabled and OUTPUT.log_format != "json":
                self.stream.write(
                    f"\r{self.label}: {done} took {took:.1f} s; next in {_span(math.ceil(left))}"
                    "\x1b[K"
                )
                self.stream.flush()
                shown = True
            self.sleep(min(1.0, left))
        if shown:  # the next cycle's result starts on a clean line
            self.stream.write("\r\x1b[K")
            self.stream.flush()

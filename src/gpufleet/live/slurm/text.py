"""Slurm's text outputs that have no ``--json`` in 22.05: ``sacctmgr -P`` and ``sshare -P``
(``|``-separated with a header line) and ``scontrol show config`` (``Key = value``).

Errors name the command, the line (1 = the header) and the column."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gpufleet.live.errors import SourceError


@dataclass(frozen=True)
class Row:
    """One line of a ``-P`` table, read by column name."""

    source: str
    line: int
    cells: dict[str, str]

    def fail(self, column: str, message: str, expected: str) -> SourceError:
        return SourceError(self.source, column, message, expected, line=self.line)

    def text(self, column: str) -> str:
        return self.cells[column].strip()

    def opt_whole(self, column: str) -> int | None:
        value = self.text(column)
        if value == "":
            return None
        if not value.isdigit():
            raise self.fail(column, f"{value!r} is not a whole number", "digits or empty")
        return int(value)

    def whole(self, column: str) -> int:
        value = self.opt_whole(column)
        if value is None:
            raise self.fail(column, "is empty", "a whole number")
        return value

    def opt_number(self, column: str) -> float | None:
        value = self.text(column)
        if value == "":
            return None
        try:
            number = float(value)
        except ValueError:
            raise self.fail(column, f"{value!r} is not a number", "a number") from None
        if math.isnan(number):
            raise self.fail(column, "is NaN", "a number")
        return number

    def number(self, column: str) -> float:
        value = self.opt_number(column)
        if value is None:
            raise self.fail(column, "is empty", "a number")
        return value


def pipe_table(source: str, text: str, required: Sequence[str]) -> list[Row]:
    """Rows of a ``-P`` table; the header must hold every ``required`` column."""
    lines = text.splitlines()
    if not lines or "|" not in lines[0]:
        raise SourceError(source, "<header>", "no header line", "NAME|NAME|... (run with -P)", 1)
    header = [h.strip() for h in lines[0].split("|")]
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(
            source, "<header>", f"columns {', '.join(missing)} missing", ", ".join(required), 1
        )
    rows: list[Row] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("|")
        if len(cells) != len(header):
            raise SourceError(
                source, "<row>", f"{len(cells)} cells", f"{len(header)} as in the header", number
            )
        rows.append(Row(source, number, dict(zip(header, cells, strict=True))))
    return rows


def config_pairs(source: str, text: str) -> dict[str, str]:
    """``Key = value`` lines of ``scontrol show config``; the first of a repeated key wins
    (the main configuration comes before the plugins' sections)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Configuration data as of"):
        raise SourceError(
            source, "<first line>", "not scontrol's configuration", "Configuration data as of", 1
        )
    pairs: dict[str, str] = {}
    for line in lines[1:]:
        m = re.match(r"^(\w[\w/]*)\s*= ?(.*)$", line)
        if m and m.group(1) not in pairs:
            pairs[m.group(1)] = m.group(2).strip()
    return pairs


def duration_s(source: str, key: str, value: str) -> int | None:
    """Slurm's durations: ``60 sec``, ``00:01:00``, ``1-00:00:00``, ``5`` (minutes where
    the key takes minutes is the caller's business); ``NONE``/``INFINITE``/``0`` -> None
    only for NONE and INFINITE."""
    text = value.strip()
    if text.upper() in ("NONE", "INFINITE", "UNLIMITED", "(NULL)"):
        return None
    m = re.fullmatch(r"(\d+) sec", text)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text)
    if m:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    raise SourceError(source, key, f"{value!r} is not a duration", "N sec or [D-]HH:MM:SS")


FieldFail = Callable[[str, str, str], SourceError]  # (field, message, expected) -> the error


def field_cells(fail: FieldFail, fields: Sequence[str], raw: str) -> dict[str, str]:
    """One line of a ``-O 'name:|,...'`` answer (squeue, sinfo) by field name: every field
    ends in ``|`` and the last, the one free-text field, keeps any ``|`` of its own."""
    if not raw.endswith("|"):
        raise fail("<line>", f"{raw[-20:]!r} does not end with '|'", "each field ending in '|'")
    cells = raw[:-1].split("|", len(fields) - 1)
    if len(cells) != len(fields):
        raise fail("<line>", f"{len(cells)} fields", f"{len(fields)}: {', '.join(fields)}")
    return dict(zip(fields, cells, strict=True))

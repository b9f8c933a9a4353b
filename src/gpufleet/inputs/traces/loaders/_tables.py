"""What the loaders of this package share: CSV rows whose every bad cell is reported as
``file:line: column: reason: detail (expected ...)``, and fleets grouped from node lists.

A row parser takes a :class:`Row` and returns a record; a bad cell calls :meth:`Row.fail`,
which raises the located error, or, when the policy skips, drops the row (the reason before
the first colon is what the skip counter counts). Private to the loaders: the leading
underscore keeps it from looking like a trace of its own.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, NoReturn, TypeVar

from gpufleet.errors import InternalError
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import FleetGroup

T = TypeVar("T")


class _Dropped(Exception):
    """A bad row was reported and the policy skips: leave the row out."""


def for_file(policy: RowPolicy, path: Path) -> RowPolicy:
    """The same policy, naming ``path`` in its messages; skip counts and rejects are shared
    with ``policy`` (the same objects), so the caller sees every file's skipped rows."""
    return dataclasses.replace(policy, file=str(path))


@dataclasses.dataclass(frozen=True)
class Row:
    """One data row of a CSV file, by column name."""

    policy: RowPolicy
    line: int
    cells: dict[str, str]
    raw: str

    def text(self, column: str) -> str:
        return self.cells.get(column, "").strip()

    def fail(self, column: str, message: str, expected: str) -> NoReturn:
        """Report this row as bad: raises the located error, or drops the row when skipping."""
        self.policy.bad(self.line, column, message, expected, self.raw)
        raise _Dropped

    def number(
        self,
        column: str,
        *,
        least: float = 0.0,
        strict: bool = False,
        integer: bool = False,
        blank_ok: bool = False,
    ) -> float:
        """A finite number of at least ``least`` (more than it if ``strict``); NaN for a blank
        cell when ``blank_ok``."""
        text = self.text(column)
        try:
            value = float(int(text)) if integer else float(text)
        except ValueError:
            if not text and blank_ok:
                return math.nan
            what = f"not {_kind(integer)}: {text!r}" if text else "empty"
            self.fail(column, what, _expected(least, strict, integer))
        if not math.isfinite(value) or value < least or (strict and value == least):
            self.fail(column, f"out of range: {text}", _expected(least, strict, integer))
        return value

    def choice(self, column: str, allowed: Collection[str], what: str) -> str:
        """The cell, which must be one of ``allowed`` (``what`` names the kind of value)."""
        text = self.text(column)
        if text not in allowed:
            valid = ", ".join(a or repr(a) for a in sorted(allowed))
            self.fail(column, f"unknown {what}: {text!r}", f"one of {valid}")
        return text


def _kind(integer: bool) -> str:
    return "an integer" if integer else "a number"


def _expected(least: float, strict: bool, integer: bool) -> str:
    bound = f"greater than {least:g}" if strict else f"of {least:g} or more"
    return f"{_kind(integer)} {bound}"


def read_table(
    path: Path,
    policy: RowPolicy,
    columns: Sequence[str],
    parse: Callable[[Row], T],
    *,
    header: Sequence[str] | None = None,
) -> list[T]:
    """Parse every data row of a CSV file that must have ``columns``.

    The file's first line is its header, unless ``header`` gives the column names of a file
    without one. A file without data rows, or without a needed column, is fatal whatever the
    policy; a bad row is reported through the policy (raise, or skip and count).
    """
    pol = for_file(policy, path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            if header is None:
                names = _header(reader, pol, columns)
            else:
                names = list(header)
                _require(pol, None, names, columns, f"header names {','.join(columns)}")
            out: list[T] = []
            rows = 0
            for fields in reader:
                if not fields:
                    continue  # a blank line
                rows += 1
                if len(fields) != len(names):
                    pol.bad(
                        reader.line_num,
                        "row",
                        f"wrong number of fields: {len(fields)}",
                        f"{len(names)} fields ({','.join(names)})",
                        ",".join(fields),
                    )
                    continue
                row = Row(
                    pol, reader.line_num, dict(zip(names, fields, strict=True)), ",".join(fields)
                )
                try:
                    out.append(parse(row))
                except _Dropped:
                    continue
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fatal(pol, None, "file", f"cannot read: {e}", "a readable UTF-8 CSV file")
    if not rows:
        head = "a header line, then " if header is None else ""
        fatal(pol, reader.line_num + 1, "row", "no data rows", f"{head}one row per record")
    return out


def fatal(
    policy: RowPolicy, line: int | None, column: str, message: str, expected: str
) -> NoReturn:
    """:meth:`RowPolicy.fatal`, which always raises, typed so."""
    policy.fatal(line, column, message, expected)
    raise InternalError("RowPolicy.fatal returned")


def _header(reader: Iterable[list[str]], policy: RowPolicy, columns: Sequence[str]) -> list[str]:
    expected = f"a header line {','.join(columns)}"
    first = next(iter(reader), None)
    if first is None:
        fatal(policy, 1, "header", "empty file", expected)
    names = [c.strip() for c in first]
    _require(policy, 1, names, columns, expected)
    return names


def _require(
    policy: RowPolicy, line: int | None, names: Sequence[str], columns: Sequence[str], expected: str
) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        fatal(
            policy,
            line,
            "header",
            f"missing column(s): {', '.join(missing)}; the header is {','.join(names)!r}",
            expected,
        )


class NodeSpec(NamedTuple):
    """One node of a node list; ``gpu_type`` is "" for a CPU-only node (0 GPUs). ``name``:
    the node's id in the list where it has one (openb's ``sn``); fleets group nodes
    without it."""

    gpu_type: str
    gpus: int
    cpus: float | None = None
    memory_gb: float | None = None
    name: str = ""


def gpu_fleet(nodes: Sequence[NodeSpec], what: str) -> tuple[tuple[FleetGroup, ...], list[str]]:
    """The GPU nodes as groups of identical ones (by model, then size), and a note on the
    CPU-only ``what`` (nodes, machines) left out: a fleet holds GPUs, and a replay drops
    CPU-only jobs."""
    counts = Counter(n._replace(name="") for n in nodes if n.gpus > 0)

    def key(spec: NodeSpec) -> tuple[str, int, float, float]:
        return (spec.gpu_type, spec.gpus, spec.cpus or 0.0, spec.memory_gb or 0.0)

    groups = tuple(
        FleetGroup(s.gpu_type, s.gpus, counts[s], s.cpus, s.memory_gb)
        for s in sorted(counts, key=key)
    )
    cpu_only = [n for n in nodes if n.gpus == 0]
    if not cpu_only:
        return groups, []
    cores = sum(n.cpus or 0.0 for n in cpu_only)
    return groups, [
        f"{len(cpu_only)} CPU-only {what} ({cores:,.0f} CPU cores) are not in the fleet, "
        "which holds the GPU nodes only"
    ]

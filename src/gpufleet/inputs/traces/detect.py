"""Which importer reads a file: decided from its content, not its name.

JSON (a ``{`` or ``[`` first) is a Kubernetes List of Pods or Kueue Workloads; a first line
with ``|`` and ``JobID`` is a Slurm ``sacct --parsable2`` export; anything else is a plain
CSV, which needs a column map (``--map``) to say which column is which. A column map reads
the file as a CSV whatever it looks like, so a ``|``-delimited file that merely resembles
sacct output can still be mapped.
"""

from __future__ import annotations

import csv
from pathlib import Path

from gpufleet.errors import InputError
from gpufleet.inputs.traces.importers.columnmap import EXAMPLE, FIELDS_TEXT, ColumnMap, TimeFormat
from gpufleet.inputs.traces.importers.csvmap import load_csv
from gpufleet.inputs.traces.importers.kubernetes import load_kubernetes
from gpufleet.inputs.traces.importers.sacct import load_sacct
from gpufleet.inputs.traces.importers.sacct_format import SacctFormat
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload


def sniff(path: Path) -> str:
    """``sacct``, ``kubernetes`` or ``csv`` from the first bytes of the file."""
    head = _head(path)
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if head.lstrip().startswith("{") or head.lstrip().startswith("["):
        return "kubernetes"
    if "|" in first and "JobID" in first:
        return "sacct"
    return "csv"


def _head(path: Path) -> str:
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
            return fh.read(4096)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None


def load_file(
    path: Path,
    policy: RowPolicy,
    column_map: str | ColumnMap | None = None,
    time_format: str | TimeFormat | None = None,
    sacct: SacctFormat | None = None,
) -> Workload:
    """The workload in ``path``, read by the importer its content calls for.

    ``column_map`` (``FIELD=COLUMN,...``) reads the file as a plain CSV; ``time_format``
    (``relative-seconds``, ``unix`` or ``iso``) says how that CSV writes times and is only
    meaningful with a map. ``sacct`` (another ``--delimiter``, or the ``--columns`` of a
    headerless file) reads it as sacct output whatever its first line looks like."""
    kind = sniff(path)
    if sacct is not None:
        if column_map is not None or time_format is not None:
            raise InputError(
                f"{path}: --delimiter and --columns describe sacct output; --map reads a plain "
                "CSV (give one or the other)"
            )
        if kind == "kubernetes":
            raise InputError(
                f"{path}: --delimiter and --columns are for sacct output; this is JSON"
            )
        return load_sacct(path, policy, sacct)
    if column_map is not None:
        if kind == "kubernetes":
            raise InputError(
                f"{path}: --map is for CSV files; this is JSON (a Kubernetes list), "
                "which is read without a map"
            )
        return load_csv(path, policy, column_map, time_format)
    if time_format is not None:
        raise InputError(
            f"{path}: --time-format applies to a CSV read with --map; {kind} files carry "
            "their own time format"
        )
    if kind == "sacct":
        return load_sacct(path, policy)
    if kind == "kubernetes":
        return load_kubernetes(path, policy)
    raise InputError(_needs_map(path))


def _needs_map(path: Path) -> str:
    head = _head(path)
    if not head.strip():
        return f"{path}: the file is empty"
    first = head.lstrip().splitlines()[0]
    delimiter = max(",;\t|", key=first.count)
    columns = next(csv.reader([first], delimiter=delimiter))
    shown = ", ".join(repr(c.strip()) for c in columns[:20])
    more = f" and {len(columns) - 20} more" if len(columns) > 20 else ""
    hint = (
        "; if it is sacct output, give --delimiter for one other than '|', or --columns "
        "(sacct's --format list) for a file written with --noheader"
        if "|" in first or "JobID" in first
        else ""
    )
    return (
        f"{path}: a plain CSV file, which needs a column map: --map FIELD=COLUMN,... "
        f"(fields: {FIELDS_TEXT}; e.g. --map {EXAMPLE}). Its columns: {shown}{more}{hint}. "
        "See docs/importing.md"
    )

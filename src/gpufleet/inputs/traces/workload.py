"""The normalized workload: one row per job, columns as NumPy arrays, plus an optional
fleet. Every loader and importer produces one; ``trace convert`` writes it as Parquet.

Columns (units in names; NaN or "" where a source does not know):

=============  ========  ==============================================================
submit_s       float64   submit time, seconds after ``origin``
start_s        float64   start time under the original scheduler (NaN if unknown)
duration_s     float64   run time as recorded (seconds, on the GPU type it ran on)
gpus           float64   GPUs requested; fractions allowed (0.46 of a shared GPU)
gpu_type       str       GPU model the job needs or ran on ("" = any)
cpus           float64   CPU cores (NaN if unknown)
memory_gb      float64   memory (NaN if unknown)
queue          str       queue, virtual cluster, team or namespace
user           str       user ("" if unknown)
status         str       final status as the source spells it
job_id         str       the job's id in the source ("" if it has none), so results join
                         back to the input
source_line    float64   the job's line in the source file (NaN for JSON, folders)
=============  ========  ==============================================================

Row order is the source's order (a file's lines, a loader's rows); :meth:`Workload.sorted`
keeps it among jobs submitted at the same time, so a replay breaks ties by it. ``job_id`` and
``source_line`` were added to format 1 later: a file written without them reads them as "" and
NaN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.errors import InputError, Problem
from gpufleet.extras import require

FLOAT_COLUMNS = ("submit_s", "start_s", "duration_s", "gpus", "cpus", "memory_gb", "source_line")
STR_COLUMNS = ("gpu_type", "queue", "user", "status", "job_id")
LATER_COLUMNS = ("job_id", "source_line")  # may be absent from a format-1 file
COLUMNS = (
    "submit_s",
    "start_s",
    "duration_s",
    "gpus",
    "gpu_type",
    "cpus",
    "memory_gb",
    "queue",
    "user",
    "status",
    "job_id",
    "source_line",
)
FORMAT_VERSION = 1

F64 = np.ndarray[Any, np.dtype[np.float64]]
OBJ = np.ndarray[Any, np.dtype[np.object_]]


@dataclass(frozen=True)
class FleetGroup:
    """Identical nodes in a trace's fleet."""

    gpu_type: str
    gpus_per_node: int
    nodes: int
    cpus_per_node: float | None = None
    memory_gb_per_node: float | None = None

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


@dataclass
class Workload:
    """Build one with :meth:`build`, which fills the columns a source does not have."""

    name: str
    submit_s: F64
    start_s: F64
    duration_s: F64
    gpus: F64
    gpu_type: OBJ
    cpus: F64
    memory_gb: F64
    queue: OBJ
    user: OBJ
    status: OBJ
    job_id: OBJ
    source_line: F64
    origin: datetime | None = None
    fleet: tuple[FleetGroup, ...] = ()
    notes: list[str] = field(default_factory=list)
    source: str = ""
    # queue -> ((time s after origin, GPUs allocated from then on), ...): a VC's size or a
    # team's quota over time, which a replay turns into program quotas
    allocations: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        name: str,
        submit_s: Any,
        duration_s: Any,
        gpus: Any,
        *,
        origin: datetime | None = None,
        fleet: tuple[FleetGroup, ...] = (),
        notes: list[str] | None = None,
        source: str = "",
        allocations: dict[str, tuple[tuple[float, float], ...]] | None = None,
        **columns: Any,
    ) -> Workload:
        """Columns may be any sequences; missing ones become NaN or ""."""
        n = len(submit_s)
        cols: dict[str, Any] = {
            "submit_s": submit_s,
            "duration_s": duration_s,
            "gpus": gpus,
            **columns,
        }
        unknown = set(cols) - set(COLUMNS)
        if unknown:
            raise InputError(f"workload {name!r}: unknown column(s) {sorted(unknown)}")
        arrays: dict[str, Any] = {}
        for c in COLUMNS:
            if c in cols and cols[c] is not None:
                kind = np.float64 if c in FLOAT_COLUMNS else object
                arr = np.asarray(cols[c], dtype=kind)
                if len(arr) != n:
                    raise InputError(
                        f"workload {name!r}: column {c} has {len(arr)} rows, submit_s has {n}"
                    )
                arrays[c] = arr
            elif c in FLOAT_COLUMNS:
                arrays[c] = np.full(n, np.nan)
            else:
                arrays[c] = np.full(n, "", dtype=object)
        return cls(
            name=name,
            origin=origin,
            fleet=fleet,
            notes=list(notes or []),
            source=source,
            allocations=dict(allocations or {}),
            **arrays,
        )

    def __len__(self) -> int:
        return len(self.submit_s)

    def column(self, name: str) -> np.ndarray[Any, Any]:
        arr: np.ndarray[Any, Any] = getattr(self, name)
        return arr

    def sorted(self) -> Workload:
        """Rows in submit order (stable), times shifted so the first submit is 0."""
        order = np.argsort(self.submit_s, kind="stable")
        cols = {c: self.column(c)[order] for c in COLUMNS}
        t0 = float(cols["submit_s"][0]) if len(order) else 0.0
        cols["submit_s"] = cols["submit_s"] - t0
        cols["start_s"] = cols["start_s"] - t0
        origin = self.origin
        if origin is not None and t0:
            origin = origin + timedelta(seconds=t0)
        alloc = {q: tuple((t - t0, g) for t, g in series) for q, series in self.allocations.items()}
        return Workload.build(
            self.name,
            origin=origin,
            fleet=self.fleet,
            notes=self.notes,
            source=self.source,
            allocations=alloc,
            **cols,
        )

    @property
    def gpu_hours(self) -> float:
        return float(np.nansum(self.gpus * self.duration_s) / 3600.0)


# --- Parquet ---------------------------------------------------------------------------


ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group. ``trace convert`` of a large CSV writes one group at a time
(:mod:`.convert`); a workload written whole is cut the same way, so the two give the same
bytes (pyarrow writes one row group per write call, and a whole table's default group of
1Mi rows would hold a million rows in memory)."""


def write_parquet(w: Workload, path: Path) -> None:
    """Write atomically: a failed write leaves no partial file behind."""
    require("parquet", "pyarrow", f"writing {path} (Parquet)")
    import pyarrow.parquet as pq

    table = parquet_table({c: w.column(c) for c in COLUMNS}).replace_schema_metadata(
        parquet_metadata(w)
    )
    tmp = path.with_name(path.name + ".partial")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def parquet_table(cols: dict[str, Any]) -> Any:
    """The columns as a ``pyarrow.Table`` in :data:`COLUMNS` order: floats as float64, the
    rest as strings (through NumPy's ``str``, as a whole workload has always been written)."""
    import pyarrow as pa

    return pa.table(
        {
            c: np.asarray(cols[c], dtype=np.float64)
            if c in FLOAT_COLUMNS
            else np.asarray(cols[c], dtype=object).astype(str)
            for c in COLUMNS
        }
    )


def parquet_metadata(w: Workload) -> dict[bytes, bytes]:
    """The file's key-value metadata: everything of ``w`` that is not a column."""
    meta = {
        "gpufleet.format": str(FORMAT_VERSION),
        "gpufleet.name": w.name,
        "gpufleet.origin": w.origin.isoformat() if w.origin else "",
        "gpufleet.fleet": json.dumps([g.__dict__ for g in w.fleet]),
        "gpufleet.notes": json.dumps(w.notes),
        "gpufleet.source": w.source,
        "gpufleet.allocations": json.dumps(
            {q: [list(x) for x in v] for q, v in w.allocations.items()}
        ),
    }
    return {k.encode(): v.encode() for k, v in meta.items()}


def read_parquet(path: Path) -> Workload:
    require("parquet", "pyarrow", f"reading {path} (Parquet)")
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({e})") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if meta.get("gpufleet.format") != str(FORMAT_VERSION):
        raise InputError(
            f"{path}: not a gpufleet workload (no gpufleet.format={FORMAT_VERSION} "
            "metadata); write one with 'gpufleet trace convert'"
        )
    missing = [c for c in COLUMNS if c not in table.column_names and c not in LATER_COLUMNS]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    cols: dict[str, Any] = {}
    for c in COLUMNS:
        if c not in table.column_names:  # written before the column existed
            n = table.num_rows
            cols[c] = np.full(n, np.nan) if c in FLOAT_COLUMNS else np.full(n, "", dtype=object)
            continue
        arr = table.column(c).to_numpy(zero_copy_only=False)
        cols[c] = arr.astype(np.float64) if c in FLOAT_COLUMNS else arr.astype(object)
    _check_numbers(path, cols)
    origin = (
        datetime.fromisoformat(meta["gpufleet.origin"]) if meta.get("gpufleet.origin") else None
    )
    fleet = tuple(FleetGroup(**g) for g in json.loads(meta.get("gpufleet.fleet", "[]")))
    return Workload(
        name=meta.get("gpufleet.name", path.stem),
        origin=origin,
        fleet=fleet,
        notes=json.loads(meta.get("gpufleet.notes", "[]")),
        source=meta.get("gpufleet.source", str(path)),
        allocations={
            q: tuple((float(t), float(g)) for t, g in v)
            for q, v in json.loads(meta.get("gpufleet.allocations", "{}")).items()
        },
        **cols,
    )


_NUMBER_RULES = (  # column, NaN allowed, least, what a good value is
    ("submit_s", False, -np.inf, "finite seconds after the origin"),
    ("start_s", True, -np.inf, "finite seconds after the origin, or NaN (unknown)"),
    ("duration_s", True, 0.0, "finite seconds, 0 or more, or NaN (unknown)"),
    ("gpus", False, 0.0, "a finite number of GPUs, 0 or more"),
    ("cpus", True, 0.0, "a finite number of CPU cores, 0 or more, or NaN (unknown)"),
    ("memory_gb", True, 0.0, "finite GiB, 0 or more, or NaN (unknown)"),
)


def _check_numbers(path: Path, cols: dict[str, Any]) -> None:
    """The values every reader of a workload relies on (a CSV's reader checks them per
    row; a Parquet file written elsewhere may hold anything): the first bad one, by row
    (counted from 1) and column; an infinite submit once crashed ``trace info`` and
    ``replay`` with an OverflowError (issue 14)."""
    for column, nan_ok, least, expected in _NUMBER_RULES:
        values: F64 = cols[column]
        nan = np.isnan(values)
        bad = ~nan & (~np.isfinite(values) | (values < least))
        if not nan_ok:
            bad |= nan
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            v = float(values[row])
            what = "NaN" if v != v else "not finite" if not np.isfinite(v) else "negative"
            problem = Problem(column, f"row {row + 1}: {v!r} is {what}", expected, str(path))
            raise InputError(problem.render(), [problem])

"""``trace convert`` of a plain CSV read through ``--map``, a chunk at a time (issue 14):
memory for a chunk and one Parquet row group, not for the file's jobs.

A workload's times are seconds after its earliest submit, which is known only at the end
of the file, and so are its notes (the file's metadata). So it takes two passes:

1. :meth:`StagedCsv.stage` reads the CSV chunk by chunk (:class:`.importers.csvmap.CsvRead`)
   and writes each chunk's columns, times as the file has them, to a scratch Parquet file
   next to the output; it keeps the earliest submit and each job's GPU-seconds (8 bytes a
   job, so the GPU-hours are ``np.nansum`` of the same products as a whole workload's).
2. :meth:`StagedCsv.write` reads the scratch file back a row group at a time, shifts the
   times by the earliest submit, and writes the workload's row groups
   (:data:`.workload.ROW_GROUP_ROWS` rows each) with the metadata, the bytes
   :func:`.workload.write_parquet` writes for the same workload read whole.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.extras import require
from gpufleet.inputs.traces.importers.columnmap import ColumnMap, TimeFormat
from gpufleet.inputs.traces.importers.common import Columns, utc_datetime
from gpufleet.inputs.traces.importers.csvmap import CsvRead
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import (
    COLUMNS,
    ROW_GROUP_ROWS,
    Workload,
    parquet_metadata,
    parquet_table,
    write_parquet,
)

_TIMES = ("submit_s", "start_s")


@dataclass
class StagedCsv:
    """A CSV read once into a scratch file (:meth:`stage`), ready to be written."""

    path: Path
    scratch: Path
    absolute: bool
    notes: list[str]
    jobs: int = 0
    first_submit_s: float = float("inf")
    gpu_s: array[float] = field(default_factory=lambda: array("d"))

    @classmethod
    def stage(
        cls,
        path: Path,
        scratch: Path,
        policy: RowPolicy,
        column_map: str | ColumnMap,
        time_format: str | TimeFormat | None = None,
    ) -> StagedCsv:
        """Pass 1 (the module docstring); ``policy`` has counted what was skipped after it."""
        require("parquet", "pyarrow", f"writing {scratch} (Parquet)")
        import pyarrow.parquet as pq

        read = CsvRead(path, policy, column_map, time_format)
        staged = cls(path, scratch, read.absolute, [])
        writer: Any = None
        try:
            for chunk in read.chunks():
                table = _raw_table(chunk)
                if writer is None:
                    writer = pq.ParquetWriter(scratch, table.schema)
                writer.write_table(table)
                staged._count(chunk)
        finally:
            if writer is not None:
                writer.close()
        staged.absolute = read.absolute
        staged.notes = [*read.notes, *policy.notes()]
        return staged

    def _count(self, chunk: Columns) -> None:
        self.jobs += len(chunk.submit_s)
        if len(chunk.submit_s):
            self.first_submit_s = min(self.first_submit_s, float(chunk.submit_s.min()))
        self.gpu_s.extend(chunk.gpus * chunk.duration_s)

    @property
    def gpu_hours(self) -> float:
        """As :attr:`Workload.gpu_hours`: ``np.nansum`` of the same products, in file order."""
        return float(np.nansum(np.frombuffer(self.gpu_s, dtype=np.float64)) / 3600.0)

    def write(self, out: Path, more_notes: list[str]) -> list[str]:
        """Pass 2 (the module docstring), atomically; the workload's notes."""
        notes = [*self.notes, *more_notes]
        shift = self.absolute and self.jobs > 0
        head = Workload.build(
            self.path.stem,
            [],
            [],
            [],
            origin=utc_datetime(self.first_submit_s) if shift else None,
            notes=notes,
            source=str(self.path),
        )
        if not self.jobs:  # nothing staged: the empty workload, written whole
            write_parquet(head, out)
            return notes
        import pyarrow as pa
        import pyarrow.parquet as pq

        meta = parquet_metadata(head)
        tmp = out.with_name(out.name + ".partial")
        writer: Any = None
        try:
            for group in _row_groups(self.scratch, ROW_GROUP_ROWS):
                if shift:  # the rest as staged: already what parquet_table makes of them
                    for c in _TIMES:
                        shifted = group.column(c).to_numpy() - self.first_submit_s
                        group = group.set_column(COLUMNS.index(c), c, pa.array(shifted))
                table = group.replace_schema_metadata(meta)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
            writer.close()
            writer = None
            tmp.replace(out)
        finally:
            if writer is not None:
                writer.close()
            if tmp.exists():
                tmp.unlink()
        return notes


def _raw_table(chunk: Columns) -> Any:
    """A chunk's columns as read (times not shifted), in :data:`COLUMNS` order."""
    return parquet_table({c: getattr(chunk, c) for c in COLUMNS})


def _row_groups(scratch: Path, rows: int) -> Iterator[Any]:
    """The scratch file's rows as contiguous tables of ``rows`` rows (the last one fewer),
    whatever row groups it was written in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pending: list[Any] = []
    have = 0
    for batch in pq.ParquetFile(scratch).iter_batches(batch_size=rows):
        pending.append(batch)
        have += batch.num_rows
        while have >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks()
            pending = table.slice(rows).to_batches()
            have -= rows
    if have:
        yield pa.Table.from_batches(pending).combine_chunks()

"""``trace info`` of a plain CSV parsed by ``pyarrow.csv`` where pyarrow is installed (the
``parquet`` extra): the file split and its numbers parsed in C++, a block at a time
(issue 14: 2M rows in seconds).

It must give exactly what the Python reader (:class:`.csvmap.CsvRead`) gives, so it reads
only what both read alike, and raises :class:`NotVouched` at the first thing it cannot
vouch for; :func:`~gpufleet.inputs.traces.info.summarize_csv` then reads the whole file
with the Python reader, which reports every problem with its line. Before anything is
counted the file must have no ``"`` anywhere (quoting is where the two parsers differ: a
quoted newline can even turn one bad row into two good ones) and no blank line before the
header; then, per block:

- every row has the header's width (pyarrow refuses a block that does not);
- every number is plain decimal text (``-?digits[.digits][e±digits]``, no spaces, no
  ``+``, no ``inf``/``nan``), which ``float()`` and pyarrow's cast both round correctly,
  hence to the same double; a missing marker (:data:`.csvfast.MISSING`, ASCII blanks
  around it) where a value may be missing; the row parser's bounds (0 or more, finite,
  an end not before its start);
- Unix or relative-second times (ISO text goes to the Python reader, which reads it by
  columns too).

Text columns go through the same Python functions as the row parser (``str.strip``, the
shared strings, the GPU name resolver, which counts its notes).
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.inputs.traces.importers.columnmap import ColumnMap, MapField, TimeFormat
from gpufleet.inputs.traces.importers.common import open_text
from gpufleet.inputs.traces.importers.csvfast import MISSING
from gpufleet.inputs.traces.importers.csvmap import (
    DELIMITERS,
    _delimiter,
    _guess_format,
    _header_line,
    _RowParser,
)
from gpufleet.inputs.traces.rows import RowPolicy

F64 = np.ndarray[Any, np.dtype[np.float64]]
PLAIN_NUMBER = r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
BLOCK_BYTES = 4 << 20
"""Bytes of the file parsed at a time (about 60,000 rows of a typical trace)."""

InfoChunk = tuple[F64, F64, F64, F64, list[str], list[str], list[str]]
"""submit, start, duration, gpus, queue, status, gpu_type: what :class:`TraceTally` adds."""


class NotVouched(Exception):
    """The file holds something only the Python reader may judge (the module docstring)."""


class ArrowRead:
    """The jobs of a mapped CSV for ``trace info``, a block at a time; ``notes`` and
    ``absolute`` as :class:`.csvmap.CsvRead` has them once :meth:`chunks` is exhausted."""

    def __init__(
        self,
        path: Path,
        policy: RowPolicy,
        column_map: str | ColumnMap,
        time_format: str | TimeFormat | None = None,
    ) -> None:
        self.path = path
        self.policy = policy
        self.cmap = column_map if isinstance(column_map, ColumnMap) else ColumnMap.parse(column_map)
        self.fmt = TimeFormat.named(time_format) if time_format is not None else None
        self.notes: list[str] = []
        self.absolute = self.fmt is not TimeFormat.RELATIVE_SECONDS

    def chunks(self) -> Iterator[InfoChunk]:
        import pyarrow as pa

        notes: list[str] = []
        with open_text(self.path, self.policy, "a CSV file with a header line") as fh:
            skipped, header_text = _header_line(fh)
            delimiter, header = _delimiter(header_text, self.cmap, self.policy, skipped + 1)
        if skipped or len(header) < 2 or _holds_a_quote(self.path):
            raise NotVouched  # one column: a blank-looking row is a row to pyarrow
        if delimiter != ",":
            notes.append(f"file read as {DELIMITERS[delimiter]}-delimited (from its header)")
        parse: _RowParser | None = None
        unknown = 0
        try:
            for batch in _batches(self.path, delimiter, len(header), self.cmap, header):
                if parse is None:
                    parse = self._parser(batch, header, notes)
                block = _Block(batch, parse)
                out = block.columns()
                unknown += int(np.isnan(out[2]).sum())
                yield out
        except pa.ArrowInvalid:  # a row of another width, text that is not UTF-8...
            raise NotVouched from None
        if parse is None:  # no data rows: the Python reader says so with its line
            raise NotVouched
        self.notes = [*notes, *parse.notes(unknown)]

    def _parser(self, batch: Any, header: list[str], notes: list[str]) -> _RowParser:
        """The row parser of the Python reader (positions, resolvers, notes), its time
        format guessed from the first row's submit as the Python reader guesses it."""
        submit = header.index(self.cmap.get(MapField.SUBMIT) or "")
        if batch.num_rows == 0:
            raise NotVouched
        fmt = self.fmt or _guess_format([batch.column(str(submit))[0].as_py()], 0, notes)
        if fmt is TimeFormat.ISO:
            raise NotVouched
        self.absolute = fmt is not TimeFormat.RELATIVE_SECONDS
        return _RowParser(self.cmap, header, fmt, notes)


def _holds_a_quote(path: Path) -> bool:
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            return False
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(b'"') >= 0


def _batches(
    path: Path, delimiter: str, width: int, cmap: ColumnMap, header: list[str]
) -> Iterator[Any]:
    """The mapped columns of each block as strings (named by position), the header line
    skipped; a row of another width than the header's raises ArrowInvalid."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [str(i) for i in range(width)]
    used = sorted({header.index(c) for _, c in cmap.columns})
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            skip_rows=1, column_names=names, block_size=BLOCK_BYTES, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            include_columns=[names[i] for i in used],
            strings_can_be_null=False,
        ),
    )
    yield from reader


class _Block:
    """One block's columns, checked as the row parser checks each row."""

    def __init__(self, batch: Any, parse: _RowParser) -> None:
        self.batch, self.parse, self.n = batch, parse, batch.num_rows

    def _raw(self, f: MapField) -> Any:
        return self.batch.column(str(self.parse.at[f]))

    def number(self, f: MapField, least: float, required: bool = False) -> F64:
        if f not in self.parse.at:
            return np.full(self.n, np.nan)
        return _numbers(self._raw(f), least, required)

    def text(self, f: MapField) -> list[str]:
        """Stripped, then resolved (GPU model) or shared (queue, status), as the row
        parser keeps them."""
        if f not in self.parse.at:
            return [""] * self.n
        stripped = list(map(str.strip, self._raw(f).to_pylist()))
        if f is MapField.GPU_TYPE:
            return self.parse.names.resolve_all(stripped)
        return self.parse.shared(stripped)

    def columns(self) -> InfoChunk:
        """Every mapped column checked before any text is resolved (which counts)."""
        submit = self.number(MapField.SUBMIT, -math.inf, required=True)
        start = self.number(MapField.START, -math.inf)
        if self.parse.use_span:
            end = self.number(MapField.END, -math.inf)
            if (end < start).any():
                raise NotVouched
            duration = end - start
        else:
            duration = self.number(MapField.DURATION, 0.0)
        gpus = self.number(MapField.GPUS, 0.0, required=True)
        self.number(MapField.CPUS, 0.0)
        self.number(MapField.MEMORY_GB, 0.0)
        return (
            submit,
            start,
            duration,
            gpus,
            self.text(MapField.QUEUE),
            self.text(MapField.STATUS),
            self.text(MapField.GPU_TYPE),
        )


_MISSING = sorted(MISSING)


def _numbers(col: Any, least: float, required: bool) -> F64:
    """``float()`` of each cell, vouched for as the module docstring says; NaN for a
    missing cell where one is allowed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    plain = pc.match_substring_regex(col, PLAIN_NUMBER)
    if required:
        if not pc.all(plain).as_py():
            raise NotVouched
        known = col
    else:
        missing = pc.is_in(
            pc.utf8_lower(pc.ascii_trim_whitespace(col)), value_set=pa.array(_MISSING)
        )
        if not pc.all(pc.or_(plain, missing)).as_py():
            raise NotVouched
        known = pc.if_else(missing, pa.scalar(None, pa.string()), col)
    values: F64 = pc.cast(known, pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False)
    finite = values[~np.isnan(values)]
    if (finite < least).any() or not np.isfinite(finite).all():
        raise NotVouched
    return values

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
- pyarrow parses every number (correctly rounded, as ``float()`` is, so to the same
  double) or reads it as null, which it does only for the exact spellings of a missing
  marker (:data:`.csvfast.MISSING`); no null where a value is required, no NaN written
  out (``-nan`` would parse), the row parser's bounds (0 or more, finite, an end not
  before its start);
- Unix or relative-second times (ISO text goes to the Python reader, which reads it by
  columns too).

Text columns go through the same Python functions as the row parser (``str.strip``, the
shared strings, the GPU name resolver, which counts its notes).
"""

from __future__ import annotations

import math
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
BLOCK_BYTES = 1 << 20
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
            first = next(fh, None)
        if skipped or len(header) < 2 or _holds_a_quote(self.path):
            raise NotVouched  # one column: a blank-looking row is a row to pyarrow
        if delimiter != ",":
            notes.append(f"file read as {DELIMITERS[delimiter]}-delimited (from its header)")
        parse = self._parser(first, delimiter, header, notes)
        unknown = 0
        try:
            for batch in _batches(self.path, delimiter, header, parse):
                out = _Block(batch, parse).columns()
                unknown += int(np.isnan(out[2]).sum())
                yield out
        except pa.ArrowInvalid:  # a row of another width, a number it cannot parse...
            raise NotVouched from None
        self.notes = [*notes, *parse.notes(unknown)]

    def _parser(
        self, first: str | None, delimiter: str, header: list[str], notes: list[str]
    ) -> _RowParser:
        """The row parser of the Python reader (positions, resolvers, notes), its time
        format guessed from the first row's submit as the Python reader guesses it."""
        if first is None:  # no data rows: the Python reader says so with its line
            raise NotVouched
        row = first.rstrip("\r\n").split(delimiter)
        if len(row) != len(header):
            raise NotVouched
        at = header.index(self.cmap.get(MapField.SUBMIT) or "")
        fmt = self.fmt or _guess_format(row, at, notes)
        if fmt is TimeFormat.ISO:
            raise NotVouched
        self.absolute = fmt is not TimeFormat.RELATIVE_SECONDS
        return _RowParser(self.cmap, header, fmt, notes)


def _holds_a_quote(path: Path) -> bool:
    """Read a MiB at a time: a memory map of the file would count every page of it in the
    process's resident memory while it is scanned."""
    with path.open("rb") as fh:
        return any(b'"' in block for block in iter(lambda: fh.read(1 << 20), b""))


def _batches(path: Path, delimiter: str, header: list[str], parse: _RowParser) -> Iterator[Any]:
    """The mapped columns of each block (named by position): numbers as float64, a missing
    marker as null, text as strings; a row of another width than the header's, or a number
    pyarrow cannot parse, raises ArrowInvalid."""
    # a Python file, not the path: pyarrow reads ahead of a path it opens itself (about
    # 30 MB of blocks held at once), and only as asked from a Python file
    with path.open("rb") as fh:
        yield from _reader(fh, delimiter, header, parse)  # released before its file


def _reader(fh: Any, delimiter: str, header: list[str], parse: _RowParser) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [str(i) for i in range(len(header))]
    types = {str(i): pa.float64() if f in _NUMBERS else pa.string() for f, i in parse.at.items()}
    return pacsv.open_csv(
        fh,
        read_options=pacsv.ReadOptions(
            skip_rows=1, column_names=names, block_size=BLOCK_BYTES, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=sorted(types, key=int),
            null_values=_NULL_SPELLINGS,
            strings_can_be_null=False,
        ),
    )


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


_NUMBERS = frozenset(
    {
        MapField.SUBMIT,
        MapField.START,
        MapField.END,
        MapField.DURATION,
        MapField.GPUS,
        MapField.CPUS,
        MapField.MEMORY_GB,
    }
)
_NULL_SPELLINGS = sorted(
    {s for m in MISSING for s in (m, m.upper(), m.capitalize(), m.title())} | {"NaN", "N/A"}
)
"""Cells pyarrow reads as null: exact spellings of a missing marker (the Python reader
also takes other cases and blanks around them; those cells fail pyarrow's parse and the
file goes to the Python reader)."""


def _numbers(col: Any, least: float, required: bool) -> F64:
    """The block's parsed column, vouched for: no null where a value is required, no NaN
    but from a null (``-nan`` parses to NaN, and ``float()`` refuses it here), the row
    parser's bounds."""
    if required and col.null_count:
        raise NotVouched
    values = _float_values(col)
    nan = np.isnan(values)
    if int(nan.sum()) != col.null_count:
        raise NotVouched
    known = values[~nan]
    if (known < least).any() or not np.isfinite(known).all():
        raise NotVouched
    return values


def _float_values(col: Any) -> F64:
    """A float64 array's values with NaN for null, read from its buffers: ``to_numpy`` of
    an array goes through pyarrow's pandas conversion, which imports pandas (60 MB)."""
    n, offset = len(col), col.offset
    validity, data = col.buffers()
    values: F64 = np.frombuffer(data, dtype=np.float64, count=n, offset=8 * offset).copy()
    if col.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        values[~bits[offset : offset + n].astype(bool)] = math.nan
    return values

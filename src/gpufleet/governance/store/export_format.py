"""Reading an exported audit log strictly: a file that is not a well-formed export is bad
input (exit 2), never an "intact" log.

An export (``gpufleet audit export``) is either

- JSON: a non-empty list of objects with exactly the fields of :data:`~.canonical.FIELDS`,
  ``before``/``after`` as objects (or null), or
- CSV: a header naming exactly those fields, then one row per record, ``before``/``after``
  as JSON text.

Every problem names the file, the line, the record's position (1-based) and the field, says
what was found and what was expected. An empty list, ``{}`` or a header without rows is
refused: an export of nothing proves nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from gpufleet.errors import InputError, Problem
from gpufleet.governance.store.canonical import FIELDS, canonical

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TEXT_FIELDS = ("at", "actor", "action", "object_type", "object_id")
_MAX_PROBLEMS = 20


class _Problems:
    """Collects the problems of one file; raises them all at the end."""

    def __init__(self, file: str) -> None:
        self.file = file or "<export>"
        self.items: list[Problem] = []

    def add(self, line: int | None, field: str, message: str, expected: str = "") -> None:
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(Problem(field, message, expected, self.file, line))

    def raise_if_any(self) -> None:
        if self.items:
            n = len(self.items)
            more = f" (the first {_MAX_PROBLEMS} shown)" if n == _MAX_PROBLEMS else ""
            raise InputError(
                f"{self.file}: not a well-formed audit export: {n} problem(s){more}", self.items
            )


def _kind(v: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "null" if v is None else type(v).__name__
    )


def _elements(text: str, ps: _Problems) -> list[tuple[int, Any]] | None:
    """The top-level list's elements with the line each starts on; None after a problem."""
    dec = json.JSONDecoder()
    i = _skip(text, 0)
    if i >= len(text):
        ps.add(1, "", "the file is empty", "a JSON list of audit records")
        return None
    if text[i] != "[":
        try:
            found = _kind(dec.raw_decode(text, i)[0])
        except json.JSONDecodeError as e:
            ps.add(e.lineno, "", f"not JSON: {e.msg} (column {e.colno})")
            return None
        ps.add(_line(text, i), "", f"found {found}", "a JSON list of audit records")
        return None
    out: list[tuple[int, Any]] = []
    i = _skip(text, i + 1)
    while i < len(text) and text[i] != "]":
        try:
            value, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            ps.add(e.lineno, f"record {len(out) + 1}", f"not JSON: {e.msg} (column {e.colno})")
            return None
        out.append((_line(text, i), value))
        i = _skip(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
        elif i < len(text) and text[i] != "]":
            ps.add(_line(text, i), "", f"unexpected {text[i]!r} after record {len(out)}", "','")
            return None
    if i >= len(text):
        ps.add(_line(text, len(text)), "", "the list is not closed", "']'")
        return None
    if _skip(text, i + 1) < len(text):
        ps.add(_line(text, i + 1), "", "text after the list", "the end of the file")
    return out


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _check_fields(
    rec: dict[str, Any], n: int, line: int | None, ps: _Problems, json_doc: bool
) -> dict[str, Any] | None:
    """One record's fields, type-checked; ``before``/``after`` as canonical JSON text."""
    where = f"record {n}"
    missing = [f for f in FIELDS if f not in rec]
    extra = sorted(set(rec) - set(FIELDS))
    if missing:  # one problem per record: "record 3.hash: missing" or the list
        field = f"{where}.{missing[0]}" if len(missing) == 1 else where
        what = "missing" if len(missing) == 1 else "missing " + ", ".join(missing)
        ps.add(line, field, what, "every field of " + ", ".join(FIELDS))
    for f in extra:
        ps.add(line, f"{where}.{f}", "not a field of an audit record")
    if missing or extra:
        return None
    before = len(ps.items)
    seq = rec["seq"]
    if type(seq) is not int or seq < 1:
        ps.add(line, f"{where}.seq", f"found {seq!r}", "a whole number >= 1")
    for f in _TEXT_FIELDS:
        if not isinstance(rec[f], str):
            ps.add(line, f"{where}.{f}", f"found {_kind(rec[f])}", "a string")
    for f in ("prev_hash", "hash"):
        if not (isinstance(rec[f], str) and _HEX64.fullmatch(rec[f])):
            ps.add(line, f"{where}.{f}", f"found {rec[f]!r}", "64 lowercase hex digits")
    out = dict(rec)
    for f in ("before", "after"):
        value = rec[f] if json_doc else _json_text(rec[f], f"{where}.{f}", line, ps)
        if value is not None and not isinstance(value, dict):
            ps.add(line, f"{where}.{f}", f"found {_kind(value)}", "an object or null")
        out[f] = canonical(value)
    return out if len(ps.items) == before else None


def _json_text(text: object, field: str, line: int | None, ps: _Problems) -> Any:
    if not isinstance(text, str):
        ps.add(line, field, f"found {_kind(text)}", "JSON text")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        ps.add(line, field, f"not JSON: {e.msg}", "an object or null as JSON text")
        return None


def parse_json(text: str, file: str = "") -> list[dict[str, Any]]:
    ps = _Problems(file)
    elements = _elements(text, ps)
    if elements is not None and not elements:
        ps.add(1, "", "an empty list: no records", "at least one audit record")
    recs = []
    for n, (line, rec) in enumerate(elements or [], start=1):
        if not isinstance(rec, dict):
            ps.add(line, f"record {n}", f"found {_kind(rec)}", "an object")
            continue
        checked = _check_fields(rec, n, line, ps, json_doc=True)
        if checked is not None:
            recs.append(checked)
    ps.raise_if_any()
    return recs


def parse_csv(text: str, file: str = "") -> list[dict[str, Any]]:
    ps = _Problems(file)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            ps.add(1, "", "the file is empty", "a header: " + ",".join(FIELDS))
            ps.raise_if_any()
        assert header is not None
        if header != list(FIELDS):
            ps.add(1, "header", f"found {','.join(header)!r}", ",".join(FIELDS))
            ps.raise_if_any()
        recs = [_csv_row(row, n, reader.line_num, ps) for n, row in enumerate(reader, start=1)]
    except csv.Error as e:
        ps.add(reader.line_num, "", f"not CSV: {e}")
        ps.raise_if_any()
    if not recs:
        ps.add(1, "", "a header without rows: no records", "at least one audit record")
    ps.raise_if_any()
    return [r for r in recs if r is not None]


def _csv_row(row: list[str], n: int, line: int, ps: _Problems) -> dict[str, Any] | None:
    if len(row) != len(FIELDS):
        ps.add(line, f"record {n}", f"{len(row)} columns", f"{len(FIELDS)}")
        return None
    rec: dict[str, Any] = dict(zip(FIELDS, row, strict=True))
    try:
        rec["seq"] = int(rec["seq"])
    except ValueError:
        ps.add(line, f"record {n}.seq", f"found {rec['seq']!r}", "a whole number >= 1")
        return None
    return _check_fields(rec, n, line, ps, json_doc=False)

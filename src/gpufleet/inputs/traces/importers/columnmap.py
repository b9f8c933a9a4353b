"""The column map of a plain CSV: which of the file's columns holds each workload field.

Written ``FIELD=COLUMN,...`` (the CLI's ``--map``), for example
``submit=created_at,duration=runtime_s,gpus=num_gpus,queue=team``. Fields:

===========  ==================================================  ===========
submit       submit time (required)                               a time
gpus         GPUs requested; fractions allowed (required)         a number
duration     run time in seconds                                  a number
start, end   start and end times                                  a time
gpu_type     GPU model (mapped to the catalog's names)             text
queue, user  queue (team, namespace, VC) and user                 text
status       final status as the file spells it                   text
cpus         CPU cores                                            a number
memory_gb    memory in GiB                                        a number
job_id       the job's id, kept so results join back to the file  text
===========  ==================================================  ===========

Either ``duration`` or both ``start`` and ``end`` must be mapped (``duration`` wins when
all three are). Times are read as ``--time-format``: ``relative-seconds`` (seconds after
some origin, kept as they are), ``unix`` (seconds since 1970-01-01 UTC) or ``iso`` (ISO
8601; an offset is converted to UTC, a time without one is read as UTC). Without a format the
first row's submit decides: a number under 10^9 is relative seconds, a larger one Unix time,
anything else ISO; the workload's notes say which was taken.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum

from gpufleet.errors import InputError, UnknownNameError


class MapField(StrEnum):
    SUBMIT = "submit"
    START = "start"
    END = "end"
    DURATION = "duration"
    GPUS = "gpus"
    GPU_TYPE = "gpu_type"
    QUEUE = "queue"
    USER = "user"
    STATUS = "status"
    CPUS = "cpus"
    MEMORY_GB = "memory_gb"
    JOB_ID = "job_id"


class TimeFormat(StrEnum):
    RELATIVE_SECONDS = "relative-seconds"
    UNIX = "unix"
    ISO = "iso"

    @classmethod
    def named(cls, name: str | TimeFormat) -> TimeFormat:
        try:
            return cls(name)
        except ValueError:
            raise UnknownNameError("time format", str(name), [t.value for t in cls]) from None


EXAMPLE = "submit=created_at,duration=runtime_s,gpus=num_gpus"
FIELDS_TEXT = ", ".join(f.value for f in MapField)


@dataclass(frozen=True)
class ColumnMap:
    """Field -> the CSV column that holds it, in the order given."""

    columns: tuple[tuple[MapField, str], ...]

    def get(self, f: MapField) -> str | None:
        return next((c for g, c in self.columns if g == f), None)

    def __contains__(self, f: object) -> bool:
        return any(g == f for g, _ in self.columns)

    @classmethod
    def parse(cls, text: str) -> ColumnMap:
        """Parse ``FIELD=COLUMN,...``; every mistake is an :class:`InputError` naming it."""
        pairs: list[tuple[MapField, str]] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            pairs.append(_pair(part, pairs))
        if not pairs:
            raise _error("is empty", f"FIELD=COLUMN pairs separated by commas, e.g. {EXAMPLE}")
        found = {f for f, _ in pairs}
        missing = [f.value for f in (MapField.SUBMIT, MapField.GPUS) if f not in found]
        if missing:
            raise _error(f"does not map {' or '.join(missing)}", f"a map that includes {EXAMPLE}")
        has_span = MapField.START in found and MapField.END in found
        if MapField.DURATION not in found and not has_span:
            raise _error(
                "maps neither duration nor both start and end",
                "duration=COLUMN (seconds), or start=COLUMN,end=COLUMN",
            )
        return cls(tuple(pairs))


def _pair(part: str, before: list[tuple[MapField, str]]) -> tuple[MapField, str]:
    name, sep, column = (x.strip() for x in part.partition("="))
    if not sep:
        raise _error(f"{part!r} has no '='", f"FIELD=COLUMN, e.g. {EXAMPLE}")
    try:
        f = MapField(name)
    except ValueError:
        close = difflib.get_close_matches(name, [m.value for m in MapField], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _error(f"unknown field {name!r}{hint}", f"one of {FIELDS_TEXT}") from None
    if not column:
        raise _error(f"field {name!r} has no column after '='", f"{name}=COLUMN")
    for g, c in before:
        if g == f:
            raise _error(
                f"field {name!r} is mapped twice (to {c!r} and to {column!r})",
                "each field at most once",
            )
    return f, column


def _error(message: str, expected: str) -> InputError:
    return InputError(f"--map: {message} (expected {expected})")

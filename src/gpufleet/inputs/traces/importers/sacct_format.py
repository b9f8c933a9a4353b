"""How a sacct export is laid out: its delimiter, and its column names from the header line or,
for a headerless file, from the ``--format`` list it was written with.

sacct separates fields with ``|`` under ``-p``/``-P`` unless ``--delimiter=<characters>`` says
otherwise, and ``-n``/``--noheader`` leaves the header line out (Slurm's ``sacct.1``: "ASCII
characters used to separate the fields when specifying the -p or -P options. The default
delimiter is a '|'"; "No heading will be added to the output"). A headerless file says nothing
about its columns, so the reader gives them as the same comma-separated ``--format`` list
(``JobID,Submit,...``; sacct's ``%WIDTH`` suffixes are ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpufleet.errors import InputError
from gpufleet.inputs.traces.importers.common import fatal
from gpufleet.inputs.traces.rows import RowPolicy

FIELDS = (
    "JobID",
    "User",
    "Account",
    "Partition",
    "State",
    "Submit",
    "Start",
    "End",
    "Elapsed",
    "AllocTRES",
    "ReqTRES",
)
FORMAT = ",".join(FIELDS)
REQUIRED_TEXT = "JobID, Submit, Start, End and AllocTRES (ReqTRES may replace AllocTRES)"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True)
class SacctFormat:
    """``delimiter``: sacct's ``--delimiter`` (``|`` by default); ``columns``: the ``--format``
    list of a file written with ``--noheader`` (None: the first line is the header)."""

    delimiter: str = "|"
    columns: tuple[str, ...] | None = None

    @classmethod
    def from_flags(cls, delimiter: str | None, columns: str | None) -> SacctFormat:
        """The ``--delimiter`` and ``--columns`` flags, checked."""
        if delimiter is not None and not delimiter:
            raise InputError(
                f"--delimiter {delimiter!r}: expected the characters sacct was given as "
                "--delimiter, such as ';|;'"
            )
        names = None
        if columns is not None:
            names = tuple(c.split("%", 1)[0].strip() for c in columns.split(","))
            if not all(names):
                raise InputError(
                    f"--columns {columns!r}: an empty name; expected sacct's --format list, "
                    f"such as {FORMAT}"
                )
        return cls(delimiter or "|", names)


@dataclass(frozen=True)
class Layout:
    """Where each column this importer reads sits in a row (None: not exported)."""

    width: int
    job_id: int
    submit: int
    start: int
    end: int
    elapsed: int | None
    alloc: int | None
    req: int | None
    state: int | None
    user: int | None
    account: int | None
    partition: int | None
    job_name: int | None


def layout(names: list[str], header: str, line: int, policy: RowPolicy, fmt: SacctFormat) -> Layout:
    """The positions of the columns; a missing required one is fatal, with a word on the
    delimiter when the header's names are separated by something else."""
    at = {n.strip().lower(): i for i, n in enumerate(names)}
    at.setdefault("jobid", at.get("jobidraw", -1))

    def col(name: str) -> int | None:
        i = at.get(name.lower(), -1)
        return None if i < 0 else i

    missing = [n for n in ("JobID", "Submit", "Start", "End") if col(n) is None]
    if col("AllocTRES") is None and col("ReqTRES") is None:
        missing.append("AllocTRES (or ReqTRES)")
    if missing:
        _missing(missing, header, line, policy, fmt)
    job_id, submit, start, end = col("JobID"), col("Submit"), col("Start"), col("End")
    assert job_id is not None and submit is not None and start is not None and end is not None
    return Layout(
        width=len(names),
        job_id=job_id,
        submit=submit,
        start=start,
        end=end,
        elapsed=col("Elapsed"),
        alloc=col("AllocTRES"),
        req=col("ReqTRES"),
        state=col("State"),
        user=col("User"),
        account=col("Account"),
        partition=col("Partition"),
        job_name=col("JobName"),
    )


def _missing(
    missing: list[str], header: str, line: int, policy: RowPolicy, fmt: SacctFormat
) -> None:
    if fmt.columns is not None:
        fatal(
            policy,
            None,
            "--columns",
            f"missing column(s) {', '.join(missing)} in {','.join(fmt.columns)!r}",
            f"sacct's --format list with {REQUIRED_TEXT}, such as {FORMAT}",
        )
    other = other_delimiter(header, fmt.delimiter)
    if other is not None:
        fatal(
            policy,
            line,
            "header",
            f"the header's names are separated by {other!r}, not by {fmt.delimiter!r}: "
            f"the file was written with sacct --delimiter={other!r}; the header is {header!r}",
            f"--delimiter {other!r} to read it",
        )
    fatal(
        policy,
        line,
        "header",
        f"missing column(s) {', '.join(missing)}; the header is {header!r}",
        f"the columns {REQUIRED_TEXT}, as sacct --parsable2 --format={FORMAT} writes them",
    )


def other_delimiter(header: str, delimiter: str) -> str | None:
    """The one separator between the header's names when it is not ``delimiter`` and at least
    two of the names are sacct fields this importer knows; None otherwise."""
    names = _NAME.findall(header)
    known = {f.lower() for f in (*FIELDS, "JobIDRaw", "JobName")}
    if sum(1 for n in names if n.lower() in known) < 2:
        return None
    between = set(_NAME.split(header.strip())[1:-1])
    if len(between) != 1:
        return None
    (sep,) = between
    return sep if sep and sep != delimiter else None

"""Jobs' allocated GPUs from Slurm's accounting, one line per job::

    SLURM_TIME_FORMAT=%s sacct -a -X -P -S START -E END \\
      --format=JobID,Account,User,Partition,State,Start,End,AllocTRES,NodeList

``-a`` all users, ``-X`` the allocation only (no steps), ``-P`` ``|``-separated with a
header line. With ``-S`` and ``-E`` and no ``--state``, sacct selects jobs "in any state"
in the window (sacct's manual, "--starttime" and "DEFAULT TIME WINDOW"; by default only
jobs with an eligible time): a superset of the jobs that ran in the period, whose running
part the metering clips to it. ``SLURM_TIME_FORMAT=%s``
makes sacct print Start and End as seconds since the epoch, so no time zone is guessed.

Each line is checked; a bad one is a :class:`~gpufleet.live.errors.SourceError` naming
the line (1 = the header) and the field, what was wrong and what would be right:

==========  ==========================================================================
JobID       a job (``123``, an array task ``123_4``); a step (``123.batch``) is refused:
            ``-X`` was left out
Start       seconds since the epoch (or an ISO instant with its zone); ``Unknown`` /
            ``None``: never started, no GPU-seconds
End         the same; ``Unknown``: still running, counted to the period's end or the
            instant of the reading, the earlier
AllocTRES   ``gres/gpu=N`` (the total; else the sum of ``gres/gpu:TYPE=N``); the
            trace importer's reader (:func:`gpufleet.inputs.traces.importers.sacct.
            parse_tres`); no GPU entry: 0 GPUs
Partition   where it ran: the mapping's node rules may place nodes by partition
NodeList    Slurm's host list (``gf-h100-[1-2]``); a job on several nodes is split
            evenly between them (``--gres`` counts per node, so the split is exact for
            such jobs; ``--gpus=N`` spread unevenly is not, as ``-X`` does not say how
            many each node held)
==========  ==========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from gpufleet.inputs.traces.importers.common import BadValue
from gpufleet.inputs.traces.importers.sacct import parse_tres
from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At
from gpufleet.live.slurm.gres import host_list

FORMAT = "JobID,Account,User,Partition,State,Start,End,AllocTRES,NodeList"
COLUMNS = tuple(FORMAT.split(","))
TIME_ENV = {"SLURM_TIME_FORMAT": "%s"}
_NOT_STARTED = frozenset({"Unknown", "None", ""})
NAME_MAX = 100  # the register's column for a name (meter_usage.account)
TIME_EXPECTED = "seconds since the epoch (SLURM_TIME_FORMAT=%s) or an ISO instant with zone"


def sacct_command(start: datetime, end: datetime) -> tuple[str, ...]:
    """sacct for the jobs overlapping ``[start, end)``; ``-S``/``-E`` are read in this
    machine's local time, as sacct reads them."""

    def local(at: datetime) -> str:
        return at.astimezone().strftime("%Y-%m-%dT%H:%M:%S")

    return ("sacct", "-a", "-X", "-P", "-S", local(start), "-E", local(end), f"--format={FORMAT}")


@dataclass(frozen=True)
class JobUse:
    """One job's allocation: its GPUs over ``[start, end)`` (epoch seconds; end None:
    still running) on ``nodes``."""

    line: int
    job_id: str
    account: str
    user: str
    partition: str
    gpus: int
    gpu_type: str | None  # the typed entry, when there is exactly one
    start: int
    end: int | None
    nodes: tuple[str, ...]


class _Layout:
    def __init__(self, source: str, header: str) -> None:
        names = header.rstrip("\n").split("|")
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise SourceError(
                source, "<header>", f"columns {', '.join(missing)} missing",
                f"sacct -P --format={FORMAT}", 1,
            )  # fmt: skip
        self.width = len(names)
        self.at = {c: names.index(c) for c in COLUMNS}


class _Reader:
    """Reads lines; TRES strings and host lists, which repeat, are parsed once each."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tres: dict[str, tuple[int, str | None]] = {}
        self.hosts: dict[str, tuple[str, ...]] = {}

    def fail(self, line: int, field: str, message: str, expected: str) -> SourceError:
        return SourceError(self.source, field, message, expected, line=line)

    def gpus(self, line: int, text: str) -> tuple[int, str | None]:
        found = self.tres.get(text)
        if found is None:
            try:
                t = parse_tres(text, "AllocTRES")
            except BadValue as e:
                raise self.fail(line, "AllocTRES", e.message, e.expected) from None
            if t.gpus != math.floor(t.gpus):
                raise self.fail(line, "AllocTRES", f"{t.gpus:g} GPUs", "a whole GPU count")
            if any(len(x) > NAME_MAX for x in t.types):
                raise self.fail(line, "AllocTRES", "a GPU type name is too long",
                                f"names of at most {NAME_MAX} characters")  # fmt: skip
            found = (int(t.gpus), t.types[0] if len(t.types) == 1 else None)
            self.tres[text] = found
        return found

    def nodes(self, line: int, text: str) -> tuple[str, ...]:
        found = self.hosts.get(text)
        if found is None:
            found = host_list(At(self.source, f"line {line}: NodeList", text), text)
            self.hosts[text] = found
        return found

    def time(self, line: int, field: str, text: str) -> int | None:
        if text in _NOT_STARTED:
            return None
        if text.isdigit():
            return int(text)
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(line, field, f"{text!r} is not a time", TIME_EXPECTED) from None
        if at.tzinfo is None:
            raise self.fail(
                line, field, f"{text!r} has no zone: the cluster's local time is unknown",
                TIME_EXPECTED,
            )  # fmt: skip
        return int(at.timestamp())


def read_jobs(source: str, lines: Iterable[str]) -> Iterator[JobUse]:
    """The jobs of sacct's answer that started; every line checked (see the module)."""
    it = iter(lines)
    header = next(it, "")
    if "|" not in header:
        raise SourceError(source, "<header>", "no header line", f"{FORMAT} (sacct -P)", 1)
    lay, rd = _Layout(source, header), _Reader(source)
    at = lay.at
    for number, raw in enumerate(it, start=2):
        text = raw.rstrip("\n")
        if not text:
            continue
        cells = text.split("|")
        if len(cells) != lay.width:
            raise rd.fail(number, "<row>", f"{len(cells)} cells", f"{lay.width} as in the header")
        job = _job(rd, number, cells, at)
        if job is not None:
            yield job


def _job(rd: _Reader, n: int, cells: list[str], at: dict[str, int]) -> JobUse | None:
    job_id = cells[at["JobID"]]
    if not job_id or "." in job_id:
        raise rd.fail(
            n, "JobID", f"{job_id!r} is a job step or empty", "a job id (run sacct with -X)"
        )
    start = rd.time(n, "Start", cells[at["Start"]])
    if start is None:
        return None
    end = rd.time(n, "End", cells[at["End"]])
    if end is not None and end < start:
        raise rd.fail(n, "End", f"{cells[at['End']]!r} is before Start", "End at or after Start")
    account = cells[at["Account"]]
    if len(account) > NAME_MAX:
        limit = f"at most {NAME_MAX} characters (the register keeps no longer names)"
        raise rd.fail(n, "Account", f"is {len(account)} characters long", limit)
    gpus, gpu_type = rd.gpus(n, cells[at["AllocTRES"]])
    nodes = rd.nodes(n, cells[at["NodeList"]]) if gpus else ()
    if gpus and not nodes:
        raise rd.fail(n, "NodeList", "is empty for a job that holds GPUs", "the job's nodes")
    return JobUse(
        n, job_id, account, cells[at["User"]], cells[at["Partition"]], gpus,
        gpu_type, start, end, nodes,
    )  # fmt: skip

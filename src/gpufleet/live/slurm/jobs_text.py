"""Jobs from ``squeue``'s text fields instead of Slurm 22.05's JSON writer.

Why: ``squeue --json`` prints every field of every job through the openapi plugin (16 MB
and 2-6 s for 5,100 jobs at the 10,000-GPU bench, bench/README.md); the same list with
only the fields gpufleet reads is 0.5 MB and a tenth of the time. What the text lacks is
looked up only for the jobs that need it, and kept (:class:`JobDetails`) so that a
periodic observer pays for each job once:

- a running job's GPU indices per node (``gres_detail``, needed to match DCGM samples to
  the job): ``scontrol -d show job ID`` for each job newly seen holding GPUs, keyed by
  (job id, start time);
- the reason code where squeue prints the job's description instead (``%r`` is
  ``state_desc`` when set, squeue/print.c ``_print_job_reason``). A description written
  ``Code, detail`` (``ReqNodeNotAvail, UnavailableNodes:...``: node_scheduler.c and
  reservation.c write them so) is read by its code; any other is looked up, keyed by
  (job id, description).

A cold start with more than :data:`COLD_LIMIT` jobs to look up, or any description to
resolve, reads ``squeue --json`` once and takes both from it: bounded, and exactly what
the JSON path would read.

Safety of the text (squeue(1) and squeue/print.c of 22.05):
- only fields that are not free text are asked (never the name, comment or command), each
  with the suffix ``|`` and no width (``:|``: printed whole); the reason, the one field
  that may hold a description, comes last, so a ``|`` in it cannot move another field;
  every line is checked (field count, numbers, times, states, TRES, host lists) and an
  error names the command, the line and the field;
- ``-a -t all``: every partition and state, as the JSON lists them (SHOW_ALL, no filter);
  ``-r``: job array tasks are not combined into one line (which would merge their
  reasons); a pending array's own record expands into one line per task with the same
  job id, which is read once, as the JSON's one record;
- times as seconds since the epoch (``SLURM_TIME_FORMAT=%s``), not local time.
- ``scontrol -d show job``'s detail lines are checked against the job squeue listed: the
  answer is this job's, each ``Nodes=`` names only its nodes, each node once, and the
  indices add up to its GPUs. Anything else (a job name written to look like a detail
  line, a job gone meanwhile) leaves that job's GPUs unmeasured and is reported as a
  problem; the observation records it as a failure of source ``slurm``.

Known difference from the JSON: a running job without a time limit has no end time here
(squeue prints ``NONE``); the observation does not read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import At, parse_json
from gpufleet.live.runner import CommandRunner, command_text
from gpufleet.live.slurm.gres import gpus_of_tres, gres_allocations, host_list, tres_list
from gpufleet.live.slurm.jobs_json import parse_jobs
from gpufleet.live.slurm.model import GpuAllocation, JobState, SlurmJob
from gpufleet.live.slurm.text import duration_s, field_cells

FIELDS = (
    "jobid",
    "state",
    "username",
    "account",
    "partition",
    "qos",
    "nodelist",
    "submittime",
    "starttime",
    "endtime",
    "timelimit",
    "prioritylong",
    "tres-alloc",
    "reason",  # last: the one field that may hold free text (a description)
)
SQUEUE_TEXT = (
    "env",
    "SLURM_TIME_FORMAT=%s",
    "squeue",
    "-a",
    "-r",
    "-h",
    "-t",
    "all",
    "-O",
    ",".join(f"{f}:|" for f in FIELDS),
)
SQUEUE_JSON = ("squeue", "--json")
_Fail = Callable[[str, str, str], SourceError]  # (field, message, expected) -> the error
COLD_LIMIT = 8  # more jobs to look up than this: one squeue --json instead

_STATES = {s.value: s for s in JobState}
_BARE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DETAIL = re.compile(r"\s+Nodes=(?P<nodes>\S+) CPU_IDs=\S* Mem=\S+ GRES=(?P<gres>\S*)")
_NOT_SET = ("UNLIMITED", "NOT_SET", "INFINITE")


def scontrol_detail(job_id: int) -> tuple[str, ...]:
    return ("scontrol", "-d", "show", "job", str(job_id))


@dataclass
class JobDetails:
    """What squeue's text lacks, as found so far: kept by the source across cycles
    (``observe --every``, the server's poller) so each job is looked up once."""

    allocations: dict[tuple[int, int], tuple[GpuAllocation, ...]] = field(default_factory=dict)
    reasons: dict[tuple[int, str], str] = field(default_factory=dict)
    lookups: int = 0  # scontrol calls made (the bench reports them)
    json_reads: int = 0  # squeue --json reads made


@dataclass(frozen=True)
class JobLine:
    """One job's line of squeue's text, its fields checked."""

    number: int
    job_id: int
    state: JobState
    user: str
    account: str
    partition: str
    qos: str
    nodes: tuple[str, ...]
    submit: int
    start: int | None
    end: int | None
    limit_s: int | None
    priority: int
    gpus: int
    gpu_type: str | None
    reason_text: str

    @property
    def holds(self) -> bool:
        return self.state.holds_gpus and bool(self.nodes) and self.gpus > 0


@dataclass(frozen=True)
class TextJobs:
    jobs: tuple[SlurmJob, ...]
    problems: tuple[SourceError, ...]


def read_text_jobs(runner: CommandRunner, as_of: datetime, details: JobDetails) -> TextJobs:
    """The jobs as :func:`gpufleet.live.slurm.jobs_json.parse_jobs` reads them from the
    JSON (name and comment left empty: free text is not asked), in four phases."""
    # 1. the list
    lines = parse_squeue_text(command_text(SQUEUE_TEXT), runner.run(SQUEUE_TEXT))
    # 2. what is not known yet
    held = [x for x in lines if x.holds and (x.job_id, x.start or 0) not in details.allocations]
    described = [
        x
        for x in lines
        if reason_code(x.reason_text) is None and (x.job_id, x.reason_text) not in details.reasons
    ]
    problems: list[SourceError] = []
    # 3. looked up: one JSON read on a cold start, else per job
    if described or len(held) > COLD_LIMIT:
        _from_json(runner, as_of, details, lines)
        problems += [_gone(x) for x in held if (x.job_id, x.start or 0) not in details.allocations]
    else:
        for x in held:
            try:
                details.allocations[(x.job_id, x.start or 0)] = lookup_allocations(runner, x)
            except SourceError as e:
                problems.append(e)
            details.lookups += 1
    # 4. the jobs, and the caches pruned to them
    jobs = tuple(_job(x, as_of, details, problems) for x in lines)
    _prune(details, lines)
    return TextJobs(jobs, tuple(problems))


def parse_squeue_text(source: str, text: str) -> list[JobLine]:
    """Every line of :data:`SQUEUE_TEXT`'s answer; a job id seen again (a pending array's
    tasks, expanded by ``-r``) is its record's, read once."""
    out: list[JobLine] = []
    seen: set[int] = set()
    memo = _Cells()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _parse_line(source, number, raw, memo)
        if line.job_id not in seen:
            seen.add(line.job_id)
            out.append(line)
    return out


@dataclass
class _Cells:
    """The cells many lines of one answer share (a TRES list, a host list, a time limit),
    each read once per distinct text: at 5,100 jobs, a few dozen texts. Only read values
    are kept; a cell that fails raises at every line that has it."""

    hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tres: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    limits: dict[str, int | None] = field(default_factory=dict)


def _parse_line(source: str, number: int, raw: str, memo: _Cells) -> JobLine:
    def fail(name: str, message: str, expected: str) -> SourceError:
        return SourceError(source, name, message, expected, line=number)

    c = field_cells(fail, FIELDS, raw)
    state = _STATES.get(c["state"])
    if state is None:
        raise fail("state", f"unknown job state {c['state']!r}", "a Slurm job state")
    where = At(source, "", None)
    node_text, tres_text, limit_text = c["nodelist"], c["tres-alloc"], c["timelimit"]
    try:
        nodes = memo.hosts.get(node_text)
        if nodes is None:
            nodes = memo.hosts[node_text] = host_list(where, node_text)
        gpus = memo.tres.get(tres_text)
        if gpus is None:
            gpus = memo.tres[tres_text] = gpus_of_tres(tres_list(where, tres_text)) or (0, None)
    except SourceError as e:
        name = "nodelist" if "host" in e.problems[0].message else "tres-alloc"
        raise fail(name, e.problems[0].message, e.expected) from None
    if limit_text in memo.limits:
        limit_s = memo.limits[limit_text]
    else:
        limit_s = memo.limits[limit_text] = _limit(fail, source, limit_text)
    return JobLine(
        number=number,
        job_id=_whole(fail, "jobid", c["jobid"]),
        state=state,
        user=c["username"],
        account=c["account"],
        partition=c["partition"],
        qos=c["qos"],
        nodes=nodes,
        submit=_epoch(fail, "submittime", c["submittime"], required=True) or 0,
        start=_epoch(fail, "starttime", c["starttime"]),
        end=_epoch(fail, "endtime", c["endtime"]),
        limit_s=limit_s,
        priority=_whole(fail, "prioritylong", c["prioritylong"]),
        gpus=gpus[0],
        gpu_type=gpus[1],
        reason_text=c["reason"],
    )


def _whole(fail: _Fail, name: str, text: str) -> int:
    if not text.isdigit():
        raise fail(name, f"{text!r} is not a whole number", "digits")
    return int(text)


def _epoch(fail: _Fail, name: str, text: str, *, required: bool = False) -> int | None:
    """Seconds since the epoch; ``N/A`` (0: not set) and ``NONE`` (no end) are None."""
    if text in ("N/A", "NONE", "Unknown") and not required:
        return None
    if not text.isdigit():
        raise fail(
            name, f"{text!r} is not seconds since the epoch", "digits (SLURM_TIME_FORMAT=%s)"
        )
    return int(text) or None


def _limit(fail: _Fail, source: str, text: str) -> int | None:
    if text in _NOT_SET:
        return None
    try:
        return duration_s(source, "timelimit", text)
    except SourceError as e:
        raise fail("timelimit", e.problems[0].message, e.expected) from None


def reason_code(text: str) -> str | None:
    """Slurm's reason code in squeue's reason field, or None where it is a description
    that does not say it. ``None`` is no reason (the JSON path's "")."""
    if text == "None":
        return ""
    if _BARE.fullmatch(text):
        return text
    head, sep, _ = text.partition(", ")
    return head if sep and _BARE.fullmatch(head) else None


def _from_json(
    runner: CommandRunner, as_of: datetime, details: JobDetails, lines: list[JobLine]
) -> None:
    """Allocations and reason codes from one ``squeue --json`` (the JSON path's reader)."""
    texts = {x.job_id: x.reason_text for x in lines}
    answer = parse_json(command_text(SQUEUE_JSON), runner.run(SQUEUE_JSON))
    details.json_reads += 1
    for job in parse_jobs(answer, as_of):
        start = int(job.start_time.timestamp()) if job.start_time else 0
        if job.state.holds_gpus and job.nodes:
            details.allocations[(job.job_id, start)] = job.allocations
        if job.job_id in texts:
            details.reasons[(job.job_id, texts[job.job_id])] = job.reason


def _gone(x: JobLine) -> SourceError:
    """A running job of the text list that the JSON read after it did not hold (it ended
    between the two): its GPUs unmeasured this cycle, asked again the next."""
    return SourceError(
        command_text(SQUEUE_JSON),
        f"jobs[job_id={x.job_id}]",
        "the job is not holding GPUs in this answer",
        f"job {x.job_id} running on {','.join(x.nodes)}, as squeue's text listed it",
    )


def lookup_allocations(runner: CommandRunner, x: JobLine) -> tuple[GpuAllocation, ...]:
    """The job's GPU indices per node from ``scontrol -d show job``, cross-checked."""
    argv = scontrol_detail(x.job_id)
    source = command_text(argv)
    text = runner.run(argv)
    lines = text.splitlines()
    if not lines or not lines[0].startswith(f"JobId={x.job_id} "):
        raise SourceError(source, "JobId", "not this job's answer", f"JobId={x.job_id} first", 1)
    found: dict[str, tuple[GpuAllocation, ...]] = {}
    for number, raw in enumerate(lines, start=1):
        m = _DETAIL.fullmatch(raw)
        if m is None:
            continue
        where = At(source, "Nodes", None)
        try:
            nodes = host_list(where, m.group("nodes"))
            allocs = [gres_allocations(where, n, m.group("gres")) for n in nodes]
        except SourceError as e:
            raise SourceError(source, "Nodes", e.problems[0].message, e.expected, number) from None
        for node, alloc in zip(nodes, allocs, strict=True):
            if node not in x.nodes or node in found:
                why = "not one of the job's nodes" if node not in x.nodes else "named twice"
                raise SourceError(
                    source, "Nodes", f"{node} {why}", f"each of {','.join(x.nodes)} once", number
                )
            found[node] = alloc
    given = sum(len(a.indices) for allocs in found.values() for a in allocs)
    if given != x.gpus:
        raise SourceError(
            source,
            "GRES",
            f"the detail lines give {given} GPUs to job {x.job_id}",
            f"its {x.gpus} allocated GPUs; its GPUs are unmeasured",
        )
    return tuple(a for node in x.nodes for a in found.get(node, ()))


def _job(x: JobLine, as_of: datetime, details: JobDetails, problems: list[SourceError]) -> SlurmJob:
    started = x.state is not JobState.PENDING and bool(x.nodes)
    start = _time(x.start) if started else None
    end = _time(x.end) if start is not None else None
    elapsed = None
    if start is not None:
        until = as_of if x.state.holds_gpus or end is None else end
        elapsed = max(0, int((until - start).total_seconds()))
    allocations: tuple[GpuAllocation, ...] = ()
    if x.state.holds_gpus:
        allocations = details.allocations.get((x.job_id, x.start or 0), ())
    reason = reason_code(x.reason_text)
    if reason is None:
        reason = details.reasons.get((x.job_id, x.reason_text))
    if reason is None:  # gone from the JSON read meanwhile
        source = command_text(SQUEUE_TEXT)
        problems.append(
            SourceError(
                source, "reason", f"{x.reason_text!r} names no reason code", "a code", x.number
            )
        )
        reason = x.reason_text
    return SlurmJob(
        job_id=x.job_id,
        name="",
        user=x.user,
        account=x.account,
        partition=x.partition,
        qos=x.qos,
        state=x.state,
        reason=reason,
        gpus=x.gpus,
        gpu_type=x.gpu_type,
        nodes=x.nodes,
        allocations=allocations,
        submit_time=_time(x.submit) or datetime.fromtimestamp(0, UTC),
        start_time=start,
        end_time=end,
        elapsed_s=elapsed,
        time_limit_s=x.limit_s,
        priority=x.priority,
        flags=(),
        comment="",
        expected_start=_time(x.start) if x.state is JobState.PENDING else None,
    )


def _time(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _prune(details: JobDetails, lines: Sequence[JobLine]) -> None:
    """Only what this answer's jobs still need is kept."""
    held = {(x.job_id, x.start or 0) for x in lines if x.holds}
    texts = {(x.job_id, x.reason_text) for x in lines}
    details.allocations = {k: v for k, v in details.allocations.items() if k in held}
    details.reasons = {k: v for k, v in details.reasons.items() if k in texts}

"""Why is a job pending? Explanations read from a host's state at one instant.

A host (the simulator after ``run_until``, a live service) hands over a :class:`RunAt`: its
cluster state, its policy, the run's time 0 and the instant. :func:`explain_job` describes one
job (pending: its reason, queue positions, the jobs ahead of it and any backfill reservation;
running: where; done: what the host recorded) and :func:`explain_program` a program's queue.
Both return frozen dataclasses with dates as dates; the command line renders them as text or
JSON.

A reservation is the policy's to report (``Policy.reservation``): the top job of a cohort
under Slurm's EASY backfill holds a reserved start, and a job held back for it
(``Reason.HELD_FOR_BACKFILL``) is shown with the job and instant it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from gpufleet.domain.reasons import Reason
from gpufleet.errors import InternalError
from gpufleet.policies.base import Policy
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job, JobState, ProgramState

LIST_LIMIT = 20  # pending jobs listed for a program
AHEAD_SHOWN = 5  # jobs ahead of a pending job listed
NOT_LOOKED_AT = "not yet looked at by a scheduling cycle"


@dataclass(frozen=True)
class RunAt:
    """A host's run at one instant: what every explanation reads."""

    state: ClusterState
    policy: Policy
    start: datetime  # the instant of time 0
    at_s: float
    submitted: int  # jobs submitted so far: ids 0 .. submitted - 1

    def date(self, t_s: float) -> datetime:
        return self.start + timedelta(seconds=t_s)

    @property
    def at(self) -> datetime:
        return self.date(self.at_s)


@dataclass(frozen=True)
class Finished:
    """What the host recorded of a job that has left the fleet."""

    program: str
    gpus: int
    submit_s: float
    start_s: float
    finish_s: float


class History(Protocol):
    def finished(self, job_id: int) -> Finished | None:
        """The record of a submitted job no longer pending or running, if the host has it."""
        ...


@dataclass(frozen=True)
class QueuedJob:
    """A pending job as a queue listing shows it; ``sentence`` says its reason in prose."""

    id: int
    gpus: int
    submit: datetime
    reason: str
    sentence: str


@dataclass(frozen=True)
class HeldFor:
    """The reservation a job is held back for: the cohort's top job and its reserved start."""

    job: int
    reserved_start: datetime


@dataclass(frozen=True)
class PendingView:
    """A pending job: its reason, where it stands in the queues, what is ahead of it."""

    reason: str
    sentence: str
    reason_since: datetime
    program_queue_position: int  # 1: first in its program's queue
    program_queue_length: int
    cohort_queue_position: int
    ahead_gpus: int  # GPUs the jobs ahead of it in its program ask for
    ahead: tuple[QueuedJob, ...]  # the first AHEAD_SHOWN of them
    reserved_start: datetime | None  # set when it holds its cohort's reservation
    held_for: HeldFor | None  # set when it is held back for another job's reservation


@dataclass(frozen=True)
class DoneJob:
    """A job that ran and finished before the instant."""

    job: int
    at: datetime
    program: str
    gpus: int
    submit: datetime
    started: datetime
    finished: datetime


@dataclass(frozen=True)
class LiveJob:
    """A job pending or running at the instant; ``pending`` is set for a pending one,
    ``started`` and ``running_on`` for a running one."""

    job: int
    at: datetime
    state: str  # "pending" or "running"
    program: str
    cohort: str
    gpus: int
    gpu_types: tuple[str, ...]
    priority: int
    submit: datetime
    preemptions: int
    started: datetime | None
    running_on: str | None
    pending: PendingView | None


JobExplanation = DoneJob | LiveJob


@dataclass(frozen=True)
class ProgramExplanation:
    """A program's queue at the instant: counts by reason (most first, then by code) and
    its first LIST_LIMIT pending jobs in queue order."""

    program: str
    at: datetime
    pending: int
    running: int
    pending_by_reason: tuple[tuple[str, int], ...]
    jobs: tuple[QueuedJob, ...]


def find_job(state: ClusterState, job_id: int) -> Job | None:
    """A submitted job that is pending or running now (a scan of the queues)."""
    for p in state.programs:
        j = p.pending.get(job_id) or p.running.get(job_id)
        if j is not None:
            return j
    return None


def sentence(job: Job) -> str:
    """The job's reason in prose (a job no cycle has looked at yet has none)."""
    return Reason(job.reason).sentence if job.reason else NOT_LOOKED_AT


def explain_job(run: RunAt, history: History, job_id: int) -> JobExplanation:
    """One submitted job (``0 <= job_id < run.submitted``; the caller checks) at the instant."""
    job = find_job(run.state, job_id)
    if job is None:
        rec = history.finished(job_id)
        if rec is None:
            raise InternalError(f"job {job_id} was submitted but is neither live nor recorded")
        return DoneJob(
            job_id,
            run.at,
            rec.program,
            rec.gpus,
            run.date(rec.submit_s),
            run.date(rec.start_s),
            run.date(rec.finish_s),
        )
    s = job.spec
    running = job.state is JobState.RUNNING
    where = None
    if running:
        group = run.state.capacity.groups[job.group]
        where = f"{group.gpu_type} at {group.site}"
    return LiveJob(
        job=job_id,
        at=run.at,
        state="running" if running else "pending",
        program=job.program.name,
        cohort=job.cohort,
        gpus=s.gpus,
        gpu_types=tuple(s.gpu_types),
        priority=s.priority,
        submit=run.date(s.submit_s),
        preemptions=job.preemptions,
        started=run.date(job.start_s) if running else None,
        running_on=where,
        pending=None if running else pending_view(run, job),
    )


def pending_view(run: RunAt, job: Job) -> PendingView:
    """Reason, queue positions, the jobs ahead in its program's queue, its reservation."""
    ahead: list[Job] = []
    for j in job.program.pending.values():
        if j is job:
            break
        ahead.append(j)
    cohort_pos = 1
    for j in run.state.cohorts[job.cohort].queue.values():
        if j is job:
            break
        cohort_pos += 1
    reserved_start, held_for = _reservation(run, job)
    return PendingView(
        reason=str(job.reason),
        sentence=sentence(job),
        reason_since=run.date(job.reason_since_s),
        program_queue_position=len(ahead) + 1,
        program_queue_length=len(job.program.pending),
        cohort_queue_position=cohort_pos,
        ahead_gpus=sum(j.spec.gpus for j in ahead),
        ahead=tuple(_queued(run, j) for j in ahead[:AHEAD_SHOWN]),
        reserved_start=reserved_start,
        held_for=held_for,
    )


def _reservation(run: RunAt, job: Job) -> tuple[datetime | None, HeldFor | None]:
    """(its reserved start if it holds its cohort's reservation, the reservation it is held
    back for if it is), from the policy's last cycle of the job's cohort."""
    held = run.policy.reservation(job.cohort)
    if held is None:
        return None, None
    start = run.date(held.start_s)
    if held.job_id == job.spec.id:
        return start, None
    if job.reason == Reason.HELD_FOR_BACKFILL:
        return None, HeldFor(held.job_id, start)
    return None, None


def _queued(run: RunAt, j: Job) -> QueuedJob:
    return QueuedJob(j.spec.id, j.spec.gpus, run.date(j.spec.submit_s), str(j.reason), sentence(j))


def explain_program(run: RunAt, program: ProgramState) -> ProgramExplanation:
    """A program's pending jobs by reason, and the first of them in queue order."""
    shown = []
    for i, j in enumerate(program.pending.values()):
        if i >= LIST_LIMIT:
            break
        shown.append(_queued(run, j))
    counts: dict[str, int] = {}
    for j in program.pending.values():
        counts[str(j.reason)] = counts.get(str(j.reason), 0) + 1
    return ProgramExplanation(
        program=program.name,
        at=run.at,
        pending=len(program.pending),
        running=len(program.running),
        pending_by_reason=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        jobs=tuple(shown),
    )

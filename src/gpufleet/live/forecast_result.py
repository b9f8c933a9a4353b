"""A forecast's result, typed: each job's predicted start and end, each program's milestone
date, and what the forecast left out or does not model. Dates are datetimes; JSON
(:meth:`Forecast.to_dict`) is made only at the edge.

A milestone's date: the register's milestone asks ``gpu_hours`` of work at reference
speed (H100-SXM = 1) by ``due``; what is left is ``gpu_hours - done`` (the caller says what
is done). The program's work from now is the sum over its jobs of ``gpus x throughput of
the GPU type x seconds run`` between now and each instant; the milestone's date is the
first instant it reaches what is left, or none if the known jobs do not reach it by the
horizon (the forecast knows no job that is not submitted yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from gpufleet.domain import GpuCatalog, GpuTypeName, ProgramId
from gpufleet.domain.org import Milestone
from gpufleet.domain.scenario import PolicySpec
from gpufleet.live.forecast_jobs import Skipped, StartingJobs
from gpufleet.live.mapping import ClusterMapping
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import Job, JobState


@dataclass(frozen=True)
class JobForecast:
    """One Slurm job: ``start`` is predicted for a pending job (None: not by the horizon),
    the actual one for a job running at ``now``; ``end`` is predicted (None: not by the
    horizon)."""

    job_id: int
    account: str
    user: str
    program: ProgramId | None  # the register's program (mapping), None if unmapped
    gpus: int
    gpu_type: GpuTypeName | None  # where it runs (or would), None if it never starts
    submit: datetime
    start: datetime | None
    end: datetime | None
    running_at_now: bool


@dataclass(frozen=True)
class MilestoneForecast:
    program: ProgramId
    milestone: str
    due: datetime
    gpu_hours_left: float
    reached: datetime | None  # None: the known jobs do not reach it by the horizon

    @property
    def late_s(self) -> float | None:
        return None if self.reached is None else (self.reached - self.due).total_seconds()


@dataclass(frozen=True)
class Forecast:
    now: datetime
    until: datetime  # the horizon
    policy: PolicySpec
    running: tuple[JobForecast, ...]  # by predicted end
    pending: tuple[JobForecast, ...]  # by predicted start (none last), then job id
    milestones: tuple[MilestoneForecast, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]
    not_modelled: tuple[str, ...]  # the cluster's settings the policy was not given
    wall_s: float

    def start_order(self) -> list[int]:
        """Pending jobs' Slurm ids in predicted start order."""
        return [j.job_id for j in self.pending]

    def to_dict(self) -> ForecastJson:
        return {
            "now": self.now.isoformat(),
            "until": self.until.isoformat(),
            "policy": {"name": self.policy.name, "options": dict(self.policy.options)},
            "assumption": ASSUMPTION,
            "running": [_job_json(j) for j in self.running],
            "pending": [_job_json(j) for j in self.pending],
            "milestones": [_milestone_json(m) for m in self.milestones],
            "skipped": [{"job_id": s.job_id, "why": s.why} for s in self.skipped],
            "notes": list(self.notes),
            "not_modelled": list(self.not_modelled),
            "wall_s": round(self.wall_s, 3),
        }


ASSUMPTION = (
    "jobs run until their time limit unless their run time was given: Slurm does not "
    "know a job's remaining time either, and plans with limits too"
)


class JobJson(TypedDict):
    job_id: int
    account: str
    user: str
    program: str | None
    gpus: int
    gpu_type: str | None
    submit: str
    start: str | None
    end: str | None


class MilestoneJson(TypedDict):
    program: str
    milestone: str
    due: str
    gpu_hours_left: float
    reached: str | None
    late_days: float | None


class PolicyJson(TypedDict):
    name: str
    options: dict[str, float | int | str | bool]


class SkippedJson(TypedDict):
    job_id: int
    why: str


class ForecastJson(TypedDict):
    now: str
    until: str
    policy: PolicyJson
    assumption: str
    running: list[JobJson]
    pending: list[JobJson]
    milestones: list[MilestoneJson]
    skipped: list[SkippedJson]
    notes: list[str]
    not_modelled: list[str]
    wall_s: float


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _job_json(j: JobForecast) -> JobJson:
    return {
        "job_id": j.job_id,
        "account": j.account,
        "user": j.user,
        "program": j.program,
        "gpus": j.gpus,
        "gpu_type": j.gpu_type,
        "submit": j.submit.isoformat(),
        "start": _iso(j.start),
        "end": _iso(j.end),
    }


def _milestone_json(m: MilestoneForecast) -> MilestoneJson:
    late = m.late_s
    return {
        "program": m.program,
        "milestone": m.milestone,
        "due": m.due.isoformat(),
        "gpu_hours_left": m.gpu_hours_left,
        "reached": _iso(m.reached),
        "late_days": None if late is None else round(late / 86_400.0, 3),
    }


def empty_forecast(
    now: datetime, until: datetime, policy: PolicySpec, not_modelled: tuple[str, ...]
) -> Forecast:
    """No job runs or waits: nothing to forecast."""
    return Forecast(now, until, policy, (), (), (), (), (), not_modelled, 0.0)


def read_forecast(
    sim: Simulation,
    run_jobs: Sequence[Job],
    start: StartingJobs,
    mapping: ClusterMapping,
    now: datetime,
    catalog: GpuCatalog,
    policy: PolicySpec,
    not_modelled: tuple[str, ...],
    notes: tuple[str, ...],
    milestones: Mapping[str, Milestone],
    done_gpu_hours: Mapping[str, float],
    wall_s: float,
) -> Forecast:
    """Phase 5 of the forecast: the run's jobs (``run_jobs[i]`` is run id ``i``, Slurm's
    ``start.jobs[i]``) read back as dates."""
    finish = dict(zip(sim.recorder.j_id, sim.recorder.j_finish, strict=True))
    groups = sim.state.capacity.groups
    horizon_s = sim.sc.horizon_s
    out: list[JobForecast] = []
    for job, slurm in zip(run_jobs, start.jobs, strict=True):
        started = job.state is not JobState.PENDING
        end_s = finish.get(job.spec.id)
        target = mapping.account(slurm.account)
        out.append(
            JobForecast(
                job_id=slurm.job_id,
                account=slurm.account,
                user=slurm.user,
                program=None if target is None else target.program,
                gpus=slurm.gpus,
                gpu_type=GpuTypeName(groups[job.group].gpu_type) if job.group >= 0 else None,
                submit=slurm.submit_time,
                start=_at(now, job.first_start_s) if started else None,
                end=None if end_s is None else _at(now, end_s),
                running_at_now=job.spec.id < len(start.running),
            )
        )
    never = datetime.max.replace(tzinfo=now.tzinfo)
    running = sorted((j for j in out if j.running_at_now), key=lambda j: (j.end or never, j.job_id))
    pending = sorted(
        (j for j in out if not j.running_at_now), key=lambda j: (j.start or never, j.job_id)
    )
    reached = [
        _milestone(program, m, done_gpu_hours.get(program, 0.0), out, now, catalog, horizon_s)
        for program, m in sorted(milestones.items())
    ]
    return Forecast(
        now,
        _at(now, horizon_s),
        policy,
        tuple(running),
        tuple(pending),
        tuple(reached),
        start.skipped,
        notes,
        not_modelled,
        wall_s,
    )


def _at(now: datetime, t_s: float) -> datetime:
    return now + timedelta(seconds=t_s)


def _milestone(
    program: str,
    m: Milestone,
    done_gpu_hours: float,
    jobs: Sequence[JobForecast],
    now: datetime,
    catalog: GpuCatalog,
    horizon_s: float,
) -> MilestoneForecast:
    """The first instant the program's work from now reaches what is left (the module
    docstring): its jobs' work rates, changing at their starts and ends, integrated."""
    left_gpu_s = max(0.0, m.gpu_hours - done_gpu_hours) * 3600.0
    changes: list[tuple[float, float]] = []  # (seconds from now, change of work rate)
    for j in jobs:
        if j.program != program or j.start is None or j.gpu_type is None:
            continue
        rate = j.gpus * catalog.get(j.gpu_type).throughput
        changes.append((max(0.0, (j.start - now).total_seconds()), rate))
        if j.end is not None:
            changes.append(((j.end - now).total_seconds(), -rate))
    changes.sort()
    done, rate, last = 0.0, 0.0, 0.0
    reached: datetime | None = now if left_gpu_s == 0 else None
    for t, d_rate in changes:
        if reached is None and rate > 0 and done + rate * (t - last) >= left_gpu_s:
            reached = _at(now, last + (left_gpu_s - done) / rate)
        done += rate * (t - last)
        rate, last = rate + d_rate, t
    if reached is None and rate > 0:  # jobs still running at the horizon
        t = last + (left_gpu_s - done) / rate
        reached = _at(now, t) if t <= horizon_s else None
    return MilestoneForecast(ProgramId(program), m.name, m.due, left_gpu_s / 3600.0, reached)

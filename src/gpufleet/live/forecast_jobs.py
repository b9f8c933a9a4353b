"""Slurm's jobs as the run's starting jobs: running ones on their GPUs, pending ones in the
queue, and those a forecast cannot place, with why.

Times: time 0 of the run is the forecast's ``now``. A pending job's submit time lies
before 0 (its age counts from it); a running job started before 0.

**How long a job runs.** Slurm does not know when a job will end either; it plans with
each job's time limit (slurm.schedmd.com/sched_config.html, "Backfill": "the expected
start time of pending jobs depends upon ... the time limits of running jobs"). So does
the forecast: a job runs until its time limit unless the caller gives its run time
(``run_time_s``, seconds by Slurm job id: a user's estimate, or in the validation the
known length of each job). A job without a limit runs to the forecast's horizon. A
running job past its limit ends at once (Slurm kills it within ``OverTimeLimit``), and so
does one ``COMPLETING`` (its epilog is about to give its GPUs back).

Every run time is wall-clock time, whatever the GPU: the run's catalog gives every GPU
type throughput 1 (:func:`wall_clock_catalog`), so work equals seconds on any type.

Which jobs: pending jobs that ask for GPUs, except those Slurm holds for something other
than resources (a user or admin hold, a dependency, a begin time: they would start at a
time the forecast cannot know); running jobs (and those completing or suspended) that hold
GPUs on nodes of the run. The rest are listed as skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from gpufleet.domain import GpuCatalog, GpuTypeName, JobId
from gpufleet.domain.jobs import JobSpec
from gpufleet.engine.timeline import Running
from gpufleet.live.forecast_fleet import Fleet, account_program
from gpufleet.live.mapping import ClusterMapping
from gpufleet.live.slurm.model import JobState, SlurmJob
from gpufleet.state.capacity import CapacityIndex, Placement

HELD = frozenset(
    {"JobHeldUser", "JobHeldAdmin", "Dependency", "DependencyNeverSatisfied", "BeginTime"}
)


@dataclass(frozen=True)
class Skipped:
    job_id: int
    why: str


@dataclass(frozen=True)
class StartingJobs:
    """The run's jobs: ``jobs[i]`` is the Slurm job of the run's job id ``i`` (running
    first, then pending in Slurm's listing order)."""

    running: tuple[Running, ...]
    pending: tuple[JobSpec, ...]
    jobs: tuple[SlurmJob, ...]
    skipped: tuple[Skipped, ...]


def wall_clock_catalog(catalog: GpuCatalog) -> GpuCatalog:
    """``catalog`` with every type at throughput 1: a second of run time is a second on
    any GPU (the module docstring)."""
    return GpuCatalog(replace(t, throughput=1.0) for t in catalog)


def is_pending(job: SlurmJob) -> bool:
    return job.state is JobState.PENDING and job.gpus > 0


def is_running(job: SlurmJob) -> bool:
    return job.state.holds_gpus and job.gpus > 0


def starting_jobs(
    jobs: Sequence[SlurmJob],
    fleet: Fleet,
    capacity: CapacityIndex,
    mapping: ClusterMapping,
    now: datetime,
    horizon_s: float,
    run_time_s: Mapping[int, float],
) -> StartingJobs:
    """Running jobs placed on the GPUs they hold (checked against what is still free),
    then the pending queue (rules in the module docstring)."""
    skipped: list[Skipped] = []
    running: list[Running] = []
    taken: list[SlurmJob] = []
    free = list(capacity.node_free)
    for job in jobs:
        if not is_running(job):
            continue
        got = _placement(job, fleet, capacity, free)
        if isinstance(got, str):
            skipped.append(Skipped(job.job_id, got))
            continue
        for node, n in got.slots:
            free[node] -= n
        start_s = _start_s(job, now)
        node_type = capacity.groups[got.group].gpu_type
        spec = _spec(job, len(taken), start_s, (GpuTypeName(node_type),), horizon_s)
        limit = spec.time_limit_s if spec.time_limit_s is not None else horizon_s
        run_s = run_time_s.get(job.job_id, limit)
        ends_s = 0.0 if job.state is JobState.COMPLETING else max(0.0, start_s + run_s)
        running.append(Running(spec, got, start_s, ends_s))
        taken.append(job)
    pending: list[JobSpec] = []
    for job in jobs:
        if not is_pending(job):
            continue
        if job.reason in HELD:
            skipped.append(Skipped(job.job_id, f"held by Slurm ({job.reason})"))
            continue
        types = _gpu_types(job, fleet, mapping)
        if not types:
            skipped.append(Skipped(job.job_id, _no_type(job)))
            continue
        submit_s = (job.submit_time - now).total_seconds()
        spec = _spec(job, len(taken), submit_s, types, horizon_s)
        given = run_time_s.get(job.job_id)
        if given is not None:
            spec = spec._replace(work_s=given)
        pending.append(spec)
        taken.append(job)
    return StartingJobs(tuple(running), tuple(pending), tuple(taken), tuple(skipped))


def _spec(
    job: SlurmJob, run_id: int, submit_s: float, types: tuple[GpuTypeName, ...], horizon_s: float
) -> JobSpec:
    """The job as the run's spec: its program is its account, its work its limit; its
    user and QOS are Slurm's (for the per-user and QOS limits)."""
    limit = float(job.time_limit_s) if job.time_limit_s is not None else None
    return JobSpec(
        id=JobId(run_id),
        program=account_program(job.account),
        submit_s=submit_s,
        gpus=job.gpus,
        work_s=limit if limit is not None else horizon_s,
        gpu_types=types,
        preemptible=False,
        name=str(job.job_id),
        time_limit_s=limit,
        user=job.user,
        qos=job.qos,
    )


def _start_s(job: SlurmJob, now: datetime) -> float:
    if job.start_time is not None:
        return min(0.0, (job.start_time - now).total_seconds())
    return -float(job.elapsed_s or 0)


def _gpu_types(job: SlurmJob, fleet: Fleet, mapping: ClusterMapping) -> tuple[GpuTypeName, ...]:
    """The type the job names (mapped), or every type of its partitions' nodes."""
    partitions = [p for p in job.partition.split(",") if p]
    in_partitions = fleet.types_of_partitions(partitions)
    if job.gpu_type is not None:
        named = mapping.gpu_type(job.gpu_type)
        return (named,) if named is not None and named in in_partitions else ()
    return in_partitions


def _no_type(job: SlurmJob) -> str:
    if job.gpu_type is not None:
        return (
            f"its GPU type {job.gpu_type!r} is not mapped or has no node in partition "
            f"{job.partition!r}"
        )
    return f"partition {job.partition!r} has no GPU node in the forecast"


def _placement(
    job: SlurmJob, fleet: Fleet, capacity: CapacityIndex, free: list[int]
) -> Placement | str:
    """The GPUs ``job`` holds as a placement, or why it cannot be placed."""
    held = [(a.node, len(a.indices)) for a in job.allocations if a.indices]
    if not held and job.nodes:  # no device detail: its GPUs spread evenly
        per, extra = divmod(job.gpus, len(job.nodes))
        held = [(n, per + (1 if i < extra else 0)) for i, n in enumerate(job.nodes)]
    slots: list[tuple[int, int]] = []
    for name, n in held:
        node = fleet.nodes.get(name)
        if node is None:
            return f"runs on node {name}, which is not in the forecast"
        if n > free[node.index]:
            return f"holds {n} GPUs of node {name}, where only {free[node.index]} are free"
        slots.append((node.index, n))
    if not slots:
        return "runs on no node Slurm names"
    groups = {capacity.node_group[i] for i, _ in slots}
    if len(groups) != 1:
        return "spans nodes of different pools or GPU types"
    return Placement(groups.pop(), tuple(slots))

"""``acme-2023``: Shanghai AI Lab's LLM-development clusters (Hu et al., "Characterization
of Large Language Model Development in the Datacenter", USENIX NSDI '24).

The full job traces could not be obtained. What loads as jobs is a third party's
transformation of 319 completed Kalos jobs (Pretrain, SFT, Other), from which the original
values come back by the transformation's own formulas (SOURCE.md, ``transform_trace.py``)::

    submit_s   = arrival_time                     (s after the first selected job)
    duration_s = num_iteration / 2                (num_iteration = int(duration / 0.5))
    gpus       = gpu_workers * gpu_per_worker     (nodes * GPUs per node)
    cpus       = cpu_per_gpu_worker * gpus        (cpu_per_gpu_worker = cpu_num / gpu_num)
    memory_gb  = tensorsizes * 100 * gpu_workers  (tensorsizes = mem_per_pod_GB / 100)
    queue      = "Pretrain" when iteration_networking_time is 0.75, else "Other/SFT"

:func:`published_summary` reads the authors' per-trace table ``cluster_summary.csv`` (Seren,
Kalos, Philly, Helios, PAI), the figures a replay of those traces is validated against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gpufleet.inputs.traces.loaders._tables import Row, read_table
from gpufleet.inputs.traces.registry import register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

NAME = "acme-2023"
KALOS_COLUMNS = (
    "job_id",
    "arrival_time",
    "num_iteration",
    "iteration_computing_time",
    "iteration_networking_time",
    "gpu_workers",
    "ps",
    "gpu_per_worker",
    "cpu_per_gpu_worker",
    "cpu_per_ps_worker",
    "tensorsizes",
    "profiled_network",
)
PRETRAIN = "Pretrain"
OTHER = "Other/SFT"
JOB_TYPE_FLAG = {0.75: PRETRAIN, 0.25: OTHER}  # iteration_networking_time
SECONDS_PER_ITERATION = 0.5
MEMORY_GB_PER_TENSORSIZE = 100.0


class _Job(NamedTuple):
    submit_s: float
    duration_s: float
    gpus: float
    cpus: float
    memory_gb: float
    kind: str
    job_id: str
    line: int


@register(
    NAME,
    "Acme (Shanghai AI Lab, NSDI '24): 319 completed Kalos LLM jobs of 1-1,024 GPUs; "
    "published summaries of Seren, Kalos, Philly, Helios, PAI",
)
def load(folder: Path, policy: RowPolicy) -> Workload:
    path = folder / "kalos_completed_subset_converted.csv"
    jobs = read_table(path, policy, KALOS_COLUMNS, _job)
    return Workload.build(
        NAME,
        [j.submit_s for j in jobs],
        [j.duration_s for j in jobs],
        [j.gpus for j in jobs],
        cpus=[j.cpus for j in jobs],
        memory_gb=[j.memory_gb for j in jobs],
        queue=[j.kind for j in jobs],
        status=["COMPLETED"] * len(jobs),
        job_id=[j.job_id for j in jobs],
        source_line=[j.line for j in jobs],
        notes=[
            "a third party's subset of Kalos: completed GPU jobs of type Pretrain, SFT or "
            "Other only, so not the cluster's arrival process; use it for LLM-scale gang "
            "sizes and durations",
            "no absolute date: submit_s = arrival_time, seconds after the first selected job",
            "duration_s = num_iteration / 2 (the transformation kept int(duration / 0.5), so "
            "durations are exact to 0.5 s); gpus = gpu_workers * gpu_per_worker",
            "queue = job type: Pretrain (iteration_networking_time 0.75) or Other/SFT "
            "(0.25); the transformation does not tell SFT from Other",
            "cpus = cpu_per_gpu_worker * gpus; memory_gb = tensorsizes * 100 GB per node * "
            "gpu_workers nodes",
            "not in the subset: users, start times (so no queueing delay), GPU model",
            *policy.notes(),
        ],
        source=str(path),
    )


def _job(row: Row) -> _Job:
    flag = row.number("iteration_networking_time")
    if flag not in JOB_TYPE_FLAG:
        row.fail(
            "iteration_networking_time",
            f"not a job-type flag: {row.text('iteration_networking_time')}",
            "0.75 (Pretrain) or 0.25 (Other/SFT)",
        )
    nodes = row.number("gpu_workers", integer=True, strict=True)
    gpus = nodes * row.number("gpu_per_worker", strict=True)
    return _Job(
        submit_s=row.number("arrival_time"),
        duration_s=row.number("num_iteration", integer=True) * SECONDS_PER_ITERATION,
        gpus=gpus,
        cpus=row.number("cpu_per_gpu_worker") * gpus,
        memory_gb=row.number("tensorsizes") * MEMORY_GB_PER_TENSORSIZE * nodes,
        kind=JOB_TYPE_FLAG[flag],
        job_id=row.text("job_id"),
        line=row.line,
    )


@dataclass(frozen=True)
class PublishedSummary:
    """One row of Acme's ``cluster_summary.csv``: a whole trace as its authors computed it.

    Times in seconds, GPU time in GPU-seconds, ``*_share`` fractions (of jobs, or of GPU
    time where named); NaN where the table has no value (PAI's status figures, Philly's
    CPU-job figures).
    """

    trace: str
    jobs: int
    cpu_jobs: int
    gpu_jobs: int
    gpu_job_run_mean_s: float
    gpu_job_queue_mean_s: float
    gpus_per_gpu_job_mean: float
    gpu_job_run_median_s: float
    gpu_job_queue_median_s: float
    gpus_per_gpu_job_median: float
    gpu_job_run_max_s: float
    gpus_per_job_max: float
    gpu_jobs_completed_share: float
    gpu_jobs_cancelled_share: float
    gpu_jobs_failed_share: float
    completed_gpu_time_gpu_s: float
    cancelled_gpu_time_gpu_s: float
    failed_gpu_time_gpu_s: float
    gpu_time_completed_share: float
    gpu_time_cancelled_share: float
    gpu_time_failed_share: float
    cpu_job_run_mean_s: float
    cpu_job_queue_mean_s: float
    cpu_job_run_median_s: float
    cpu_job_queue_median_s: float
    cpu_jobs_completed_share: float
    cpu_jobs_cancelled_share: float
    cpu_jobs_failed_share: float


# cluster_summary.csv column -> PublishedSummary field, both in the file's order
SUMMARY_COLUMNS = {
    "job_num": "jobs",
    "cpu_job_num": "cpu_jobs",
    "gpu_job_num": "gpu_jobs",
    "avg_run_time_gpu": "gpu_job_run_mean_s",
    "avg_que_time_gpu": "gpu_job_queue_mean_s",
    "avg_gpu_num": "gpus_per_gpu_job_mean",
    "med_run_time_gpu": "gpu_job_run_median_s",
    "med_que_time_gpu": "gpu_job_queue_median_s",
    "med_gpu_num": "gpus_per_gpu_job_median",
    "max_run_time_gpu": "gpu_job_run_max_s",
    "max_gpu": "gpus_per_job_max",
    "complete_rate_gpu": "gpu_jobs_completed_share",
    "cancel_rate_gpu": "gpu_jobs_cancelled_share",
    "fail_rate_gpu": "gpu_jobs_failed_share",
    "complete_gpu_time": "completed_gpu_time_gpu_s",
    "cancel_gpu_time": "cancelled_gpu_time_gpu_s",
    "fail_gpu_time": "failed_gpu_time_gpu_s",
    "complete_rate_gpu_time": "gpu_time_completed_share",
    "cancel_rate_gpu_time": "gpu_time_cancelled_share",
    "fail_rate_gpu_time": "gpu_time_failed_share",
    "avg_run_time_cpu": "cpu_job_run_mean_s",
    "avg_que_time_cpu": "cpu_job_queue_mean_s",
    "med_run_time_cpu": "cpu_job_run_median_s",
    "med_que_time_cpu": "cpu_job_queue_median_s",
    "complete_rate_cpu": "cpu_jobs_completed_share",
    "cancel_rate_cpu": "cpu_jobs_cancelled_share",
    "fail_rate_cpu": "cpu_jobs_failed_share",
}
_COUNTS = ("job_num", "cpu_job_num", "gpu_job_num")


def published_summary(folder: Path) -> dict[str, PublishedSummary]:
    """The rows of ``cluster_summary.csv`` by trace: Seren, Kalos, Philly, Helios, PAI."""
    path = folder / "cluster_summary.csv"
    rows = read_table(path, RowPolicy(str(path)), ("id", *SUMMARY_COLUMNS), _summary)
    return {r.trace: r for r in rows}


def _summary(row: Row) -> PublishedSummary:
    """The fields in the file's column order (SUMMARY_COLUMNS), which is the class's."""
    counts = [int(row.number(c, integer=True)) for c in _COUNTS]
    figures = [row.number(c, blank_ok=True) for c in SUMMARY_COLUMNS if c not in _COUNTS]
    return PublishedSummary(row.text("id"), *counts, *figures)

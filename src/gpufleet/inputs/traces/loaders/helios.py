"""SenseTime Helios (2020): a 15,000-job extract, daily VC quotas of two clusters, and the
authors' per-cluster figures for the full traces.

``helios-2020`` reads (the folder's ``SOURCE.md`` gives schemas, provenance and figures):

* ``helios_jobs_dirlab15k.csv``: the latest 15,000 jobs as DIR-LAB cut them, in the same
  format as Philly's DIR-LAB extract (:func:`~gpufleet.inputs.traces.loaders.philly.read_dirlab`);
  CPU-only jobs are kept with ``gpus = 0``.
* ``supplementary/{venus,earth}_cluster_gpu_number.csv``: each VC's GPU quota per day,
  which become ``allocations`` keyed ``venus/<vc>`` and ``earth/<vc>``. The extract has no
  VC column and no dates, so the series cannot be matched to its jobs; they are kept on
  their own time axis, seconds after 2020-04-01 00:00 (:data:`QUOTA_EPOCH`).
* ``supplementary/helios_cluster_summary.csv``: read by :func:`published_summary`, for
  validating a replay against the published queueing delays and GPU counts.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gpufleet.inputs.traces.loaders.philly import Allocations, file_policy, read_csv, read_dirlab
from gpufleet.inputs.traces.registry import register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import F64, FleetGroup, Workload

JOBS_FILE = "helios_jobs_dirlab15k.csv"
QUOTA_FILES = (
    ("venus", "supplementary/venus_cluster_gpu_number.csv"),
    ("earth", "supplementary/earth_cluster_gpu_number.csv"),
)
SUMMARY_FILE = "supplementary/helios_cluster_summary.csv"

# The first day of the released Helios traces and of both quota series: allocation time 0.
QUOTA_EPOCH = np.datetime64("2020-04-01T00:00:00", "s")

# DIR-LAB's README gives its Helios extract as "Sensetime, 802 Nodes, 6,416 GPUs" (8 a
# node, like HeliosArtifact's datacenter node of 8 × Tesla V100-SXM2). No machine list
# was published, and the GPU model is not given per cluster.
FLEET = (FleetGroup("helios-gpu", gpus_per_node=8, nodes=802),)

_DATE = re.compile(r"\d{4}-\d\d-\d\d")

NOTES = [
    "jobs: the latest 15,000 Helios jobs as DIR-LAB Gen-Parallel-Workloads cut them; which "
    "Helios cluster(s) they come from is not stated",
    "no absolute times: submit = running sum of interval from the first job (t=0); where "
    "its days fall within Apr–Sep 2020 is unknown",
    "no start times: the original queueing delay is not in the extract (the authors' "
    "per-cluster averages for the full traces are in helios.published_summary())",
    "no VC column: jobs carry no queue, so the VC quota series cannot be matched to jobs",
    "allocations: daily GPU quotas keyed venus/<vc> and earth/<vc>, at seconds after "
    "2020-04-01 00:00, not on the jobs' time axis; only days where a quota changes are kept",
    "new_status as DIR-LAB wrote it (Pass/Failed/Killed); its mapping from the Slurm states "
    "(COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL) is not documented",
    "node_num (nodes a job used) is not carried: the workload has no nodes column",
    "fleet: 802 nodes × 8 GPUs = 6,416 GPUs as DIR-LAB states for the extract (no machine "
    "list published; the authors' summary gives 6,220 GPUs for the 4 released clusters)",
    "GPU model not given per cluster: fleet gpu_type helios-gpu (HeliosArtifact describes "
    "its datacenter node as 8 × Tesla V100-SXM2); CPUs and memory per node unknown",
    "not read: supplementary/venus_vc_config_lucid.csv, venus_cluster_throughput_lucid.csv "
    "(S-Lab License 1.0, non-commercial; a simulation input and a reference series)",
]


@register(
    "helios-2020",
    "SenseTime Helios 2020: 15,000-job extract (10,796 GPU jobs), Venus/Earth daily VC quotas",
)
def load(folder: Path, policy: RowPolicy) -> Workload:
    path = folder / JOBS_FILE
    jobs = read_dirlab(path, file_policy(policy, path))
    allocations: Allocations = {}
    quota_notes = []
    for cluster, name in QUOTA_FILES:
        if not (folder / name).is_file():
            quota_notes.append(f"no {cluster} quotas: {name} not found")
            continue
        series, note = read_quotas(folder / name, policy, cluster)
        allocations.update(series)
        quota_notes.append(note)
    cpu_only = int((jobs.gpus == 0).sum())
    return Workload.build(
        "helios-2020",
        jobs.submit_s,
        jobs.duration_s,
        jobs.gpus,
        fleet=FLEET,
        notes=[
            *NOTES,
            f"{cpu_only:,} CPU-only jobs kept with gpus=0",
            *quota_notes,
            *policy.notes(),
        ],
        source=str(path),
        allocations=allocations,
        cpus=jobs.cpus,
        user=jobs.user,
        status=jobs.status,
        job_id=jobs.job_id,
        source_line=jobs.source_line,
    )


def read_quotas(path: Path, policy: RowPolicy, cluster: str) -> tuple[Allocations, str]:
    """A ``cluster_gpu_number.csv``: one row a day, one column a VC (GPUs assigned that
    day) and ``total`` (checked to be their sum). Returns each VC's change points, keyed
    ``<cluster>/<vc>``, and a note saying what the series holds."""
    t = read_csv(path, file_policy(policy, path), ("date", "total"))
    vcs = [c for c in t.index if c not in ("date", "total")]
    days = t.times("date", "a date like 2020-04-01", _DATE)
    for i in np.flatnonzero(days[1:] <= days[:-1]).tolist():
        day = days[i + 1].astype("datetime64[D]")
        t.flag(i + 1, "date", f"not after the day before: {day}", "one row a day, in order")
    quotas = {vc: t.numbers(vc, "a whole number of GPUs ≥ 0", whole=True) for vc in vcs}
    total = t.numbers("total", "the sum of the VC columns", whole=True)
    summed = np.sum(list(quotas.values()), axis=0) if vcs else np.zeros(len(t))
    for i in np.flatnonzero(summed != total).tolist():
        t.flag(i, "total", f"not the sum of the VCs: {total[i]:g} ≠ {summed[i]:g}", "their sum")
    keep = t.good_rows()
    days, total = days[keep], total[keep]
    t_s = (days - QUOTA_EPOCH).astype(np.float64)
    series = {f"{cluster}/{vc}": _changes(t_s, q[keep]) for vc, q in quotas.items()}
    if not len(days):
        return series, f"{cluster} quotas: no days in {path.name}"
    first, last = days[[0, -1]].astype("datetime64[D]").tolist()
    note = (
        f"{cluster} quotas: {len(vcs)} VCs, {len(days)} days {first} → {last}, "
        f"total {total[0]:,.0f} → {total[-1]:,.0f} GPUs (at most {total.max():,.0f})"
    )
    return series, note


def _changes(t_s: F64, gpus: F64) -> tuple[tuple[float, float], ...]:
    """(time, GPUs) where the value changes, starting with the first day."""
    if not len(gpus):
        return ()
    changed = np.r_[True, gpus[1:] != gpus[:-1]]
    return tuple(zip(t_s[changed].tolist(), gpus[changed].tolist(), strict=True))


def published_summary(folder: Path, policy: RowPolicy | None = None) -> dict[str, dict[str, float]]:
    """The Helios authors' figures for the full traces, per cluster (``Venus``, ``Earth``,
    ``Saturn``, ``Uranus``, ``total``), under the file's own column names: ``gpu_num``
    (GPUs), ``job_num``/``cpu_job_num``/``gpu_job_num`` (jobs), ``avg_``/``med_`` +
    ``run_time``/``que_time`` + ``_cpu``/``_gpu`` (seconds), ``avg_gpu_num`` and
    ``med_gpu_num`` (GPUs per GPU job), ``*_rate*`` (fractions of jobs) and
    ``*_gpu_time`` (GPU-seconds)."""
    path = folder / SUMMARY_FILE
    p = file_policy(policy, path) if policy else RowPolicy(str(path))
    t = read_csv(path, p, ("id", "gpu_num", "gpu_job_num", "avg_que_time_gpu", "avg_gpu_num"))
    names = t.texts("id", "a cluster name")
    columns = [c for c in t.index if c != "id"]
    values = {c: t.numbers(c, "a number ≥ 0") for c in columns}
    keep = t.good_rows().tolist()
    return {
        name: {c: float(values[c][i]) for c in columns} for i, name in enumerate(names) if keep[i]
    }

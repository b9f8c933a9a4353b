"""``pollux-sia-workloads``: the benchmark workloads of Pollux (Qiao et al., OSDI '21) and
Sia (Jayaram Subramanya et al., SOSP '23): arrival times sampled from Philly or
Helios-Saturn, with each job's model, GPU count and batch size assigned by the authors'
generators (semi-synthetic).

The registered name loads ``pollux/workloads/workload-6.csv``, the file the Pollux
simulator README publishes average JCTs for. Every other workload file of the documented
layout (:data:`FILES`) is registered as ``pollux-sia-workloads:<path under the folder>``
(``pollux-sia-workloads:sia/saturn/workload-1.csv``); :func:`load_variant` loads any
workload CSV under the folder by that path, and :func:`workload_files` lists those present.
Per row::

    submit_s = time (s from the workload's start),  gpus = num_replicas,
    queue    = application (cifar10, ncf, deepspeech2, bert, yolov3, imagenet)

The files give no durations: a job runs until its model is trained, which takes as long as
each paper's goodput model of that application says (profiles not copied).
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from gpufleet.errors import InputError
from gpufleet.inputs.traces.loaders._tables import Row, read_table
from gpufleet.inputs.traces.registry import Loader, register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import Workload

NAME = "pollux-sia-workloads"
DEFAULT = "pollux/workloads/workload-6.csv"
COLUMNS = ("name", "time", "application", "num_replicas", "batch_size")
APPLICATIONS = frozenset({"cifar10", "ncf", "deepspeech2", "bert", "yolov3", "imagenet"})
WORKLOAD_FOLDERS = ("pollux", "sia")  # pollux/results-jobload holds results, not workloads
# SOURCE.md's layout: folder -> number of workload-N.csv files (N from 1)
LAYOUT = {
    **{f"pollux/workloads{s}": 8 for s in ("", "-0.5", "-1.5", "-2.0", "-realistic")},
    "sia/philly": 8,
    "sia/saturn": 10,
    "sia/newtrace": 10,
    **{f"sia/scale/rate_{n}": 10 for n in (10, 20, 30, 40, 50)},
    **{f"sia/scale/scale_{k}x": 10 for k in (2, 4, 8, 16, 32)},
}
FILES = tuple(f"{d}/workload-{i}.csv" for d, n in LAYOUT.items() for i in range(1, n + 1))


class _Job(NamedTuple):
    submit_s: float
    gpus: float
    application: str
    name: str  # the job's name (cifar10-0), its id in the workload
    line: int


@register(
    NAME,
    "Pollux / Sia benchmark workloads (semi-synthetic, from Philly and Helios-Saturn); "
    "default Pollux workload-6, 160 jobs",
)
def load(folder: Path, policy: RowPolicy) -> Workload:
    return load_variant(folder, policy, DEFAULT)


def _description(relative: str) -> str:
    folder = relative.rsplit("/", 1)[0]
    last = folder.rsplit("/", 1)[-1]
    if folder.startswith("pollux/workloads-realistic"):
        return "Pollux workload with realistic GPU counts (Optimus, Tiresias; Table 2)"
    if folder.startswith("pollux/workloads-"):
        return f"Pollux workload at {last.split('-')[1]}x relative job load (Fig. 8a)"
    if folder.startswith("pollux/"):
        return "Pollux workload, manually tuned GPU counts"
    if last.startswith("rate_"):
        return f"Sia: Helios-Saturn sample at {last[5:]} jobs per hour"
    if last.startswith("scale_"):
        k = last[6:-1]
        return f"Sia: Helios-Saturn jobs each issued {k} times, for a cluster {k} times larger"
    return {
        "philly": "Sia workload from Philly arrivals",
        "saturn": "Sia workload from Helios-Saturn arrivals",
        "newtrace": "Sia 48-hour workload (provenance undocumented)",
    }[last]


def _file_loader(relative: str) -> Loader:
    def load(folder: Path, policy: RowPolicy) -> Workload:
        return load_variant(folder, policy, relative)

    return load


for _file in FILES:
    register(f"{NAME}:{_file}", _description(_file))(_file_loader(_file))


def workload_files(folder: Path) -> list[str]:
    """Every workload CSV under the folder, as paths relative to it (posix, sorted)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for sub in WORKLOAD_FOLDERS
        for p in (folder / sub).rglob("*.csv")
    )


def load_variant(folder: Path, policy: RowPolicy, relative: str) -> Workload:
    """The workload file at ``relative`` under ``folder`` (``sia/saturn/workload-1.csv``)."""
    path = _resolve(folder, relative)
    jobs = read_table(path, policy, COLUMNS, _job)
    name = NAME if relative == DEFAULT else f"{NAME}:{relative}"
    return Workload.build(
        name,
        [j.submit_s for j in jobs],
        [math.nan] * len(jobs),
        [j.gpus for j in jobs],
        queue=[j.application for j in jobs],
        job_id=[j.name for j in jobs],
        source_line=[j.line for j in jobs],
        notes=[
            "semi-synthetic: arrival times sampled from Philly or Helios-Saturn; model, "
            "GPU count and batch size assigned by the authors' generator",
            "no durations in the file: a job trains its model to completion, which takes as "
            "long as the paper's goodput model of the application says (profiles not copied)",
            "submit_s = time, seconds from the workload's start (no date); "
            "gpus = num_replicas, the initial GPU count (Pollux: ignored by its scheduler)",
            "queue = application (the model trained); job_id = name; batch_size not carried",
            *policy.notes(),
        ],
        source=str(path),
    )


def _resolve(folder: Path, relative: str) -> Path:
    """The file, which must be a workload CSV inside the folder."""
    rel = PurePosixPath(relative)
    inside = not rel.is_absolute() and ".." not in rel.parts and len(rel.parts) > 1
    if not inside or rel.parts[0] not in WORKLOAD_FOLDERS or rel.suffix != ".csv":
        raise InputError(
            f"{NAME}: {relative!r} is not a workload file; expected a path under {folder} "
            "like pollux/workloads/workload-6.csv, sia/saturn/workload-1.csv or "
            "sia/scale/rate_10/workload-1.csv"
        )
    path = folder / rel
    if not path.is_file():
        folders = sorted({str(PurePosixPath(f).parent) for f in workload_files(folder)})
        raise InputError(
            f"{NAME}: no workload file {relative!r} under {folder}; the folders with "
            f"workload-N.csv files are {', '.join(folders)}"
        )
    return path


def _job(row: Row) -> _Job:
    submit_s = row.number("time")
    gpus = row.number("num_replicas", integer=True, strict=True)
    application = row.choice("application", APPLICATIONS, "application")
    if not row.text("name"):
        row.fail("name", "empty", "a job name like cifar10-0")
    row.number("batch_size", integer=True, strict=True)  # checked, not carried
    return _Job(submit_s, gpus, application, row.text("name"), row.line)

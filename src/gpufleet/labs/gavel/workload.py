"""Reading Gavel's continuous-single workload (``jobs.csv``, ``throughputs.csv``) into
numpy arrays. DataFrames are not used: the csv module and numpy are enough and keep the
package's dependencies as they are."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gpufleet.errors import InputError, Problem

WORKLOAD_DIR = "gavel-continuous-108"
#: GPU types in the order of ``throughputs.csv``'s columns, and Gavel's 36:36:36 cluster.
GPU_TYPES = ("v100", "p100", "k80")
GAVEL_CLUSTER_GPUS = (36, 36, 36)
#: Gavel's measured window, job ids 4,000-4,999 inclusive.
WINDOW = (4000, 5000)


@dataclass(frozen=True)
class HeteroWorkload:
    """Jobs in arrival order; ``job_class[i]`` indexes ``class_thr_steps_per_s`` rows."""

    arrival_s: npt.NDArray[np.float64]
    total_steps: npt.NDArray[np.float64]
    job_class: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    class_thr_steps_per_s: npt.NDArray[np.float64]  # classes x GPU types

    @property
    def n_jobs(self) -> int:
        return int(self.arrival_s.size)

    def prefix(self, n_jobs: int) -> HeteroWorkload:
        """The first ``n_jobs`` jobs (Gavel's runs stop generating jobs at a prefix)."""
        return HeteroWorkload(
            self.arrival_s[:n_jobs],
            self.total_steps[:n_jobs],
            self.job_class[:n_jobs],
            self.class_names,
            self.class_thr_steps_per_s,
        )


def peer_workload_dir() -> Path:
    """``$GPUFLEET_PEER_WORKLOADS/gavel-continuous-108``, default ``../shared/peer-workloads``."""
    root = os.environ.get("GPUFLEET_PEER_WORKLOADS", "../shared/peer-workloads")
    return Path(root) / WORKLOAD_DIR


def load_workload(folder: Path) -> HeteroWorkload:
    """Read ``jobs.csv`` and the single-GPU rows of ``throughputs.csv`` from ``folder``."""
    thr_by_type = _read_throughputs(folder / "throughputs.csv")
    names = tuple(sorted(thr_by_type))
    index = {n: i for i, n in enumerate(names)}
    arrival, steps, cls = [], [], []
    path = folder / "jobs.csv"
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row["job_type"] not in index:
                raise _bad(path, line, "job_type", row["job_type"], "a type in throughputs.csv")
            if row["scale_factor_gpus"] != "1":
                raise _bad(path, line, "scale_factor_gpus", row["scale_factor_gpus"], "1")
            arrival.append(float(row["arrival_time_s"]))
            steps.append(float(row["total_steps"]))
            cls.append(index[row["job_type"]])
    return HeteroWorkload(
        np.array(arrival),
        np.array(steps),
        np.array(cls, dtype=np.int64),
        names,
        np.array([thr_by_type[n] for n in names]),
    )


def read_gavel_results(folder: Path) -> dict[str, npt.NDArray[np.float64]]:
    """Gavel's window JCTs from ``results.csv``: keys ``job_id``, ``max-min``, ``fifo``."""
    ids, mm, ff = [], [], []
    with (folder / "results.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            ids.append(float(row["job_id"]))
            mm.append(float(row["jct_max_min_fairness_perf_s"]))
            ff.append(float(row["jct_fifo_s"]))
    return {"job_id": np.array(ids), "max-min": np.array(mm), "fifo": np.array(ff)}


def _read_throughputs(path: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["scale_factor_gpus"] == "1":
                out[row["job_type"]] = [float(row[f"{g}_steps_per_s"]) for g in GPU_TYPES]
    return out


def _bad(path: Path, line: int, field: str, value: str, expected: str) -> InputError:
    problem = Problem(field, f"unexpected value {value!r}", expected, str(path), line)
    return InputError(problem.render(), [problem])

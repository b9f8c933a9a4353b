"""Microsoft Philly (2017): two job lists, the official machine list and VC sizes.

Registered sources (the folder's ``SOURCE.md`` gives schemas, provenance and figures):

* ``philly-2017``: ``philly_jobs_pollux.csv``, 82,247 jobs as the Pollux authors extracted
  them (timestamp, duration, num_gpus, gpu_time, cluster = VC), with the machine list as the
  fleet and the VC sizes HeliosArtifact simulates Philly with as per-VC allocations.
* ``philly-2017-dirlab15k``: ``philly_jobs_dirlab15k.csv``, the latest 15,000 jobs as
  DIR-LAB cut them (user, GPUs, nodes, interval since the previous submission, run time,
  status) with the same fleet. It lives in the ``philly-2017`` folder.

Both job lists are third-party extractions of the official release, which is a Git LFS
object that could not be obtained; what they lack is listed in the workload's notes.

This module also holds the small CSV helpers the Helios loader shares, because both read
the DIR-LAB extract format (``read_dirlab``).
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.inputs.traces.registry import register
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import F64, FleetGroup, Workload

POLLUX_FILE = "philly_jobs_pollux.csv"
DIRLAB_FILE = "philly_jobs_dirlab15k.csv"
MACHINE_LIST = "supplementary/cluster_machine_list.csv"
VC_NODES = "supplementary/philly_vc_nodes.csv"

# HeliosArtifact's simulator (framework/QSSF Service/simulator.py, --num_gpus_per_node,
# default 8) builds every VC of philly_vc.csv from nodes of this many GPUs.
HELIOS_SIM_GPUS_PER_NODE = 8

Allocations = dict[str, tuple[tuple[float, float], ...]]
DT64 = np.ndarray[Any, np.dtype[np.datetime64]]
BOOL = np.ndarray[Any, np.dtype[np.bool_]]

_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_GPU_MEMORY = re.compile(r"\d+GB")


# --- CSV tables, shared with the Helios loader ---------------------------------------------


def file_policy(policy: RowPolicy, path: Path) -> RowPolicy:
    """``policy`` reporting against ``path`` (see RowPolicy.for_file)."""
    return policy.for_file(path)


class Table:
    """The records of one CSV file, read column by column with NumPy for speed.

    Each reader (:meth:`numbers`, :meth:`texts`, :meth:`times`) checks a whole column and
    remembers the first problem of each row; :meth:`good_rows` then reports them in line
    order (the policy raises at the first unless skipping, so each bad row counts once)
    and says which rows to keep. A bad value reads as NaN, NaT or "" until then."""

    def __init__(
        self, policy: RowPolicy, header: list[str], lines: list[int], records: list[list[str]]
    ):
        self.policy = policy
        self.index = {name.strip(): i for i, name in enumerate(header)}
        self.lines = lines
        self.records = records
        self._problems: dict[int, tuple[str, str, str]] = {}
        width = len(header)
        even = records
        if set(map(len, records)) - {width}:  # some record is short or long: a bad row
            for i, r in enumerate(records):
                if len(r) != width:
                    self.flag(i, "row", f"wrong field count: {len(r)}", f"{width} as in header")
            even = [r if len(r) == width else [""] * width for r in records]
        self._columns = list(zip(*even, strict=True)) if records else []

    def __len__(self) -> int:
        return len(self.records)

    def flag(self, row: int, column: str, message: str, expected: str) -> None:
        """Remember a problem of ``row`` (an index into the records) unless it has one."""
        self._problems.setdefault(row, (column, message, expected))

    def column(self, column: str) -> list[str]:
        if not self.records:
            return []
        return list(map(str.strip, self._columns[self.index[column]]))

    def texts(self, column: str, expected: str) -> list[str]:
        values = self.column(column)
        for i, v in enumerate(values):
            if not v:
                self.flag(i, column, "empty", expected)
        return values

    def numbers(
        self, column: str, expected: str, *, minimum: float = 0.0, whole: bool = False
    ) -> F64:
        """Finite numbers ≥ ``minimum`` (integral if ``whole``)."""
        texts = self.column(column)
        try:
            values: F64 = np.array(texts, dtype=np.float64)
        except ValueError:
            values = np.array([self._float(i, column, t, expected) for i, t in enumerate(texts)])
        finite = np.isfinite(values)
        for i in np.flatnonzero(~finite).tolist():
            self.flag(i, column, f"not a finite number: {texts[i]}", expected)
        if whole:
            for i in np.flatnonzero(finite & (values != np.floor(values))).tolist():
                self.flag(i, column, f"not a whole number: {texts[i]}", expected)
        for i in np.flatnonzero(finite & (values < minimum)).tolist():
            reason = "negative" if values[i] < 0 else f"below {minimum:g}"
            self.flag(i, column, f"{reason}: {texts[i]}", expected)
        return values

    def _float(self, row: int, column: str, text: str, expected: str) -> float:
        try:
            return float(text)
        except ValueError:
            self.flag(row, column, f"not a number: {text!r}", expected)
            return math.nan

    def times(self, column: str, expected: str, pattern: re.Pattern[str]) -> DT64:
        """Times written as ``pattern`` matches, to the second."""
        texts = self.column(column)
        for i, t in enumerate(texts):
            if pattern.fullmatch(t) is None:
                self.flag(i, column, f"not a time: {t!r}", expected)
                texts[i] = "NaT"
        try:
            times: DT64 = np.array(texts, dtype="datetime64[s]")
        except ValueError:  # matches the pattern, but not a date (2017-02-30)
            times = np.array([self._time(i, column, t, expected) for i, t in enumerate(texts)])
        return times

    def _time(self, row: int, column: str, text: str, expected: str) -> np.datetime64:
        try:
            return np.datetime64(text, "s")
        except ValueError:
            self.flag(row, column, f"not a time: {text!r}", expected)
            return np.datetime64("NaT", "s")

    def good_rows(self) -> BOOL:
        """Report every remembered problem in line order; the rows that had none."""
        keep = np.ones(len(self.records), dtype=bool)
        for i in sorted(self._problems):
            column, message, expected = self._problems[i]
            self.policy.bad(self.lines[i], column, message, expected, ",".join(self.records[i]))
            keep[i] = False
        return keep


def read_csv(path: Path, policy: RowPolicy, required: Sequence[str]) -> Table:
    """A CSV file whose header holds ``required`` (names stripped of spaces); blank lines
    are skipped. An empty file or a missing column is fatal."""
    expected_header = f"a CSV header with {', '.join(required)}"
    records: list[list[str]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        policy.fatal(None, "", f"cannot read: {e}", expected_header)
    lines = list(range(1, len(records) + 1))
    if records and reader.line_num != len(records):  # a quoted field spans lines
        lines = _record_lines(path)
    while records and not records[-1]:  # blank lines at the end
        records.pop()
    if not all(records):  # blank lines within: drop them, keeping line numbers
        lines, records = _unblank(lines, records)
    if not records:
        policy.fatal(1, "", "the file is empty", expected_header)
    table = Table(policy, records[0], lines[1 : len(records)], records[1:])
    for column in required:
        if column not in table.index:
            policy.fatal(lines[0], column, "missing column", expected_header)
    return table


def _unblank(lines: list[int], records: list[list[str]]) -> tuple[list[int], list[list[str]]]:
    kept = [(n, r) for n, r in zip(lines, records, strict=False) if r]
    return [n for n, _ in kept], [r for _, r in kept]


def _record_lines(path: Path) -> list[int]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        return [reader.line_num for _ in reader]


# --- the DIR-LAB extract format (Philly and Helios) -----------------------------------------


@dataclass(frozen=True)
class DirlabJobs:
    """Columns of a DIR-LAB Gen-Parallel-Workloads training trace, bad rows dropped."""

    submit_s: F64
    duration_s: F64
    gpus: F64
    cpus: F64
    nodes: F64
    user: list[str]
    status: list[str]
    job_id: list[str]  # u_id, the row's id in the extract
    source_line: F64


DIRLAB_COLUMNS = (
    "u_id",
    "user",
    "gpu_num",
    "cpu_num",
    "node_num",
    "interval",
    "run_time",
    "new_status",
)


def read_dirlab(path: Path, policy: RowPolicy) -> DirlabJobs:
    """Submit times are the running sum of ``interval`` (the first row's is 0). A row
    skipped for another field still advances the clock by its interval, so one bad row
    does not shift every later arrival; ``wall_time`` (0 in every published row) is not read.
    """
    t = read_csv(path, policy, DIRLAB_COLUMNS)
    interval = t.numbers("interval", "seconds since the previous submission, ≥ 0")
    user = t.texts("user", "a user id")
    gpus = t.numbers("gpu_num", "a whole number of GPUs ≥ 0", whole=True)
    cpus = t.numbers("cpu_num", "a whole number of CPUs ≥ 0", whole=True)
    nodes = t.numbers("node_num", "a whole number of nodes ≥ 1", minimum=1, whole=True)
    run_s = t.numbers("run_time", "a run time in seconds ≥ 0")
    status = t.texts("new_status", "Pass, Failed or Killed")
    job_id = t.texts("u_id", "a job id")
    clock_s = np.cumsum(np.nan_to_num(interval, nan=0.0, posinf=0.0, neginf=0.0))
    keep = t.good_rows()
    return DirlabJobs(
        submit_s=clock_s[keep],
        duration_s=run_s[keep],
        gpus=gpus[keep],
        cpus=cpus[keep],
        nodes=nodes[keep],
        user=_kept(user, keep),
        status=_kept(status, keep),
        job_id=_kept(job_id, keep),
        source_line=np.asarray(t.lines, dtype=np.float64)[keep],
    )


def _kept(values: list[str], keep: BOOL) -> list[str]:
    return [v for v, k in zip(values, keep.tolist(), strict=True) if k]


# --- Philly's machine list and VC sizes ------------------------------------------------------


def read_fleet(folder: Path, policy: RowPolicy) -> tuple[tuple[FleetGroup, ...], list[str]]:
    """FleetGroups from the official ``cluster_machine_list`` (one per GPU count and GPU
    memory), and notes on what the fleet does not say."""
    path = folder / MACHINE_LIST
    if not path.is_file():
        return (), [f"no fleet: {MACHINE_LIST} not found"]
    t = read_csv(path, file_policy(policy, path), ("machineId", "number of GPUs", "single GPU mem"))
    machines = t.texts("machineId", "a machine id")
    gpus = t.numbers("number of GPUs", "a whole number ≥ 1", minimum=1, whole=True)
    memory = t.texts("single GPU mem", "GPU memory like 12GB")
    seen: set[str] = set()
    for i, (machine, mem) in enumerate(zip(machines, memory, strict=True)):
        if mem and not _GPU_MEMORY.fullmatch(mem):
            t.flag(i, "single GPU mem", f"not a memory size: {mem!r}", "GPU memory like 12GB")
        if machine in seen:
            t.flag(i, "machineId", f"listed twice: {machine}", "each machine once")
        seen.add(machine)
    keep = t.good_rows()
    groups = Counter(zip(gpus[keep].astype(int).tolist(), _kept(memory, keep), strict=True))
    fleet = tuple(FleetGroup(f"philly-{mem}", g, n) for (g, mem), n in sorted(groups.items()))
    notes = [
        "GPU model not named by the trace: the machine list gives GPU memory only, so fleet "
        "GPU types are " + ", ".join(sorted({g.gpu_type for g in fleet})) + " "
        "(CPUs and memory per machine unknown)",
        "fleet from the official machine list; philly-traces issue #8 reports it does not "
        "match the job log (Qinghao Hu's revised list, 3,205 GPUs, is not used)",
    ]
    return fleet, notes


def read_vc_sizes(
    folder: Path, policy: RowPolicy, job_vcs: Sequence[str]
) -> tuple[Allocations, list[str]]:
    """Each VC's GPUs, constant from t=0: HeliosArtifact's Philly nodes × 8 GPUs."""
    path = folder / VC_NODES
    if not path.is_file():
        return {}, [f"no VC sizes: {VC_NODES} not found"]
    t = read_csv(path, file_policy(policy, path), ("vc", "node num"))
    vcs = t.texts("vc", "a VC id")
    nodes = t.numbers("node num", "a whole number of nodes ≥ 0", whole=True)
    keep = t.good_rows()
    sizes = {
        vc: n * HELIOS_SIM_GPUS_PER_NODE
        for vc, n in zip(_kept(vcs, keep), nodes[keep].tolist(), strict=True)
    }
    jobs_per_vc = Counter(job_vcs)
    unsized = sorted(vc for vc in jobs_per_vc if vc not in sizes)
    notes = [
        f"VC sizes: {len(sizes)} VCs from {VC_NODES} (nodes per VC that HeliosArtifact "
        f"simulates Philly with, × {HELIOS_SIM_GPUS_PER_NODE} GPUs per node as its "
        f"simulator assumes = {sum(sizes.values()):,.0f} GPUs; it simulates 2017-10-01 → "
        "2017-11-30), constant from t=0: not VC quotas recorded by the trace"
    ]
    if unsized:
        n = sum(jobs_per_vc[vc] for vc in unsized)
        notes.append(f"no size for {len(unsized)} VC(s) with {n} job(s): {', '.join(unsized)}")
    return {vc: ((0.0, gpus),) for vc, gpus in sizes.items()}, notes


# --- philly-2017: the Pollux extract ----------------------------------------------------------


POLLUX_COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")

POLLUX_NOTES = [
    "jobs: the Pollux authors' extraction of the Philly job log (the official README counts "
    "117,325 jobs; how Pollux selected and converted them is not published)",
    "no start times: the original scheduler's queueing delay is not in this extract "
    "(the full trace's average, 3,760.6 s per AcmeTrace, cannot be replayed from it)",
    "no user, job status, retries or placement (machine and GPU ids) in this extract",
    "submit = the file's timestamp column, as Pollux reads it; time zone not stated",
    "gpu_time checked equal to duration × num_gpus and not kept",
    "not read: supplementary/philly_node_sequence.csv, philly_runtime.csv (reference series)",
]


@register(
    "philly-2017",
    "Microsoft Philly 2017: 82,247 jobs in 15 VCs (Pollux extract), 2,490-GPU machine list",
)
def load(folder: Path, policy: RowPolicy) -> Workload:
    path = folder / POLLUX_FILE
    t = read_csv(path, file_policy(policy, path), POLLUX_COLUMNS)
    submitted = t.times("timestamp", "a time like 2017-10-09 07:01:55", _TIMESTAMP)
    run_s = t.numbers("duration", "a run time in seconds ≥ 0")
    gpus = t.numbers("num_gpus", "a whole number of GPUs ≥ 1", minimum=1, whole=True)
    gpu_s = t.numbers("gpu_time", "GPU-seconds = duration × num_gpus")
    vcs = t.texts("cluster", "a VC id")
    for i in np.flatnonzero(~np.isclose(gpu_s, run_s * gpus, rtol=1e-9, atol=1e-6)).tolist():
        want = f"{run_s[i] * gpus[i]:g}"
        t.flag(
            i,
            "gpu_time",
            f"not duration × num_gpus: {gpu_s[i]:g} ≠ {want}",
            "GPU-seconds = duration × num_gpus",
        )
    keep = t.good_rows()
    submitted = submitted[keep]
    vc = _kept(vcs, keep)
    fleet, fleet_notes = read_fleet(folder, policy)
    allocations, vc_notes = read_vc_sizes(folder, policy, vc)
    origin: datetime | None = submitted.min().item() if len(submitted) else None
    submit_s = (submitted - submitted.min()).astype(np.float64) if len(submitted) else np.zeros(0)
    return Workload.build(
        "philly-2017",
        submit_s,
        run_s[keep],
        gpus[keep],
        origin=origin,
        fleet=fleet,
        notes=[*POLLUX_NOTES, *fleet_notes, *vc_notes, *policy.notes()],
        source=str(path),
        allocations=allocations,
        queue=vc,
        source_line=np.asarray(t.lines, dtype=np.float64)[keep],
    ).sorted()


# --- philly-2017-dirlab15k ----------------------------------------------------------------------

DIRLAB_NOTES = [
    "jobs: the latest 15,000 Philly jobs as DIR-LAB Gen-Parallel-Workloads cut them",
    "no absolute times: submit = running sum of interval from the first job (t=0)",
    "no start times: the original scheduler's queueing delay is not in this extract",
    "no VC column: jobs carry no queue, so VC sizes cannot be attached",
    "cpu_num 0 (every published row: Philly records no CPU request) read as unknown cpus",
    "node_num (servers a job ran on) is not carried: the workload has no nodes column",
]


@register(
    "philly-2017-dirlab15k",
    "Microsoft Philly 2017: latest 15,000 jobs with user, status and nodes (DIR-LAB extract)",
    folder="philly-2017",
)
def load_dirlab15k(folder: Path, policy: RowPolicy) -> Workload:
    """Reads from the ``philly-2017`` folder."""
    path = folder / DIRLAB_FILE
    jobs = read_dirlab(path, file_policy(policy, path))
    fleet, fleet_notes = read_fleet(folder, policy)
    return Workload.build(
        "philly-2017-dirlab15k",
        jobs.submit_s,
        jobs.duration_s,
        jobs.gpus,
        fleet=fleet,
        notes=[*DIRLAB_NOTES, *fleet_notes, *policy.notes()],
        source=str(path),
        cpus=np.where(jobs.cpus > 0, jobs.cpus, np.nan),
        user=jobs.user,
        status=jobs.status,
        job_id=jobs.job_id,
        source_line=jobs.source_line,
    )

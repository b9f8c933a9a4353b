"""Helios loader: the figures SOURCE.md states, reproduced exactly from the files, and bad
files reported to the line.

The first half reads the real trace (skipped, saying why, where ../shared/traces is
absent); each assertion cites the line of ``helios-2020/SOURCE.md`` it reproduces. The
second half writes small copies of the files into tmp_path, each with one defect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gpufleet.inputs.traces.info import summarize
from gpufleet.inputs.traces.loaders.helios import load, published_summary
from gpufleet.inputs.traces.registry import known_traces
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import Workload
from tests.support.traces import trace_folder

DAY_S = 86_400.0

# --- the real trace ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def helios() -> Workload:
    folder = trace_folder("helios-2020")
    return load(folder, RowPolicy(str(folder)))


@pytest.fixture(scope="module")
def info(helios: Workload) -> dict[str, Any]:
    return summarize(helios)


def pct(share: float) -> float:
    """A share as SOURCE.md writes it: percent to one decimal."""
    return round(share * 100, 1)


def test_helios_is_registered_by_name() -> None:
    assert "helios-2020" in {t.name for t in known_traces()}


def test_the_extract_holds_15000_jobs_over_20_2_days(
    helios: Workload, info: dict[str, Any]
) -> None:
    assert info["jobs"] == 15_000  # SOURCE.md:38 "row id 0..14999"
    assert len(set(helios.user.tolist())) == 106  # SOURCE.md:39 "106 distinct"
    # SOURCE.md:48 "Span (sum of interval): 20.2 days; no absolute timestamps, no VC column."
    assert round(info["span_days"], 1) == 20.2
    assert helios.origin is None
    assert info["queue_count"] == 1  # every job in queue ""
    assert helios.submit_s[:5].tolist() == [0.0, 94.0, 245.0, 352.0, 380.0]  # SOURCE.md:59-63


def test_cpu_only_jobs_are_kept_with_no_gpus(helios: Workload, info: dict[str, Any]) -> None:
    # SOURCE.md:49 "10,796 GPU jobs + 4,204 CPU-only jobs"
    assert info["gpu_jobs"] == 10_796
    assert int((helios.gpus == 0).sum()) == 4_204
    # SOURCE.md:40-41 "gpu_num 0..160", "cpu_num 1..800"
    assert (info["gpus_per_job_max"], helios.cpus.min(), helios.cpus.max()) == (160, 1, 800)


def test_gang_sizes_match_the_source(info: dict[str, Any]) -> None:
    # SOURCE.md:49-50 "Among GPU jobs: 45.0 % use >1 GPU; GPU jobs with >1 GPU hold 96.7 %
    # of GPU-time."
    assert pct(info["multi_gpu_job_share"]) == 45.0
    assert pct(info["multi_gpu_gpu_time_share"]) == 96.7
    # SOURCE.md:50-52 "1: 5,939 · 2: 544 · 4: 647 · 8: 2,382 · 16: 579 · 24: 112 · 32: 246 ·
    # 40: 59 · 48: 104 · … · 128: 12 · 160: 13 (multiples of 8 above 8)"
    sizes = info["size_distribution"]
    stated = {"1": 5_939, "2": 544, "4": 647, "8": 2_382, "16": 579, "24": 112, "32": 246}
    stated |= {"40": 59, "48": 104, "128": 12, "160": 13}
    assert {k: sizes[k] for k in stated} == stated
    assert all(int(k) % 8 == 0 for k in sizes if int(k) > 8)


def test_statuses_and_run_times_match_the_source(info: dict[str, Any]) -> None:
    # SOURCE.md:53-54 "Pass 9,316 · Killed 3,452 · Failed 2,232. run_time median 102.5 s,
    # mean 10,675 s."
    assert info["statuses"] == {"Pass": 9_316, "Killed": 3_452, "Failed": 2_232}
    assert info["duration_s"]["p50"] == 102.5
    assert round(info["duration_s"]["mean"]) == 10_675


def test_the_fleet_is_the_one_dirlab_states_for_the_extract(info: dict[str, Any]) -> None:
    # SOURCE.md:31 "Sensetime, 802 Nodes, 6,416 GPUs"
    assert info["fleet"] == [{"gpu_type": "helios-gpu", "gpus_per_node": 8, "nodes": 802}]
    assert info["fleet_gpus"] == 6_416


def test_the_quota_series_of_25_vcs_each_start_at_the_published_totals(
    helios: Workload,
) -> None:
    venus = {q: s for q, s in helios.allocations.items() if q.startswith("venus/")}
    earth = {q: s for q, s in helios.allocations.items() if q.startswith("earth/")}
    assert (len(venus), len(earth)) == (25, 25)  # SOURCE.md:73-74 "each of 25 Venus VCs"
    # SOURCE.md:85 "2020-04-01,72,64,64,80,...,968": day 0 is 2020-04-01, time 0
    assert [venus[f"venus/{vc}"][0] for vc in ("vcEwI", "vcWoR", "vcHvQ", "vcvGl")] == [
        (0.0, 72.0),
        (0.0, 64.0),
        (0.0, 64.0),
        (0.0, 80.0),
    ]
    assert sum(s[0][1] for s in venus.values()) == 968  # SOURCE.md:73 "total 968 → 1,264"
    assert sum(s[0][1] for s in earth.values()) == 784  # SOURCE.md:74 "total 784 → 1,232"


def test_the_quota_totals_peak_at_the_published_figures_within_181_days(
    helios: Workload,
) -> None:
    for cluster, peak in (("venus", 1_264), ("earth", 1_232)):  # SOURCE.md:73-74
        series = {q: s for q, s in helios.allocations.items() if q.startswith(cluster)}
        changes = sorted({t for s in series.values() for t, _ in s})
        assert changes[-1] <= 180 * DAY_S  # 181 days: 2020-04-01 → 2020-09-28
        totals = [sum(_at(s, t) for s in series.values()) for t in changes]
        assert max(totals) == peak
    notes = "\n".join(helios.notes)
    assert "venus quotas: 25 VCs, 181 days 2020-04-01 → 2020-09-28" in notes
    assert "no VC column: jobs carry no queue" in notes


def _at(series: tuple[tuple[float, float], ...], t: float) -> float:
    """The value of a step series at time t."""
    return [g for s, g in series if s <= t][-1]


def test_the_published_summary_reads_as_the_source_table() -> None:
    summary = published_summary(trace_folder("helios-2020"))
    # SOURCE.md:101-105: GPUs, jobs, GPU jobs, avg queue (GPU jobs), avg GPUs/job
    table = {
        "Venus": (1_022, 246_708, 125_303, 1_253.3, 6.736),
        "Earth": (997, 872_886, 427_148, 319.5, 2.101),
        "Saturn": (2_080, 1_753_078, 698_896, 611.6, 4.010),
        "Uranus": (2_119, 490_309, 329_117, 1_949.2, 4.038),
        "total": (6_220, 3_362_981, 1_580_464, 862.0, 3.716),
    }
    read = {
        name: (
            row["gpu_num"],
            row["job_num"],
            row["gpu_job_num"],
            round(row["avg_que_time_gpu"], 1),
            row["avg_gpu_num"],
        )
        for name, row in summary.items()
    }
    assert read == table
    # SOURCE.md:101 "completed / cancelled / failed (GPU jobs) 0.526 / 0.272 / 0.202"
    venus = summary["Venus"]
    rates = (venus["complete_rate_gpu"], venus["cancel_rate_gpu"], venus["fail_rate_gpu"])
    assert rates == (0.526, 0.272, 0.202)


# --- small copies with one defect each ------------------------------------------------------

JOBS = (
    "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status\n"
    "0,1,1,1,1,0,84,0,Pass\n"
    "1,1,0,4,1,94,87,0,Pass\n"
    "2,3,8,40,1,151,656,0,Failed\n"
)
VENUS = "date,vcA,vcB,total\n2020-04-01,8,0,8\n2020-04-02,8,16,24\n2020-04-03,8,16,24\n"
EARTH = "date,vcA,vcC,total\n2020-04-01,16,8,24\n2020-04-02,16,8,24\n"
SUMMARY = (
    "id,gpu_num,job_num,gpu_job_num,avg_que_time_gpu,avg_gpu_num\n"
    "Venus,1022,246708,125303,1253.288,6.736\n"
    "total,6220,3362981,1580464,862.047,3.716\n"
)
FILES = {
    "helios_jobs_dirlab15k.csv": JOBS,
    "supplementary/venus_cluster_gpu_number.csv": VENUS,
    "supplementary/earth_cluster_gpu_number.csv": EARTH,
    "supplementary/helios_cluster_summary.csv": SUMMARY,
}
JOBS_HEADER = (
    "a CSV header with u_id, user, gpu_num, cpu_num, node_num, interval, run_time, new_status"
)


def write_folder(root: Path, files: dict[str, str]) -> Path:
    folder = root / "helios-2020"
    (folder / "supplementary").mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_clean_copy_keeps_cpu_jobs_and_the_quota_changes(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, FILES)
    w = load(folder, RowPolicy(str(folder)))
    assert w.submit_s.tolist() == [0.0, 94.0, 245.0]
    assert w.gpus.tolist() == [1.0, 0.0, 8.0]
    assert w.cpus.tolist() == [1.0, 4.0, 40.0]
    assert w.status.tolist() == ["Pass", "Pass", "Failed"]
    # one entry a change: vcB rises on day 1, nothing changes on day 2
    assert w.allocations == {
        "venus/vcA": ((0.0, 8.0),),
        "venus/vcB": ((0.0, 0.0), (DAY_S, 16.0)),
        "earth/vcA": ((0.0, 16.0),),
        "earth/vcC": ((0.0, 8.0),),
    }
    assert "1 CPU-only jobs kept with gpus=0" in w.notes
    assert published_summary(folder)["Venus"]["avg_que_time_gpu"] == 1_253.288


def test_a_folder_without_quota_files_loads_the_jobs_and_says_so(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, {"helios_jobs_dirlab15k.csv": JOBS})
    w = load(folder, RowPolicy(str(folder)))
    assert (len(w), w.allocations) == (3, {})
    assert "no venus quotas: supplementary/venus_cluster_gpu_number.csv not found" in w.notes


@dataclass(frozen=True)
class Defect:
    file: str  # which file of the folder carries it
    old: str  # text of the clean copy ...
    new: str  # ... replaced by this
    at: str  # "line: column: message (expected ...)" as the error renders it after "path:"
    jobs_left: int = 2  # jobs loaded when skipping


ROW_DEFECTS = [
    pytest.param(
        Defect(
            "helios_jobs_dirlab15k.csv",
            "94,87",
            "94,-87",
            "3: run_time: negative: -87 (expected a run time in seconds ≥ 0)",
        ),
        id="a-negative-run-time",
    ),
    pytest.param(
        Defect(
            "helios_jobs_dirlab15k.csv",
            "2,3,8,40",
            "2,3,8 GPUs,40",
            "4: gpu_num: not a number: '8 GPUs' (expected a whole number of GPUs ≥ 0)",
        ),
        id="a-gpu-count-that-is-not-a-number",
    ),
    pytest.param(
        Defect(
            "helios_jobs_dirlab15k.csv",
            "1,1,0,4,1,94",
            "1,1,0,4,0,94",
            "3: node_num: below 1: 0 (expected a whole number of nodes ≥ 1)",
        ),
        id="a-job-on-no-node",
    ),
    pytest.param(
        Defect(
            "helios_jobs_dirlab15k.csv",
            "1,1,0,4,1,94",
            "1,1,0,4,1,-94",
            "3: interval: negative: -94 (expected seconds since the previous submission, ≥ 0)",
        ),
        id="a-negative-interval",
    ),
    pytest.param(
        Defect(
            "supplementary/venus_cluster_gpu_number.csv",
            "2020-04-02,8,16,24",
            "2020-04-02,8,16,32",
            "3: total: not the sum of the VCs: 32 ≠ 24 (expected their sum)",
            jobs_left=3,
        ),
        id="quotas-a-total-that-is-not-the-sum",
    ),
    pytest.param(
        Defect(
            "supplementary/venus_cluster_gpu_number.csv",
            "2020-04-02,8,16,24",
            "2020-04-02,8,sixteen,24",
            "3: vcB: not a number: 'sixteen' (expected a whole number of GPUs ≥ 0)",
            jobs_left=3,
        ),
        id="quotas-a-quota-that-is-not-a-number",
    ),
    pytest.param(
        Defect(
            "supplementary/earth_cluster_gpu_number.csv",
            "2020-04-02,16",
            "2020-03-31,16",
            "3: date: not after the day before: 2020-03-31 (expected one row a day, in order)",
            jobs_left=3,
        ),
        id="quotas-days-out-of-order",
    ),
]


def folder_with(tmp_path: Path, defect: Defect) -> Path:
    text = FILES[defect.file]
    assert text.count(defect.old) == 1, "a defect must replace exactly one place"
    return write_folder(tmp_path, FILES | {defect.file: text.replace(defect.old, defect.new)})


@pytest.mark.parametrize("defect", ROW_DEFECTS)
def test_a_bad_row_stops_the_load_naming_file_line_and_column(
    tmp_path: Path, defect: Defect
) -> None:
    folder = folder_with(tmp_path, defect)
    with pytest.raises(RowError) as e:
        load(folder, RowPolicy(str(folder)))
    assert str(e.value) == f"{folder / defect.file}:{defect.at}"


@pytest.mark.parametrize("defect", ROW_DEFECTS)
def test_skipping_drops_only_the_bad_row_and_counts_it(tmp_path: Path, defect: Defect) -> None:
    folder = folder_with(tmp_path, defect)
    policy = RowPolicy(str(folder), skip=True)
    w = load(folder, policy)
    line, column, message = defect.at.split(": ", 2)
    reason = f"{column}: {message.split(' (expected')[0].split(':')[0]}"  # "run_time: negative"
    assert policy.skipped == {reason: 1}
    assert [r[0] for r in policy.rejects] == [int(line)]
    assert f"skipped 1 row(s): {reason}" in w.notes
    assert len(w) == defect.jobs_left


def test_a_skipped_job_still_advances_the_clock(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path, FILES | {"helios_jobs_dirlab15k.csv": JOBS.replace("87", "-87")}
    )
    w = load(folder, RowPolicy(str(folder), skip=True))
    assert w.submit_s.tolist() == [0.0, 94.0 + 151.0]


def test_a_skipped_quota_day_keeps_the_value_of_the_day_before(tmp_path: Path) -> None:
    venus = VENUS.replace("2020-04-02,8,16,24", "2020-04-02,8,16,32")
    folder = write_folder(tmp_path, FILES | {"supplementary/venus_cluster_gpu_number.csv": venus})
    w = load(folder, RowPolicy(str(folder), skip=True))
    assert w.allocations["venus/vcB"] == ((0.0, 0.0), (2 * DAY_S, 16.0))


FATAL = [
    pytest.param(
        "helios_jobs_dirlab15k.csv",
        JOBS.replace("gpu_num", "gpus", 1),
        f"1: gpu_num: missing column (expected {JOBS_HEADER})",
        id="a-missing-column",
    ),
    pytest.param(
        "helios_jobs_dirlab15k.csv",
        "",
        f"1: the file is empty (expected {JOBS_HEADER})",
        id="an-empty-file",
    ),
    pytest.param(
        "supplementary/venus_cluster_gpu_number.csv",
        VENUS.replace("total", "sum", 1),
        "1: total: missing column (expected a CSV header with date, total)",
        id="quotas-without-a-total-column",
    ),
    pytest.param(
        "supplementary/earth_cluster_gpu_number.csv",
        "",
        "1: the file is empty (expected a CSV header with date, total)",
        id="quotas-an-empty-file",
    ),
]


@pytest.mark.parametrize(("file", "text", "at"), FATAL)
@pytest.mark.parametrize("skip", [False, True], ids=["stopping", "even-when-skipping"])
def test_a_file_without_its_header_cannot_be_read(
    tmp_path: Path, file: str, text: str, at: str, skip: bool
) -> None:
    folder = write_folder(tmp_path, FILES | {file: text})
    with pytest.raises(RowError) as e:
        load(folder, RowPolicy(str(folder), skip=skip))
    assert str(e.value) == f"{folder / file}:{at}"


def test_a_bad_published_figure_names_its_line_and_column(tmp_path: Path) -> None:
    summary = SUMMARY.replace("1253.288", "n/a")
    folder = write_folder(tmp_path, FILES | {"supplementary/helios_cluster_summary.csv": summary})
    with pytest.raises(RowError) as e:
        published_summary(folder)
    path = folder / "supplementary/helios_cluster_summary.csv"
    assert (
        str(e.value) == f"{path}:2: avg_que_time_gpu: not a number: 'n/a' (expected a number ≥ 0)"
    )
    assert len(load(folder, RowPolicy(str(folder)))) == 3  # the workload does not read it

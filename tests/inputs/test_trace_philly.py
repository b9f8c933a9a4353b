"""Philly loaders: the figures SOURCE.md states, reproduced exactly from the files, and
bad files reported to the line.

The first half reads the real trace (skipped, saying why, where ../shared/traces is
absent); each assertion cites the line of ``philly-2017/SOURCE.md`` it reproduces. The
second half writes small copies of the files into tmp_path, each with one defect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpufleet.inputs.traces.info import summarize
from gpufleet.inputs.traces.loaders.philly import load, load_dirlab15k
from gpufleet.inputs.traces.registry import known_traces, load_source
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import FleetGroup, Workload
from tests.support.traces import trace_folder

# --- the real trace ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pollux() -> Workload:
    folder = trace_folder("philly-2017")
    return load(folder, RowPolicy(str(folder)))


@pytest.fixture(scope="module")
def pollux_info(pollux: Workload) -> dict[str, Any]:
    return summarize(pollux)


@pytest.fixture(scope="module")
def dirlab() -> Workload:
    folder = trace_folder("philly-2017")
    return load_dirlab15k(folder, RowPolicy(str(folder)))


@pytest.fixture(scope="module")
def dirlab_info(dirlab: Workload) -> dict[str, Any]:
    return summarize(dirlab)


def pct(share: float) -> float:
    """A share as SOURCE.md writes it: percent to one decimal."""
    return round(share * 100, 1)


def test_both_philly_job_lists_are_registered_by_name() -> None:
    names = {t.name for t in known_traces()}
    assert {"philly-2017", "philly-2017-dirlab15k"} <= names


def test_the_dirlab_variant_loads_by_name_from_the_philly_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPUFLEET_TRACES", str(trace_folder("philly-2017").parent))
    w = load_source("philly-2017-dirlab15k")
    assert (w.name, len(w)) == ("philly-2017-dirlab15k", 15_000)


def test_the_pollux_list_holds_82247_jobs_over_108_days(pollux_info: dict[str, Any]) -> None:
    assert pollux_info["jobs"] == 82_247  # SOURCE.md:33 "82,247 rows"
    # SOURCE.md:44 "2017-09-04 10:30:41 → 2017-12-22 08:02:11 (108 days)"
    assert pollux_info["first_submit"] == "2017-09-04T10:30:41"
    assert pollux_info["last_submit"] == "2017-12-22T08:02:11"
    assert math.floor(pollux_info["span_days"]) == 108


def test_pollux_submit_times_count_from_the_first_job_in_submit_order(pollux: Workload) -> None:
    assert pollux.submit_s[0] == 0.0
    assert (np.diff(pollux.submit_s) >= 0).all()  # SOURCE.md:34: the file is not sorted


def test_pollux_gpu_hours_and_run_times_match_the_source(pollux_info: dict[str, Any]) -> None:
    # SOURCE.md:45-46 "978,078 GPU-hours. duration p50 = 1,144 s, p90 = 11,265 s,
    # p99 = 254,758 s, max = 4,628,226 s"
    assert round(pollux_info["gpu_hours"]) == 978_078
    d = pollux_info["duration_s"]
    assert [round(d["p50"]), round(d["p90"]), round(d["p99"])] == [1_144, 11_265, 254_758]
    assert d["max"] == 4_628_226


def test_pollux_gang_sizes_match_the_source(pollux_info: dict[str, Any]) -> None:
    # SOURCE.md:47 "1: 76,627 · 2: 1,818 · 4: 1,870 · 8: 1,643 · 12: 7 · 16: 199 ·
    # 24: 7 · 32: 67 · 64: 6 · 128: 3"
    assert pollux_info["size_distribution"] == {
        "1": 76_627,
        "2": 1_818,
        "4": 1_870,
        "8": 1_643,
        "12": 7,
        "16": 199,
        "24": 7,
        "32": 67,
        "64": 6,
        "128": 3,
    }
    # SOURCE.md:48 "Multi-GPU jobs = 6.8 % of jobs but 81.9 % of GPU-time"
    assert pct(pollux_info["multi_gpu_job_share"]) == 6.8
    assert pct(pollux_info["multi_gpu_gpu_time_share"]) == 81.9


def test_pollux_jobs_per_vc_match_the_source(pollux_info: dict[str, Any]) -> None:
    # SOURCE.md:49-51 "VCs (15): 6214e9 41,226 · 11cb48 16,091 · ..."
    published = {
        "6214e9": 41_226,
        "11cb48": 16_091,
        "6c71a0": 9_953,
        "b436b2": 7_423,
        "103959": 1_934,
        "ee9e8c": 1_511,
        "0e4a51": 1_435,
        "ed69ec": 1_137,
        "7f04ca": 723,
        "2869ce": 422,
        "e13805": 374,
        "23dbec": 8,
        "51b7ef": 4,
        "925e2b": 3,
        "795a4c": 3,
    }
    assert pollux_info["queue_count"] == 15
    assert {q: v["jobs"] for q, v in pollux_info["queues"].items()} == published


def test_the_fleet_is_the_official_machine_list(pollux_info: dict[str, Any]) -> None:
    # SOURCE.md:111 "321 machines × 2 GPUs (12 GB) + 231 × 8 GPUs (24 GB) = 2,490 GPUs"
    assert pollux_info["fleet"] == [
        {"gpu_type": "philly-12GB", "gpus_per_node": 2, "nodes": 321},
        {"gpu_type": "philly-24GB", "gpus_per_node": 8, "nodes": 231},
    ]
    assert pollux_info["fleet_gpus"] == 2_490


def test_vc_allocations_are_the_helios_simulation_nodes_of_eight_gpus(pollux: Workload) -> None:
    # SOURCE.md:113 "(6214e9 64, 7f04ca 32, 11cb48 16, b436b2 64, ee9e8c 64, e13805 16,
    # 6c71a0 32, 2869ce 16, ed69ec 8, 103959 8, 0e4a51 32)" nodes, constant from t=0
    nodes = {
        "6214e9": 64,
        "7f04ca": 32,
        "11cb48": 16,
        "b436b2": 64,
        "ee9e8c": 64,
        "e13805": 16,
        "6c71a0": 32,
        "2869ce": 16,
        "ed69ec": 8,
        "103959": 8,
        "0e4a51": 32,
    }
    assert pollux.allocations == {vc: ((0.0, n * 8.0),) for vc, n in nodes.items()}


def test_what_the_pollux_list_lacks_is_said_in_the_notes(pollux_info: dict[str, Any]) -> None:
    # SOURCE.md:52 "Not present: user, job status, queueing delay / start time, placement."
    assert pollux_info["recorded_queueing_delay_s"] is None
    assert pollux_info["statuses"] == {"(none)": 82_247}
    notes = "\n".join(pollux_info["notes"])
    for said in (
        "no start times: the original scheduler's queueing delay is not in this extract",
        "no user, job status",
        "GPU model not named by the trace",
        "no size for 4 VC(s) with 18 job(s): 23dbec, 51b7ef, 795a4c, 925e2b",
    ):
        assert said in notes


def test_the_dirlab_list_holds_15000_jobs_over_57_6_days(
    dirlab: Workload, dirlab_info: dict[str, Any]
) -> None:
    assert dirlab_info["jobs"] == 15_000  # SOURCE.md:80 "row id 0..14999"
    assert len(set(dirlab.user.tolist())) == 136  # SOURCE.md:81 "136 distinct"
    # SOURCE.md:90 "Span (sum of interval): 57.6 days ... The first gap is 395,146 s."
    assert round(dirlab_info["span_days"], 1) == 57.6
    assert dirlab.submit_s[:2].tolist() == [0.0, 395_146.0]
    assert dirlab.origin is None


def test_dirlab_statuses_sizes_and_run_times_match_the_source(
    dirlab_info: dict[str, Any],
) -> None:
    # SOURCE.md:91 "Status: Pass 56.9 %, Failed 30.1 %, Killed 13.0 %."
    shares = {s: pct(n / 15_000) for s, n in dirlab_info["statuses"].items()}
    assert shares == {"Pass": 56.9, "Failed": 30.1, "Killed": 13.0}
    # SOURCE.md:91 "Multi-GPU jobs 20.2 % of jobs, 70.2 % of GPU-time."
    assert pct(dirlab_info["multi_gpu_job_share"]) == 20.2
    assert pct(dirlab_info["multi_gpu_gpu_time_share"]) == 70.2
    # SOURCE.md:92 "GPUs: 1: 11,963 · 2: 375 · 4: 905 · 8: 1,477 · 16: 243 · 28: 1 ·
    # 32: 33 · 48: 3"
    assert dirlab_info["size_distribution"] == {
        "1": 11_963,
        "2": 375,
        "4": 905,
        "8": 1_477,
        "16": 243,
        "28": 1,
        "32": 33,
        "48": 3,
    }
    # SOURCE.md:93 "run_time mean 74,954 s, median 289 s"
    assert round(dirlab_info["duration_s"]["mean"]) == 74_954
    assert dirlab_info["duration_s"]["p50"] == 289


def test_dirlab_cpus_are_unknown_and_the_fleet_is_the_machine_list(
    dirlab: Workload, dirlab_info: dict[str, Any]
) -> None:
    assert np.isnan(dirlab.cpus).all()  # SOURCE.md:83 "always 0 ... (no CPU request)"
    assert dirlab_info["fleet_gpus"] == 2_490  # SOURCE.md:73-74 "552 Nodes, 2,490 GPUs"
    assert dirlab_info["queue_count"] == 1  # no VC column: every job in queue ""


# --- small copies with one defect each ------------------------------------------------------

POLLUX = (
    "timestamp,duration,num_gpus,gpu_time,cluster\n"
    "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"
    "2017-10-09 06:13:03,2951.0,2,5902.0,6214e9\n"
    "2017-09-29 07:58:32,860662.0,1,860662.0,6c71a0\n"
)
DIRLAB = (
    "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status\n"
    "0,1,1,0,1,0,1389243,0,Killed\n"
    "1,2,8,0,4,395146,14405,0,Failed\n"
    "2,3,1,0,1,257893,66336,0,Killed\n"
)
MACHINES = "machineId, number of GPUs, single GPU mem\nm0,2, 12GB\nm1,8, 24GB\n"
VCS = "vc,node num\n6214e9,64\n11cb48,16\n"

POLLUX_HEADER = "a CSV header with timestamp, duration, num_gpus, gpu_time, cluster"
DIRLAB_HEADER = (
    "a CSV header with u_id, user, gpu_num, cpu_num, node_num, interval, run_time, new_status"
)


def write_folder(
    root: Path,
    pollux: str = POLLUX,
    dirlab: str = DIRLAB,
    machines: str = MACHINES,
    vcs: str = VCS,
) -> Path:
    folder = root / "philly-2017"
    (folder / "supplementary").mkdir(parents=True)
    (folder / "philly_jobs_pollux.csv").write_text(pollux)
    (folder / "philly_jobs_dirlab15k.csv").write_text(dirlab)
    (folder / "supplementary" / "cluster_machine_list.csv").write_text(machines)
    (folder / "supplementary" / "philly_vc_nodes.csv").write_text(vcs)
    return folder


def test_a_clean_copy_loads_every_row_with_its_fleet_and_vc_sizes(tmp_path: Path) -> None:
    folder = write_folder(tmp_path)
    w = load(folder, RowPolicy(str(folder)))
    assert w.queue.tolist() == ["6c71a0", "6214e9", "11cb48"]  # in submit order
    # 09-29 07:58:32 + 10 d = 10-09 07:58:32; 06:13:03 is 6,329 s before, 07:01:55 3,397 s
    assert w.submit_s.tolist() == [0.0, 864_000.0 - 6_329, 864_000.0 - 3_397]
    assert w.gpus.tolist() == [1.0, 2.0, 1.0]
    assert w.fleet == (FleetGroup("philly-12GB", 2, 1), FleetGroup("philly-24GB", 8, 1))
    assert w.allocations == {"6214e9": ((0.0, 512.0),), "11cb48": ((0.0, 128.0),)}
    d = load_dirlab15k(folder, RowPolicy(str(folder)))
    assert d.submit_s.tolist() == [0.0, 395_146.0, 653_039.0]
    assert d.status.tolist() == ["Killed", "Failed", "Killed"]


def test_a_folder_without_supplementary_files_loads_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "philly-2017"
    folder.mkdir()
    (folder / "philly_jobs_pollux.csv").write_text(POLLUX)
    w = load(folder, RowPolicy(str(folder)))
    assert (len(w), w.fleet, w.allocations) == (3, (), {})
    assert "no fleet: supplementary/cluster_machine_list.csv not found" in w.notes
    assert "no VC sizes: supplementary/philly_vc_nodes.csv not found" in w.notes


@dataclass(frozen=True)
class Defect:
    file: str  # which file of the folder carries it
    old: str  # text of the clean copy ...
    new: str  # ... replaced by this
    at: str  # "line: column: message (expected ...)" as the error renders it after "path:"


ROW_DEFECTS = [
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "2951.0,2,5902.0",
            "-2951.0,2,-5902.0",
            "3: duration: negative: -2951.0 (expected a run time in seconds ≥ 0)",
        ),
        id="a-negative-duration",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            ",2,5902.0",
            ",two,5902.0",
            "3: num_gpus: not a number: 'two' (expected a whole number of GPUs ≥ 1)",
        ),
        id="a-gpu-count-that-is-not-a-number",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            ",2,5902.0",
            ",1.5,4426.5",
            "3: num_gpus: not a whole number: 1.5 (expected a whole number of GPUs ≥ 1)",
        ),
        id="a-fraction-of-a-gpu",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            ",2,5902.0",
            ",0,0.0",
            "3: num_gpus: below 1: 0 (expected a whole number of GPUs ≥ 1)",
        ),
        id="a-job-of-no-gpus",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "2017-10-09 06:13:03",
            "2017-10-09T06:13:03",
            "3: timestamp: not a time: '2017-10-09T06:13:03' "
            "(expected a time like 2017-10-09 07:01:55)",
        ),
        id="a-timestamp-in-another-format",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "2017-10-09 06:13:03",
            "2017-02-30 06:13:03",
            "3: timestamp: not a time: '2017-02-30 06:13:03' "
            "(expected a time like 2017-10-09 07:01:55)",
        ),
        id="a-day-that-does-not-exist",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "5902.0",
            "5903.0",
            "3: gpu_time: not duration × num_gpus: 5903 ≠ 5902 "
            "(expected GPU-seconds = duration × num_gpus)",
        ),
        id="gpu-time-that-is-not-duration-times-gpus",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "5902.0,6214e9",
            "5902.0,",
            "3: cluster: empty (expected a VC id)",
        ),
        id="a-job-without-a-vc",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "5902.0,6214e9",
            "5902.0,6214e9,extra",
            "3: row: wrong field count: 6 (expected 5 as in header)",
        ),
        id="a-row-with-one-field-too-many",
    ),
    pytest.param(
        Defect(
            "philly_jobs_pollux.csv",
            "11cb48\n2017-10-09 06:13:03,2951.0",
            "11cb48\n\n2017-10-09 06:13:03,-2951.0",
            "4: duration: negative: -2951.0 (expected a run time in seconds ≥ 0)",
        ),
        id="a-blank-line-above-still-counts-in-the-line-number",
    ),
    pytest.param(
        Defect(
            "philly_jobs_dirlab15k.csv",
            "395146,14405",
            "395146,-14405",
            "3: run_time: negative: -14405 (expected a run time in seconds ≥ 0)",
        ),
        id="dirlab-a-negative-run-time",
    ),
    pytest.param(
        Defect(
            "philly_jobs_dirlab15k.csv",
            "1,2,8,0,4",
            "1,2,eight,0,4",
            "3: gpu_num: not a number: 'eight' (expected a whole number of GPUs ≥ 0)",
        ),
        id="dirlab-a-gpu-count-that-is-not-a-number",
    ),
    pytest.param(
        Defect(
            "philly_jobs_dirlab15k.csv",
            ",Failed",
            ",",
            "3: new_status: empty (expected Pass, Failed or Killed)",
        ),
        id="dirlab-a-job-without-a-status",
    ),
    pytest.param(
        Defect(
            "supplementary/cluster_machine_list.csv",
            "m1,8,",
            "m1,eight,",
            "3: number of GPUs: not a number: 'eight' (expected a whole number ≥ 1)",
        ),
        id="machine-list-a-gpu-count-that-is-not-a-number",
    ),
    pytest.param(
        Defect(
            "supplementary/cluster_machine_list.csv",
            "m1,8,",
            "m0,8,",
            "3: machineId: listed twice: m0 (expected each machine once)",
        ),
        id="machine-list-a-machine-listed-twice",
    ),
    pytest.param(
        Defect(
            "supplementary/philly_vc_nodes.csv",
            "11cb48,16",
            "11cb48,-16",
            "3: node num: negative: -16 (expected a whole number of nodes ≥ 0)",
        ),
        id="vc-sizes-a-negative-node-count",
    ),
]


def folder_with(tmp_path: Path, defect: Defect) -> Path:
    clean = {
        "philly_jobs_pollux.csv": POLLUX,
        "philly_jobs_dirlab15k.csv": DIRLAB,
        "supplementary/cluster_machine_list.csv": MACHINES,
        "supplementary/philly_vc_nodes.csv": VCS,
    }
    text = clean[defect.file]
    assert text.count(defect.old) == 1, "a defect must replace exactly one place"
    clean[defect.file] = text.replace(defect.old, defect.new)
    return write_folder(
        tmp_path,
        pollux=clean["philly_jobs_pollux.csv"],
        dirlab=clean["philly_jobs_dirlab15k.csv"],
        machines=clean["supplementary/cluster_machine_list.csv"],
        vcs=clean["supplementary/philly_vc_nodes.csv"],
    )


def loader_of(defect: Defect) -> Any:
    return load_dirlab15k if defect.file == "philly_jobs_dirlab15k.csv" else load


@pytest.mark.parametrize("defect", ROW_DEFECTS)
def test_a_bad_row_stops_the_load_naming_file_line_and_column(
    tmp_path: Path, defect: Defect
) -> None:
    folder = folder_with(tmp_path, defect)
    with pytest.raises(RowError) as e:
        loader_of(defect)(folder, RowPolicy(str(folder)))
    assert str(e.value) == f"{folder / defect.file}:{defect.at}"


@pytest.mark.parametrize("defect", ROW_DEFECTS)
def test_skipping_drops_only_the_bad_row_and_counts_it(tmp_path: Path, defect: Defect) -> None:
    folder = folder_with(tmp_path, defect)
    policy = RowPolicy(str(folder), skip=True)
    w = loader_of(defect)(folder, policy)
    line, column, message = defect.at.split(": ", 2)
    reason = f"{column}: {message.split(' (expected')[0].split(':')[0]}"  # "duration: negative"
    assert policy.skipped == {reason: 1}
    assert [r[0] for r in policy.rejects] == [int(line)]
    assert f"skipped 1 row(s): {reason}" in w.notes
    jobs_file = defect.file in ("philly_jobs_pollux.csv", "philly_jobs_dirlab15k.csv")
    assert len(w) == (2 if jobs_file else 3)


def test_a_skipped_dirlab_row_still_advances_the_clock(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, dirlab=DIRLAB.replace(",Failed", ",", 1))
    w = load_dirlab15k(folder, RowPolicy(str(folder), skip=True))
    # the second job's gap (395,146 s) still counts towards the third job's arrival
    assert w.submit_s.tolist() == [0.0, 395_146.0 + 257_893.0]


FATAL = [
    pytest.param(
        "philly_jobs_pollux.csv",
        POLLUX.replace("num_gpus,", "gpus,", 1),
        f"1: num_gpus: missing column (expected {POLLUX_HEADER})",
        id="pollux-a-missing-column",
    ),
    pytest.param(
        "philly_jobs_pollux.csv",
        "",
        f"1: the file is empty (expected {POLLUX_HEADER})",
        id="pollux-an-empty-file",
    ),
    pytest.param(
        "philly_jobs_pollux.csv",
        "\n\n",
        f"1: the file is empty (expected {POLLUX_HEADER})",
        id="pollux-a-file-of-blank-lines",
    ),
    pytest.param(
        "philly_jobs_dirlab15k.csv",
        DIRLAB.replace("run_time", "runtime", 1),
        f"1: run_time: missing column (expected {DIRLAB_HEADER})",
        id="dirlab-a-missing-column",
    ),
    pytest.param(
        "philly_jobs_dirlab15k.csv",
        "",
        f"1: the file is empty (expected {DIRLAB_HEADER})",
        id="dirlab-an-empty-file",
    ),
]


@pytest.mark.parametrize(("file", "text", "at"), FATAL)
@pytest.mark.parametrize("skip", [False, True], ids=["stopping", "even-when-skipping"])
def test_a_file_without_its_header_cannot_be_read(
    tmp_path: Path, file: str, text: str, at: str, skip: bool
) -> None:
    folder = tmp_path / "philly-2017"
    folder.mkdir()
    (folder / file).write_text(text)
    loader = load_dirlab15k if file == "philly_jobs_dirlab15k.csv" else load
    with pytest.raises(RowError) as e:
        loader(folder, RowPolicy(str(folder), skip=skip))
    assert str(e.value) == f"{folder / file}:{at}"


def test_a_missing_job_file_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "philly-2017"
    folder.mkdir()
    with pytest.raises(RowError, match=r"philly_jobs_pollux\.csv: cannot read"):
        load(folder, RowPolicy(str(folder)))

"""The Acme (NSDI '24) and Pollux / Sia workload loaders.

Each fact test reproduces a figure its trace's SOURCE.md states (the line is cited); the
bad-data tests write one-defect files in the same formats and expect the exact
``file:line: column:`` message.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gpufleet.errors import InputError
from gpufleet.inputs.traces.info import summarize
from gpufleet.inputs.traces.loaders import acme, pollux
from gpufleet.inputs.traces.registry import load_source
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import Workload
from tests.support.traces import trace_folder

ACME = "acme-2023"
POLLUX = "pollux-sia-workloads"


def _kalos() -> Workload:
    folder = trace_folder(ACME)
    return acme.load(folder, RowPolicy(str(folder)))


def _workloads(pattern: str) -> list[Workload]:
    folder = trace_folder(POLLUX)
    files = [f for f in pollux.workload_files(folder) if Path(f).match(pattern)]
    return [pollux.load_variant(folder, RowPolicy(str(folder)), f) for f in files]


# --- Acme: the 319 Kalos jobs -----------------------------------------------------------


def test_kalos_subset_is_319_jobs_over_90_days_from_1_to_1024_gpus() -> None:
    s = summarize(_kalos())
    # SOURCE.md:63 "319 jobs over 90.0 days; 183 Pretrain, 136 Other/SFT"
    assert (s["jobs"], round(s["span_days"], 1)) == (319, 90.0)
    assert {q: v["jobs"] for q, v in s["queues"].items()} == {"Pretrain": 183, "Other/SFT": 136}
    # SOURCE.md:63-65, GPUs per job = gpu_workers × gpu_per_worker
    assert s["size_distribution"] == {
        "1": 29,
        "2": 41,
        "8": 19,
        "16": 11,
        "32": 14,
        "64": 22,
        "96": 3,
        "128": 3,
        "256": 52,
        "296": 1,
        "320": 1,
        "496": 4,
        "504": 7,
        "512": 73,
        "1016": 1,
        "1024": 38,
    }
    assert s["statuses"] == {"COMPLETED": 319}  # SOURCE.md:46 state == COMPLETED


def test_kalos_durations_come_back_from_iteration_counts() -> None:
    w = _kalos()
    s = summarize(w)
    # SOURCE.md:65-66 "Duration median 310 s, mean 15,422 s, max 625,740 s (= Kalos
    # `max_run_time_gpu` in the summary table)"
    assert s["duration_s"]["p50"] == 310.0
    assert round(float(w.duration_s.mean())) == 15422
    kalos = acme.published_summary(trace_folder(ACME))["Kalos"]
    assert s["duration_s"]["max"] == kalos.gpu_job_run_max_s == 625740.0
    # SOURCE.md:73-75 sample rows: 208 and 156 iterations of 0.5 s on 8 nodes × 8 GPUs
    assert (w.duration_s[0], w.duration_s[1], w.gpus[0]) == (104.0, 78.0, 64.0)
    assert (w.submit_s[1], w.cpus[0], w.memory_gb[0]) == (313.0, 15.0 * 64, 1000.0 * 8)


def test_published_summary_has_the_five_traces_as_the_acme_authors_computed_them() -> None:
    rows = acme.published_summary(trace_folder(ACME))
    assert list(rows) == ["Seren", "Kalos", "Philly", "Helios", "PAI"]
    table = {
        name: (
            r.jobs,
            r.gpu_jobs,
            round(r.gpu_job_run_mean_s, 1),
            round(r.gpu_job_queue_mean_s, 1),
            r.gpus_per_gpu_job_mean,
            r.gpu_job_run_median_s,
            r.gpu_job_queue_median_s,
            r.gpus_per_job_max,
        )
        for name, r in rows.items()
    }
    # SOURCE.md:29-33
    assert table == {
        "Seren": (1031550, 663813, 1414.3, 446.0, 5.68, 122, 1, 1024),
        "Kalos": (62413, 19907, 1259.7, 214.2, 26.77, 124, 17, 1024),
        "Philly": (112956, 112956, 18006.1, 3760.6, 1.928, 874, 189, 128),
        "Helios": (3362981, 1580464, 6651.7, 862.0, 3.716, 206, 0, 2048),
        "PAI": (1260920, 1037085, 4787.1, 401.7, 0.683, pytest.approx(480.7, abs=0.05), 9, 8),
    }
    shares = {
        n: (r.gpu_jobs_completed_share, r.gpu_jobs_cancelled_share, r.gpu_jobs_failed_share)
        for n, r in rows.items()
        if n != "PAI"
    }
    # SOURCE.md:29-32, completed / cancelled / failed GPU jobs
    assert shares == {
        "Seren": (0.497, 0.075, 0.429),
        "Kalos": (0.541, 0.062, 0.397),
        "Philly": (0.604, 0.090, 0.305),
        "Helios": (0.624, 0.221, 0.155),
    }
    # SOURCE.md:35-36, shares of GPU time
    assert (
        rows["Kalos"].gpu_time_completed_share,
        rows["Kalos"].gpu_time_cancelled_share,
        rows["Kalos"].gpu_time_failed_share,
    ) == (0.313, 0.607, 0.080)
    # SOURCE.md:33 "n/a": PAI has no status figures
    assert math.isnan(rows["PAI"].gpu_jobs_completed_share)


def test_published_summary_fields_follow_the_file_columns_in_order() -> None:
    fields = [f.name for f in dataclasses.fields(acme.PublishedSummary)]
    assert fields == ["trace", *acme.SUMMARY_COLUMNS.values()]


# --- Pollux / Sia workloads -------------------------------------------------------------


def test_default_pollux_workload_is_workload_6_of_160_jobs() -> None:
    folder = trace_folder(POLLUX)
    w = pollux.load(folder, RowPolicy(str(folder)))
    # SOURCE.md:16 the README's reference trace; SOURCE.md:14 "8 files × 160 jobs"
    assert w.source.endswith("pollux/workloads/workload-6.csv")
    assert (w.name, len(w)) == (POLLUX, 160)
    # SOURCE.md:48 "arrival time (0 – 8 h)"; no durations in the files
    assert w.submit_s.min() >= 0 and w.submit_s.max() < 8 * 3600
    assert np.isnan(w.duration_s).all()


def test_realistic_workload_6_shares_arrivals_and_models_but_not_gpu_counts() -> None:
    folder = trace_folder(POLLUX)
    policy = RowPolicy(str(folder))
    tuned = pollux.load_variant(folder, policy, "pollux/workloads/workload-6.csv")
    realistic = pollux.load_variant(folder, policy, "pollux/workloads-realistic/workload-6.csv")
    # SOURCE.md:16 "same `name`,`time`,`application` ... but different `num_replicas`"
    assert (tuned.submit_s == realistic.submit_s).all()
    assert (tuned.queue == realistic.queue).all()
    assert not (tuned.gpus == realistic.gpus).all()
    assert realistic.name == f"{POLLUX}:pollux/workloads-realistic/workload-6.csv"


FOLDER_COUNTS = [
    # SOURCE.md:14-16
    ("pollux/workloads/*.csv", 8, {160}),
    ("pollux/workloads-0.5/*.csv", 8, {80}),
    ("pollux/workloads-1.5/*.csv", 8, {240}),
    ("pollux/workloads-2.0/*.csv", 8, {320}),
    ("pollux/workloads-realistic/*.csv", 8, {160}),
    # SOURCE.md:18
    ("sia/philly/*.csv", 8, {160}),
    ("sia/saturn/*.csv", 10, {160}),
    ("sia/newtrace/*.csv", 10, {960}),
    ("sia/scale/rate_10/*.csv", 10, {80}),
    ("sia/scale/rate_50/*.csv", 10, {400}),
    ("sia/scale/scale_2x/*.csv", 10, {320}),
    ("sia/scale/scale_32x/*.csv", 10, {5120}),
]


@pytest.mark.parametrize(
    ("pattern", "files", "jobs_per_file"),
    FOLDER_COUNTS,
    ids=[pattern.removesuffix("/*.csv") for pattern, _, _ in FOLDER_COUNTS],
)
def test_workload_folder_has_the_published_file_and_job_counts(
    pattern: str, files: int, jobs_per_file: set[int]
) -> None:
    loaded = _workloads(pattern)
    assert (len(loaded), {len(w) for w in loaded}) == (files, jobs_per_file)


def test_all_168_workload_files_load_and_respect_the_published_ranges() -> None:
    folder = trace_folder(POLLUX)
    files = pollux.workload_files(folder)
    # SOURCE.md:14-18: 8 × 5 Pollux + 8 + 10 + 10 + 10 × 10 Sia files. (README.md's table
    # says "128 workload files"; the folder holds 168.)
    assert len(files) == 168
    assert files == sorted(pollux.FILES)  # each registered as pollux-sia-workloads:<file>
    policy = RowPolicy(str(folder))
    for f in files:
        w = pollux.load_variant(folder, policy, f)
        hours = 48 if f.startswith("sia/newtrace/") else 8
        # SOURCE.md:48 "0 – 8 h; 0 – 48 h for `newtrace`"
        assert w.submit_s.min() >= 0 and w.submit_s.max() < hours * 3600, f
        # SOURCE.md:50 num_replicas "Pollux: 1–48; Sia: 2–16"
        low, high = (1, 48) if f.startswith("pollux/") else (2, 16)
        assert low <= w.gpus.min() and w.gpus.max() <= high, f


def test_a_workload_file_loads_by_its_registered_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUFLEET_TRACES", str(trace_folder(POLLUX).parent))
    w = load_source(f"{POLLUX}:sia/newtrace/workload-3.csv")
    # SOURCE.md:18 newtrace: 10 × 960 jobs; SOURCE.md:48 "0 – 48 h for `newtrace`"
    assert (w.name, len(w)) == (f"{POLLUX}:sia/newtrace/workload-3.csv", 960)
    assert 8 * 3600 < w.submit_s.max() < 48 * 3600
    assert len(load_source(POLLUX)) == 160
    assert summarize(load_source(ACME))["jobs"] == 319


@pytest.mark.parametrize(
    ("pattern", "mix"),
    [
        # SOURCE.md:53-54
        (
            "pollux/workloads/*.csv",
            {
                "ncf": 503,
                "cifar10": 495,
                "deepspeech2": 111,
                "bert": 86,
                "yolov3": 59,
                "imagenet": 26,
            },
        ),
        # SOURCE.md:54-55
        (
            "sia/saturn/*.csv",
            {"cifar10": 1314, "deepspeech2": 100, "yolov3": 70, "bert": 70, "imagenet": 46},
        ),
        # SOURCE.md:55-56
        (
            "sia/newtrace/*.csv",
            {"cifar10": 5047, "deepspeech2": 2114, "bert": 2017, "yolov3": 346, "imagenet": 76},
        ),
    ],
    ids=["pollux-1280-jobs", "sia-saturn-1600-jobs", "sia-newtrace-9600-jobs"],
)
def test_application_mix_is_the_published_one(pattern: str, mix: dict[str, int]) -> None:
    counts: Counter[str] = Counter()
    for w in _workloads(pattern):
        counts.update(w.queue.tolist())
    assert counts == mix


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("../acme-2023/cluster_summary.csv", "is not a workload file"),
        ("pollux/results-jobload/pollux-1.0/summary.json", "is not a workload file"),
        ("sia/saturn/workload-11.csv", "no workload file 'sia/saturn/workload-11.csv'"),
    ],
    ids=["outside-the-folder", "a-results-file", "a-workload-that-does-not-exist"],
)
def test_only_workload_files_under_the_folder_load_by_path(
    tmp_path: Path, relative: str, message: str
) -> None:
    folder = _pollux_folder(tmp_path, "saturn", HEADER + GOOD)
    with pytest.raises(InputError, match=message):
        pollux.load_variant(folder, RowPolicy(str(folder)), relative)


# --- bad data: one defect per file, the exact located message ---------------------------

KALOS_HEADER = (
    "job_id,arrival_time,num_iteration,iteration_computing_time,iteration_networking_time,"
    "gpu_workers,ps,gpu_per_worker,cpu_per_gpu_worker,cpu_per_ps_worker,tensorsizes,"
    "profiled_network"
)
KALOS_JOB = "0,0.0,208,0.5,0.25,8,0,8.0,15.0,15.0,10.0,500"


def _kalos_error(tmp_path: Path, text: str, *, skip: bool = False) -> str:
    folder = tmp_path / ACME
    folder.mkdir()
    (folder / "kalos_completed_subset_converted.csv").write_text(text)
    with pytest.raises(RowError) as e:
        acme.load(folder, RowPolicy(str(folder), skip=skip))
    return str(e.value).replace(str(folder / "kalos_completed_subset_converted.csv"), "F")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "1,313.0,-156,0.5,0.25,8,0,8.0,15.0,15.0,10.0,500",
            "num_iteration: out of range: -156 (expected an integer of 0 or more)",
        ),
        (
            "1,313.0,156,0.5,0.25,eight,0,8.0,15.0,15.0,10.0,500",
            "gpu_workers: not an integer: 'eight' (expected an integer greater than 0)",
        ),
        (
            "1,313.0,156,0.5,0.5,8,0,8.0,15.0,15.0,10.0,500",
            "iteration_networking_time: not a job-type flag: 0.5 "
            "(expected 0.75 (Pretrain) or 0.25 (Other/SFT))",
        ),
        (
            "1,,156,0.5,0.25,8,0,8.0,15.0,15.0,10.0,500",
            "arrival_time: empty (expected a number of 0 or more)",
        ),
    ],
    ids=["a-negative-duration", "gpu-workers-in-words", "an-unknown-job-type", "no-arrival"],
)
def test_kalos_bad_row_is_located(tmp_path: Path, row: str, message: str) -> None:
    assert _kalos_error(tmp_path, f"{KALOS_HEADER}\n{KALOS_JOB}\n{row}\n") == f"F:3: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"F:1: header: empty file (expected a header line {KALOS_HEADER})"),
        (
            KALOS_HEADER.replace(",gpu_per_worker", "") + "\n" + KALOS_JOB + "\n",
            "F:1: header: missing column(s): gpu_per_worker; the header is "
            f"{KALOS_HEADER.replace(',gpu_per_worker', '')!r} "
            f"(expected a header line {KALOS_HEADER})",
        ),
    ],
    ids=["an-empty-file", "no-gpus-per-worker-column"],
)
def test_kalos_unusable_file_is_fatal_even_when_skipping(
    tmp_path: Path, text: str, message: str
) -> None:
    assert _kalos_error(tmp_path, text, skip=True) == message


def test_kalos_skip_mode_drops_and_counts_each_bad_job(tmp_path: Path) -> None:
    folder = tmp_path / ACME
    folder.mkdir()
    rows = [
        KALOS_HEADER,
        KALOS_JOB,
        "1,313.0,-156,0.5,0.25,8,0,8.0,15.0,15.0,10.0,500",
        "2,400.0,-10,0.5,0.75,8,0,8.0,15.0,15.0,10.0,1000",
        "3,500.0,100,0.5,0.75,1,0,2.0,15.0,15.0,10.0,1000",
    ]
    (folder / "kalos_completed_subset_converted.csv").write_text("\n".join(rows) + "\n")
    policy = RowPolicy(str(folder), skip=True)
    w = acme.load(folder, policy)
    assert (len(w), w.gpus.tolist(), w.queue.tolist()) == (
        2,
        [64.0, 2.0],
        ["Other/SFT", "Pretrain"],
    )
    assert policy.skipped == {"num_iteration: out of range": 2}
    assert "skipped 2 row(s): num_iteration: out of range" in w.notes


HEADER = "name,time,application,num_replicas,batch_size\n"
GOOD = "cifar10-0,401.0,cifar10,12,4096\n"


def _pollux_folder(tmp_path: Path, sub: str, text: str) -> Path:
    folder = tmp_path / POLLUX
    (folder / "sia" / sub).mkdir(parents=True)
    (folder / "sia" / sub / "workload-1.csv").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("bert-1,-5,bert,4,12", "time: out of range: -5 (expected a number of 0 or more)"),
        (
            "gpt-1,5,gpt2,4,12",
            "application: unknown application: 'gpt2' "
            "(expected one of bert, cifar10, deepspeech2, imagenet, ncf, yolov3)",
        ),
        (
            "bert-1,5,bert,four,12",
            "num_replicas: not an integer: 'four' (expected an integer greater than 0)",
        ),
        (
            "bert-1,5,bert,0,12",
            "num_replicas: out of range: 0 (expected an integer greater than 0)",
        ),
    ],
    ids=["an-arrival-before-the-start", "an-unknown-model", "gpus-in-words", "no-gpus"],
)
def test_pollux_bad_row_is_located(tmp_path: Path, row: str, message: str) -> None:
    folder = _pollux_folder(tmp_path, "saturn", HEADER + GOOD + row + "\n")
    with pytest.raises(RowError) as e:
        pollux.load_variant(folder, RowPolicy(str(folder)), "sia/saturn/workload-1.csv")
    assert str(e.value) == f"{folder / 'sia/saturn/workload-1.csv'}:3: {message}"


def test_pollux_skip_mode_counts_each_reason(tmp_path: Path) -> None:
    text = HEADER + GOOD + "a,5,gpt2,4,12\nb,6,gpt3,4,12\nc,7,bert,x,12\n" + GOOD
    folder = _pollux_folder(tmp_path, "saturn", text)
    policy = RowPolicy(str(folder), skip=True)
    w = pollux.load_variant(folder, policy, "sia/saturn/workload-1.csv")
    assert len(w) == 2
    assert policy.skipped == {
        "application: unknown application": 2,
        "num_replicas: not an integer": 1,
    }

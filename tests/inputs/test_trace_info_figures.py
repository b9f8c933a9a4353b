"""``trace info``'s figures (issue 14, item 8): unknown durations stay unknown, GPU-hours are
rounded once, hours of the day only for traces with wall-clock times, and ``--map``'s help
names every field."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.inputs.traces.info import summarize
from gpufleet.inputs.traces.workload import Workload, write_parquet


def info_text(w: Workload, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    src = tmp_path / "w.parquet"
    write_parquet(w, src)
    assert main(["trace", "info", str(src)]) == 0
    return capsys.readouterr().out


def test_jobs_without_a_known_duration_are_unknown_not_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = Workload.build("pending", [0.0, 60.0], [float("nan")] * 2, [8, 4])
    s = summarize(pending)
    assert s["duration_s"] == {
        "mean": None,
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
        "unknown_jobs": 2,
    }
    assert "duration s: unknown for all 2 jobs" in info_text(pending, tmp_path, capsys)


def test_known_durations_are_summarized_and_the_unknown_ones_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = Workload.build("mixed", [0.0, 1.0, 2.0], [100.0, 300.0, float("nan")], [1, 1, 1])
    s = summarize(w)
    # known: 100 and 300: mean 200, p50 200, max 300; one job unknown
    assert (s["duration_s"]["mean"], s["duration_s"]["p50"], s["duration_s"]["max"]) == (
        200.0,
        200.0,
        300.0,
    )
    assert s["duration_s"]["unknown_jobs"] == 1
    assert "mean 200, p50 200, p90 280, p99 298, max 300; unknown for 1 jobs" in info_text(
        w, tmp_path, capsys
    )


def test_gpu_hours_are_rounded_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1 GPU x 14,484,456 s = 4,023.46 GPU-hours: one rounding prints 4,023.5; rounding to
    # 4,023.5 first and then to a whole number printed 4,024 where the true value is 4,023
    w = Workload.build("w", [0.0], [14_484_456.0], [1], origin=datetime(2024, 1, 1))
    assert summarize(w)["gpu_hours"] == 4023.5
    assert "1 jobs (1 with GPUs), 4,023.5 GPU-hours" in info_text(w, tmp_path, capsys)


def test_hours_of_the_day_only_for_a_trace_with_wall_clock_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relative = Workload.build("rel", [0.0, 7200.0], [60.0, 60.0], [1, 1])
    assert summarize(relative)["arrivals_by_hour"] is None
    assert "hour of day" not in info_text(relative, tmp_path, capsys)
    # origin 2024-01-01 22:30 UTC: submits at 22:30 and 00:30 the next day
    dated = Workload.build(
        "dated", [0.0, 7200.0], [60.0, 60.0], [1, 1], origin=datetime(2024, 1, 1, 22, 30)
    )
    hours = summarize(dated)["arrivals_by_hour"]
    assert hours[22] == 1 and hours[0] == 1 and sum(hours) == 2
    assert "arrivals by hour of day (UTC): [1, 0," in info_text(dated, tmp_path, capsys)


def test_the_json_says_null_for_what_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "w.parquet"
    write_parquet(Workload.build("w", [0.0], [float("nan")], [2]), src)
    assert main(["trace", "info", str(src), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["arrivals_by_hour"] is None and s["duration_s"]["mean"] is None


def test_map_help_lists_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "info", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "fields: submit, start, end, duration, gpus, gpu_type, queue, user, status, cpus, "
        "memory_gb, job_id" in text
    )

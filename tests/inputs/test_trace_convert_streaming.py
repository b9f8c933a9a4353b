"""``trace convert`` of a mapped CSV a chunk at a time (issue 14): the file it writes must be
byte for byte the one written from the whole workload (``load_source`` then
``write_parquet``, what ``convert`` did before), whatever the row groups, time format and
skipped rows; its memory is a chunk and a row group, not the file (bench/trace_scale.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.inputs.traces import convert
from gpufleet.inputs.traces.registry import load_source
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import read_parquet, write_parquet
from tests.support.trace_rows import MAP, write_trace_csv


@pytest.mark.parametrize(
    ("rows", "group", "times", "bad_share"),
    [
        (2500, 1000, "relative", 0.0),  # 3 row groups, the last one 500 rows
        (2000, 1000, "unix", 0.01),  # 2 full groups; bad rows skipped; times shifted
        (1800, 700, "iso", 0.0),  # ISO times, origin from the earliest submit
        (300, 65_536, "unix", 0.0),  # one group, the default size
    ],
    ids=["relative-3-groups", "unix-skipped-rows", "iso-times", "one-group"],
)
def test_a_streamed_convert_writes_the_bytes_of_the_whole_workload(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    rows: int,
    group: int,
    times: str,
    bad_share: float,
) -> None:
    monkeypatch.chdir(tmp_path)  # the rejects file lands here
    monkeypatch.setattr("gpufleet.inputs.traces.workload.ROW_GROUP_ROWS", group)
    monkeypatch.setattr(convert, "ROW_GROUP_ROWS", group)
    src = write_trace_csv(
        tmp_path / "jobs.csv",
        rows,
        17,
        bad_share=bad_share,
        unix=times == "unix",
        iso=times == "iso",
    )
    flags = ["--map", MAP, "--on-error", "skip"]
    assert main(["trace", "convert", str(src), "streamed.parquet", *flags, "--json"]) == 0
    said = json.loads(capsys.readouterr().out)

    whole = load_source(str(src), RowPolicy(str(src), skip=True), column_map=MAP)
    whole.notes.extend(["rejected rows written to jobs.csv.rejects.csv"] if bad_share else [])
    write_parquet(whole, tmp_path / "whole.parquet")

    streamed = (tmp_path / "streamed.parquet").read_bytes()
    assert streamed == (tmp_path / "whole.parquet").read_bytes()
    assert said["jobs"] == len(whole) and said["notes"] == whole.notes
    assert said["gpu_hours"] == round(whole.gpu_hours, 4)
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []
    import pyarrow.parquet as pq

    groups = -(-len(whole) // group)  # ceil(jobs / rows per group)
    assert pq.ParquetFile(tmp_path / "streamed.parquet").metadata.num_row_groups == groups
    assert read_parquet(tmp_path / "streamed.parquet").job_id.tolist() == whole.job_id.tolist()


def test_a_streamed_convert_of_only_bad_rows_writes_an_empty_workload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "jobs.csv"
    src.write_text("t,g,d\n5,two,60\n6,-1,60\n")
    flags = ["--map", "submit=t,gpus=g,duration=d", "--on-error", "skip"]
    assert main(["trace", "convert", str(src), "o.parquet", *flags]) == 0
    assert "wrote o.parquet: 0 jobs, 0 GPU-hours" in capsys.readouterr().out
    assert len(read_parquet(tmp_path / "o.parquet")) == 0


def test_a_bad_row_stops_a_streamed_convert_and_leaves_no_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "jobs.csv"
    src.write_text("t,g,d\n5,1,60\n6,two,60\n")
    out = tmp_path / "o.parquet"
    assert (
        main(["trace", "convert", str(src), str(out), "--map", "submit=t,gpus=g,duration=d"]) == 2
    )
    assert f"{src}:3: g: 'two' is not a number" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv"]

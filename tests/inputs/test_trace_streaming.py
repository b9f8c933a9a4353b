"""Issue 14 item 9: large traces are read a chunk at a time, summarized without their rows
and replayed from columns; every figure, error and skipped row must stay what it was.

- the column-by-column reading of a chunk against the row-by-row reading (the reference,
  what every chunk went through before): seeded files with bad rows of every kind, chunk
  sizes that cut the file anywhere, ``stop`` and ``skip``;
- ``trace info`` summarized chunk by chunk against the summary of the whole workload;
- replays against figures recorded from the code before this change (commit 0a57903): a
  seeded file and a slice of a public trace (skipped when the traces are absent).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from gpufleet.errors import InputError
from gpufleet.inputs.traces.importers import csvmap
from gpufleet.inputs.traces.importers.common import ColumnsBuilder, finish_columns
from gpufleet.inputs.traces.importers.csvmap import CsvRead, load_csv
from gpufleet.inputs.traces.info import summarize, summarize_csv
from gpufleet.inputs.traces.registry import load_source
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.rows import RowPolicy
from gpufleet.inputs.traces.workload import COLUMNS, Workload
from gpufleet.sim.simulator import Simulation
from tests.support.trace_rows import MAP, write_trace_csv
from tests.support.traces import trace_folder


def _read(path: Path, *, columnar: bool, chunk: int, skip: bool) -> dict[str, Any]:
    """What a read gives: every column, the notes and the rejects, or the error."""
    policy = RowPolicy(str(path), skip=skip)
    read = CsvRead(path, policy, MAP, columnar=columnar)
    try:
        columns = ColumnsBuilder()
        for part in read.chunks(chunk):
            columns.add(part)
        cols = columns.build()
    except InputError as e:
        return {"error": str(e)}
    w = finish_columns(cols, path, read.notes, policy, absolute=read.absolute)
    return {
        "columns": {c: [_nan_free(x) for x in w.column(c).tolist()] for c in COLUMNS},
        "origin": w.origin,
        "notes": w.notes,
        "rejects": policy.rejects,
    }


def _nan_free(x: object) -> object:
    return "NaN" if isinstance(x, float) and math.isnan(x) else x


@pytest.mark.parametrize("skip", [True, False], ids=["skip-bad-rows", "stop-at-first"])
@pytest.mark.parametrize(
    ("seed", "bad_share", "times", "chunk"),
    [
        (1, 0.0, "relative", 7),  # every chunk columnar
        (2, 0.004, "relative", 53),  # some chunks hold a bad row, most do not
        (3, 0.05, "unix", 11),  # most chunks hold one; Unix times (shifted to an origin)
        (4, 0.002, "unix", 5000),  # one chunk for the whole file
        (5, 0.0, "iso", 13),  # ISO text with and without offsets, every chunk columnar
        (6, 0.004, "iso", 97),  # ISO, some chunks with a bad row
        (7, 0.05, "iso", 5000),  # ISO, one chunk holding many bad rows
    ],
    ids=[
        "clean-small-chunks",
        "few-bad-rows",
        "many-bad-rows-unix",
        "one-chunk",
        "clean-iso",
        "few-bad-rows-iso",
        "one-chunk-iso",
    ],
)
def test_columnar_chunks_read_exactly_what_the_row_parser_reads(
    tmp_path: Path, seed: int, bad_share: float, times: str, chunk: int, skip: bool
) -> None:
    path = write_trace_csv(
        tmp_path / "jobs.csv",
        1500,
        seed,
        bad_share=bad_share,
        unix=times == "unix",
        iso=times == "iso",
    )
    reference = _read(path, columnar=False, chunk=chunk, skip=skip)
    assert _read(path, columnar=True, chunk=chunk, skip=skip) == reference
    if bad_share and not skip:  # the first bad row in file order, with its file and line
        assert reference["error"].startswith(f"{path}:")


@pytest.mark.parametrize("unix", [False, True], ids=["iso-times", "unix-times"])
def test_a_clean_chunk_is_read_column_by_column_whatever_its_time_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unix: bool
) -> None:
    """ISO times once sent every chunk row by row; 1,000 clean rows in chunks of 100 are
    read by the column path, none by the row parser."""
    path = write_trace_csv(tmp_path / "jobs.csv", 1000, 8, unix=unix, iso=not unix)
    by_row: list[int] = []
    row_by_row = csvmap._ChunkRows.__call__

    def counted(self: Any, chunk: Any) -> Any:
        by_row.append(len(chunk[0]))
        return row_by_row(self, chunk)

    monkeypatch.setattr(csvmap._ChunkRows, "__call__", counted)
    read = CsvRead(path, RowPolicy(str(path)), MAP)
    assert sum(len(c.submit_s) for c in read.chunks(100)) == 1000
    assert by_row == []
    if not unix:
        assert any("no time zone offset" in n for n in read.notes)


def test_a_bad_row_after_many_good_chunks_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write_trace_csv(tmp_path / "jobs.csv", 400, 5)
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[351].split(",")
    cells[3] = "eight"  # the gpus of line 352 (the header is line 1)
    lines[351] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        list(CsvRead(path, RowPolicy(str(path)), MAP).chunks(10))
    assert str(e.value).startswith(f"{path}:352: gpus: 'eight' is not a number")


@pytest.mark.parametrize("unix", [False, True], ids=["relative-times", "unix-times"])
@pytest.mark.parametrize("skip", [False, True], ids=["clean", "with-skipped-rows"])
def test_trace_info_chunk_by_chunk_equals_the_whole_workloads_summary(
    tmp_path: Path, unix: bool, skip: bool
) -> None:
    path = write_trace_csv(
        tmp_path / "jobs.csv", 2500, 11, bad_share=0.01 if skip else 0.0, unix=unix
    )
    whole = summarize(load_csv(path, RowPolicy(str(path), skip=skip), MAP))
    streamed = summarize_csv(path, RowPolicy(str(path), skip=skip), MAP)
    assert streamed == whole
    assert streamed["jobs"] == len(load_csv(path, RowPolicy(str(path), skip=skip), MAP))


def _replay_summary(w: Workload, policy: str, gpus: int) -> dict[str, Any]:
    summary: dict[str, Any] = (
        Simulation(to_scenario(w, policy, gpus=gpus)).run().to_dict()["summary"]
    )
    return summary


# Recorded by running the same replays on commit 0a57903, before replays held their jobs as
# columns (issue 14 item 9): the figures `gpufleet replay` prints must not move.
SEEDED_FIFO = {
    "jobs_submitted": 684,
    "jobs_finished": 684,
    "queueing_delay_s": {
        "mean": 1903.25,
        "p50": 2201.1,
        "p95": 4236.84,
        "p99": 4703.64,
        "max": 4841.9,
    },
    "jct_s": {"mean": 3370.02, "p50": 3040.35, "p95": 8002.76, "p99": 20052.2, "max": 92872.9},
}
SEEDED_DRF = {
    "jobs_submitted": 684,
    "jobs_finished": 684,
    "queueing_delay_s": {"mean": 652.72, "p50": 0.0, "p95": 3649.53, "p99": 5463.63, "max": 6975.9},
    "jct_s": {"mean": 2119.49, "p50": 906.5, "p95": 6929.22, "p99": 18272.21, "max": 88660.4},
}
DIRLAB_FIFO_512 = {
    "jobs_submitted": 15000,
    "jobs_finished": 15000,
    "queueing_delay_s": {
        "mean": 2325859.13,
        "p50": 2122301.5,
        "p95": 3556497.4,
        "p99": 3591142.79,
        "max": 3596409.0,
    },
    "jct_s": {
        "mean": 2400812.85,
        "p50": 2157826.5,
        "p95": 3577247.25,
        "p99": 3782741.51,
        "max": 7783256.0,
    },
}


@pytest.mark.parametrize(("policy", "expected"), [("fifo", SEEDED_FIFO), ("drf", SEEDED_DRF)])
def test_a_seeded_trace_replays_to_the_figures_recorded_before_the_change(
    tmp_path: Path, policy: str, expected: dict[str, Any]
) -> None:
    # 3,000 rows; 684 jobs left on a neutral 64-GPU fleet (the V100 and H100 jobs ask for a
    # model the fleet lacks, CPU-only and unknown-duration jobs are dropped)
    path = write_trace_csv(tmp_path / "gold.csv", 3000, 7)
    w = load_source(str(path), RowPolicy(str(path)), column_map=MAP, time_format="relative-seconds")
    got = _replay_summary(w, policy, 64)
    assert {k: got[k] for k in expected} == expected


def test_a_public_trace_replays_to_the_figures_recorded_before_the_change() -> None:
    trace_folder("philly-2017")
    got = _replay_summary(load_source("philly-2017-dirlab15k"), "fifo", 512)
    assert {k: got[k] for k in DIRLAB_FIFO_512} == DIRLAB_FIFO_512

"""``trace info`` of a mapped CSV parsed by pyarrow (issue 14): the summary must be the one
the Python reader gives, on every file. Seeded files with bad rows of every kind, chunk
after chunk, stop and skip; number spellings on the edge of what both parsers read alike;
quoting, which sends the file to the Python reader; and a bare install (no pyarrow),
which reads with the Python reader alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpufleet.errors import InputError
from gpufleet.inputs.traces import info
from gpufleet.inputs.traces.importers import csvarrow
from gpufleet.inputs.traces.rows import RowPolicy
from tests.support.trace_rows import MAP, write_trace_csv


def _summary(path: Path, *, arrow: bool, skip: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The summary (or the error, and what was skipped) with pyarrow or without it."""
    with monkeypatch.context() as m:
        m.setattr(info, "arrow_csv_available", lambda: arrow)
        policy = RowPolicy(str(path), skip=skip)
        try:
            return info.summarize_csv(path, policy, MAP), policy.rejects
        except InputError as e:
            return str(e), policy.rejects


def _read_by_arrow(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many files pyarrow read to the end (a spy on :meth:`ArrowRead.chunks`)."""
    done: list[int] = []
    chunks = csvarrow.ArrowRead.chunks

    def counted(self: csvarrow.ArrowRead) -> Any:
        yield from chunks(self)
        done.append(1)

    monkeypatch.setattr(csvarrow.ArrowRead, "chunks", counted)
    return done


@pytest.mark.parametrize("skip", [False, True], ids=["stop-at-first", "skip-bad-rows"])
@pytest.mark.parametrize(
    ("seed", "rows", "bad_share", "unix"),
    [
        (21, 4000, 0.0, False),  # clean: pyarrow reads it all
        (22, 4000, 0.0, True),  # clean, Unix times
        (23, 3000, 0.002, False),  # a few bad rows: the Python reader takes over
        (24, 3000, 0.05, True),  # many bad rows
    ],
    ids=["clean", "clean-unix", "few-bad-rows", "many-bad-rows-unix"],
)
def test_pyarrow_and_the_python_reader_summarize_a_file_alike(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    rows: int,
    bad_share: float,
    unix: bool,
    skip: bool,
) -> None:
    path = write_trace_csv(tmp_path / "jobs.csv", rows, seed, bad_share=bad_share, unix=unix)
    reference = _summary(path, arrow=False, skip=skip, monkeypatch=monkeypatch)
    by_arrow = _read_by_arrow(monkeypatch)
    assert _summary(path, arrow=True, skip=skip, monkeypatch=monkeypatch) == reference
    assert by_arrow == ([] if bad_share else [1])


@pytest.mark.parametrize(
    ("cell", "by_arrow"),
    [
        ("5.", True),
        (".5", True),
        ("007", True),
        ("-0", True),
        ("1e3", True),
        ("2.5E-1", True),
        ("123456789.123456789123", True),
        (" 5", True),  # blanks around a number: pyarrow trims them as float() does
        ("+5", True),
        ("1_0", False),
        ("inf", False),
        ("1e400", False),
        ("NaN", True),  # duration is optional: a missing marker on both paths
        ("-nan", False),
        ('"5"', False),  # a quote anywhere: the Python reader
    ],
)
def test_a_duration_spelled_on_the_edge_is_read_alike_or_left_to_the_python_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cell: str, by_arrow: bool
) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(f"submit_s,gpus,duration_s,queue\n0,1,60,a\n10,2,{cell},b\n20,1,30,a\n")
    cmap = "submit=submit_s,gpus=gpus,duration=duration_s,queue=queue"
    read: list[int] = _read_by_arrow(monkeypatch)
    got = []
    for arrow in (False, True):
        with monkeypatch.context() as m:
            m.setattr(info, "arrow_csv_available", lambda arrow=arrow: arrow)
            policy = RowPolicy(str(path), skip=True)
            got.append((info.summarize_csv(path, policy, cmap), policy.rejects))
    assert got[1] == got[0]
    assert read == ([1] if by_arrow else [])


@pytest.mark.parametrize(
    ("cells", "by_arrow"),
    [
        (("NA", "", "Unknown"), True),  # exact spellings: null to pyarrow
        ((" na ", "", "unknown"), False),  # blanks around a marker: the Python reader
    ],
    ids=["exact-spellings", "blanks-around-a-marker"],
)
def test_a_missing_marker_in_an_optional_column_is_nan_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cells: tuple[str, ...], by_arrow: bool
) -> None:
    path = tmp_path / "jobs.csv"
    rows = "".join(f"{10 * (i + 1)},1,{c}\n" for i, c in enumerate(cells))
    path.write_text(f"t,g,d\n0,1,60\n{rows}")
    cmap = "submit=t,gpus=g,duration=d"
    read = _read_by_arrow(monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(info, "arrow_csv_available", lambda: False)
        reference = info.summarize_csv(path, RowPolicy(str(path)), cmap)
    assert info.summarize_csv(path, RowPolicy(str(path)), cmap) == reference
    assert read == ([1] if by_arrow else [])
    assert reference["duration_s"]["unknown_jobs"] == 3

"""The ``gpufleet`` command through ``main(argv)``: exit codes (0 ok, 2 bad input), what goes
to stdout and to stderr, and the files it writes. Runs use the ten-day SMALL scenario
(about 180 jobs); only the demo smoke test runs the article's scenario."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from tests.support.small_scenario import SMALL, line_of, with_defect

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    """SMALL with a negative node count: one problem."""
    path = tmp_path / "bad.yaml"
    path.write_text(with_defect("nodes: 8", "nodes: -8"), encoding="utf-8")
    return path


BAD_LINE = line_of(with_defect("nodes: 8", "nodes: -8"), "nodes: -8")


# --- validate --------------------------------------------------------------------------------
def test_validate_a_good_file_prints_a_summary(small: Path, capsys: Capture) -> None:
    assert main(["validate", str(small)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{small}: valid (2 sites, 3 pools, 112 GPUs, 2 programs, 1 variants)\n"
    assert err == ""


def test_validate_a_bad_file_exits_2_with_file_line_field_and_expected(
    bad: Path, capsys: Capture
) -> None:
    assert main(["validate", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"{bad}: 1 problem\n"
        f"  {bad}:{BAD_LINE}: pools[0].nodes: Input should be greater than 0, got -8"
        " (expected an integer greater than 0 and at most 100000)\n"
    )


def test_validate_json_lists_the_problems_as_data(bad: Path, capsys: Capture) -> None:
    assert main(["validate", str(bad), "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "valid": False,
        "problems": [
            {
                "field": "pools[0].nodes",
                "message": "Input should be greater than 0, got -8",
                "expected": "an integer greater than 0 and at most 100000",
                "file": str(bad),
                "line": BAD_LINE,
            }
        ],
    }
    assert err == ""


def test_validate_json_of_a_good_file(small: Path, capsys: Capture) -> None:
    assert main(["validate", "--json", str(small)]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "problems": []}


def test_validate_json_of_a_missing_file_is_still_json(tmp_path: Path, capsys: Capture) -> None:
    path = tmp_path / "nope.yaml"
    assert main(["validate", "--json", str(path)]) == 2
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert (problem["file"], problem["message"]) == (str(path), "no such scenario file")


# --- simulate: bad input ----------------------------------------------------------------------
def test_simulate_a_missing_file_exits_2_naming_it(tmp_path: Path, capsys: Capture) -> None:
    path = tmp_path / "nope.yaml"
    assert main(["simulate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"gpufleet: {path}: 1 problem\n"
        f"  {path}: no such scenario file (expected a readable UTF-8 YAML scenario file)\n"
    )


def test_simulate_a_bad_file_exits_2_with_its_problems(bad: Path, capsys: Capture) -> None:
    assert main(["simulate", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{bad}:{BAD_LINE}: pools[0].nodes: Input should be greater than 0" in err


def test_simulate_an_unknown_policy_lists_the_valid_ones(small: Path, capsys: Capture) -> None:
    assert main(["simulate", str(small), "--policy", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err == f"gpufleet: unknown policy 'nope'; valid names: {', '.join(sorted(ALL_POLICIES))}\n"
    )


def test_simulate_an_unknown_variant_lists_the_valid_ones(small: Path, capsys: Capture) -> None:
    assert main(["simulate", str(small), "--variant", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "gpufleet: unknown variant 'nope'; valid names: base, move\n"


@pytest.mark.parametrize(
    ("flag", "where", "says"),
    [
        pytest.param("--out", "missing/r.json", "no such directory", id="out-into-a-missing-dir"),
        pytest.param("--jobs-csv", "missing/j.csv", "no such directory", id="csv-into-missing-dir"),
        pytest.param("--out", ".", "is a directory", id="out-onto-a-directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_fails_before_the_run(
    small: Path, tmp_path: Path, capsys: Capture, flag: str, where: str, says: str
) -> None:
    target = tmp_path / where
    assert main(["simulate", str(small), flag, str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing was simulated
    assert err.startswith(f"gpufleet: {flag} {target}: {says}")


def test_a_failed_run_leaves_an_existing_output_file_as_it_was(
    bad: Path, tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "result.json"
    out.write_text("earlier result\n", encoding="utf-8")
    assert main(["simulate", str(bad), "--out", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "result.json"]


# --- simulate: results ------------------------------------------------------------------------
def test_simulate_json_is_the_result_and_out_writes_the_same(
    small: Path, tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "result.json"
    assert main(["simulate", str(small), "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"programs", "entities", "fleet", "summary", "policy", "seed"} <= set(printed)
    assert (printed["scenario"], printed["policy"], printed["seed"]) == ("small", "quota", 7)
    assert sorted(printed["programs"]) == ["language", "vision"]
    assert sorted(printed["entities"]) == ["acme", "beta"]
    assert printed["summary"]["jobs_finished"] > 100
    assert json.loads(out.read_text(encoding="utf-8")) == printed


def test_simulate_a_variant_with_another_policy_and_seed(small: Path, capsys: Capture) -> None:
    args = ["simulate", str(small), "--variant", "move", "--policy", "fifo", "--seed", "3"]
    assert main([*args, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["scenario"], res["policy"], res["seed"]) == ("small [move]", "fifo", 3)


def test_jobs_csv_has_a_header_and_one_row_per_finished_job(
    small: Path, tmp_path: Path, capsys: Capture
) -> None:
    jobs = tmp_path / "jobs.csv"
    assert main(["simulate", str(small), "--json", "--jobs-csv", str(jobs)]) == 0
    finished = json.loads(capsys.readouterr().out)["summary"]["jobs_finished"]
    with jobs.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    assert header[:4] == ["id", "program", "gpus", "submit_s"]
    assert {"queueing_delay_s", "jct_s", "slowdown"} <= set(header)
    assert len(rows) - 1 == finished
    assert {r[header.index("program")] for r in rows[1:]} == {"vision", "language"}


def test_simulate_prints_a_table_by_default(small: Path, capsys: Capture) -> None:
    assert main(["simulate", str(small)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Programs\n")
    assert "vision" in out and "language" in out and "stranded GPU-days" in out


# --- policies, argparse, demo -------------------------------------------------------------------
ALL_POLICIES = [
    "fifo",
    "fifo-backfill",
    "priority",
    "drf",
    "quota",
    "srtf",
    "slurm-multifactor",
    "slurm-backfill",
    "slurm-backfill-easy",
    "fifo-topology",
    "kueue",
    "tiresias",
    "themis",
    "kai",
]


def test_policies_lists_every_registered_policy(capsys: Capture) -> None:
    assert main(["policies", "--engine-only"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ALL_POLICIES


def test_policies_also_lists_the_heterogeneity_and_sharing_simulators(capsys: Capture) -> None:
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("fifo ")
    assert "max-min" in out and "Gavel, OSDI '20" in out
    for name in ("FGD", "BestFit", "GpuPacking", "GpuClustering", "DotProd", "Random"):
        assert f"  {name} " in out


def test_policies_json(capsys: Capture) -> None:
    assert main(["policies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ALL_POLICIES
    assert next(r for r in rows if r["name"] == "fifo-backfill")["options"] == ["backfill_depth"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["policies", "--bogus"], "unrecognized arguments: --bogus", id="unknown-flag"),
        pytest.param([], "the following arguments are required: command", id="no-command"),
        pytest.param(["simulate"], "the following arguments are required: scenario", id="no-file"),
        pytest.param(["launch"], "invalid choice: 'launch'", id="unknown-command"),
        pytest.param(
            ["simulate", "x.yaml", "--seed", "one"],
            "argument --seed: 'one' is not an integer",
            id="a-seed-that-is-not-a-number",
        ),
        pytest.param(
            ["simulate", "x.yaml", "--seed", "-1"],
            "argument --seed: -1 is outside 0 .. 9223372036854775807",  # NumPy's seeds
            id="a-negative-seed",
        ),
    ],
)
def test_argparse_misuse_returns_2_with_usage(argv: list[str], says: str, capsys: Capture) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: gpufleet")
    assert says in err


def test_help_returns_0(capsys: Capture) -> None:
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: gpufleet")


def test_demo_of_a_small_scenario_runs_every_variant(small: Path, capsys: Capture) -> None:
    assert main(["demo", "--scenario", str(small), "--json", "--no-report"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)) == ["move"]


def test_demo_smoke_keep_or_move_the_articles_gpus(capsys: Capture) -> None:
    assert main(["demo", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "keep" in out and "move" in out and "stranded GPU-days" in out


def test_a_busy_register_exits_5_saying_nothing_changed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Capture
) -> None:
    import gpufleet.cli.admin as service
    from gpufleet.errors import BusyError

    def busy(_args: object) -> int:
        raise BusyError("the writer queue stayed full for 30 s")

    monkeypatch.setattr(service, "cmd_list_tokens", busy)
    assert main(["admin", "list-tokens", "--db", f"sqlite:///{tmp_path / 'f.db'}"]) == 5
    assert capsys.readouterr().err == (
        "gpufleet: busy, nothing changed; run it again: the writer queue stayed full for 30 s\n"
    )

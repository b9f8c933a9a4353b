"""``replay --policy-option KEY=VALUE`` and ``--policy-file``: options reach the policy and
are checked as a scenario's are (``policies.registry.policy_spec``), with exit 2 naming the
flag and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.inputs.traces.workload import Workload, write_parquet


@pytest.fixture
def backfill_trace(tmp_path: Path) -> Path:
    """8 GPUs; J0 4 GPUs 0..100 s, J1 and J2 8 GPUs each (submitted at 1 s and 2 s), J3 4 GPUs
    50 s submitted at 3 s: only a backfill scan that looks two jobs past the head finds J3."""
    w = Workload.build("w", [0.0, 1, 2, 3], [100.0, 100, 100, 50], [4, 8, 8, 4], queue=["a"] * 4)
    src = tmp_path / "w.parquet"
    write_parquet(w, src)
    return src


def _mean_queueing(argv: list[str], capsys: pytest.CaptureFixture[str]) -> float:
    assert main([*argv, "--json"]) == 0
    return float(json.loads(capsys.readouterr().out)["summary"]["queueing_delay_s"]["mean"])


def test_a_backfill_depth_given_on_the_command_line_reaches_the_policy(
    backfill_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["replay", str(backfill_trace), "--gpus", "8", "--policy", "fifo-backfill"]
    # Default depth 256: J3 backfills at 3 s (wait 0); J1 starts at 100 (wait 99), J2 at 200
    # (wait 198): mean (0 + 99 + 198 + 0) / 4 = 74.25 s.
    assert _mean_queueing(base, capsys) == 74.25
    # Depth 1: the scan stops at J2 (8 > 4 free) and never reaches J3, which runs after J2 at
    # 300 (wait 297): mean (0 + 99 + 198 + 297) / 4 = 148.5 s.
    assert _mean_queueing([*base, "--policy-option", "backfill_depth=1"], capsys) == 148.5


def test_a_policy_file_sets_options_and_a_flag_overrides_its_keys(
    backfill_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opts = tmp_path / "opts.yaml"
    opts.write_text("backfill_depth: 1\n", encoding="utf-8")
    base = ["replay", str(backfill_trace), "--gpus", "8", "--policy", "fifo-backfill"]
    assert _mean_queueing([*base, "--policy-file", str(opts)], capsys) == 148.5  # as above
    over = [*base, "--policy-file", str(opts), "--policy-option", "backfill_depth=2"]
    assert _mean_queueing(over, capsys) == 74.25  # depth 2 reaches J3 again
    assert main([*base, "--policy-file", str(opts)]) == 0
    assert "under fifo-backfill (backfill_depth=1)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            ["--policy-option", "backfill_depth=0"],
            "--policy-option: policy 'fifo-backfill' option 'backfill_depth' must be a "
            "positive integer, got 0",
            id="a-value-of-the-wrong-type",
        ),
        pytest.param(
            ["--policy-option", "depth=3"],
            "--policy-option: policy 'fifo-backfill' has no option 'depth'; its options: "
            "backfill_depth",
            id="an-option-the-policy-does-not-have",
        ),
        pytest.param(
            ["--policy-option", "backfill_depth"],
            "--policy-option 'backfill_depth': expected KEY=VALUE",
            id="no-equals-sign",
        ),
        pytest.param(
            ["--policy-option", "backfill_depth=[1, 2]"],
            "is not a single value",
            id="a-list-value",
        ),
        pytest.param(
            ["--policy-file", "{tmp}/list.yaml"],
            "a YAML mapping of option: value expected, got list",
            id="a-file-that-is-not-a-mapping",
        ),
        pytest.param(
            ["--policy-file", "{tmp}/missing.yaml"],
            "--policy-file {tmp}/missing.yaml: cannot read it",
            id="a-missing-file",
        ),
    ],
)
def test_bad_policy_options_exit_2_naming_the_flag_and_the_key(
    extra: list[str],
    message: str,
    backfill_trace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "list.yaml").write_text("- backfill_depth\n", encoding="utf-8")
    argv = ["replay", str(backfill_trace), "--gpus", "8", "--policy", "fifo-backfill"]
    assert main([*argv, *(a.format(tmp=tmp_path) for a in extra)]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err


def test_the_same_bad_option_in_a_scenario_gets_the_same_words(
    backfill_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gpufleet.errors import InputError
    from gpufleet.policies.registry import policy_spec

    with pytest.raises(InputError) as scenario_error:
        policy_spec("fifo-backfill", {"backfill_depth": 0})
    argv = ["replay", str(backfill_trace), "--gpus", "8", "--policy", "fifo-backfill"]
    assert main([*argv, "--policy-option", "backfill_depth=0"]) == 2
    assert str(scenario_error.value) in capsys.readouterr().err

"""`replay --checkpoint-interval/--restore-overhead`: the lost work and the utilisation
figures in text and JSON, and bad values refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.inputs.traces.workload import Workload, write_parquet

H = 3600.0


def preempting_pair(tmp_path: Path) -> str:
    # one 8-GPU node under SRTF: A (10 h) from 0 is preempted at 2.5 h by B (1 h)
    src = tmp_path / "pair.parquet"
    write_parquet(Workload.build("pair", [0.0, 2.5 * H], [10 * H, H], [8.0, 8.0]), src)
    return str(src)


FLAGS = ["--policy", "srtf", "--gpus", "8", "--checkpoint-interval", "3600"]


def test_the_text_output_shows_lost_and_restoring_gpu_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lost 0.5 h x 8 GPUs = 4.0 GPU-h; restore 600 s x 8 GPUs = 1.33 GPU-h; ready to the
    # last finish (42,000 s) 8 x 42,000 GPU-s, all of it used but for nothing: 100.0%
    assert main(["replay", preempting_pair(tmp_path), *FLAGS, "--restore-overhead", "600"]) == 0
    out = capsys.readouterr().out
    assert "preemption: 1 preemption(s), 4.0 GPU-hours of work lost, 1.3 GPU-hours " in out
    assert "% while jobs arrive, 100.0% until the last one finishes" in out
    assert "note: preemption: checkpoint every 3600 s of work, 600 s to restore" in out


def test_the_json_output_carries_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", preempting_pair(tmp_path), *FLAGS, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # default restore 10 s: 10 x 8 / 3600 = 0.02 GPU-h
    assert d["summary"]["work_lost_gpu_hours"] == 4.0
    assert d["summary"]["restore_gpu_hours"] == 0.02
    assert d["fleet"]["utilisation_to_last_finish"] == 1.0
    # to the last submit (2.5 h) A alone held all 8 GPUs
    assert d["utilisation_while_arriving"] == d["fleet"]["utilisation_while_arriving"] == 1.0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--checkpoint-interval", "-5", "--checkpoint-interval -5.0: must be seconds >= 0"),
        ("--checkpoint-interval", "inf", "--checkpoint-interval inf: must be seconds >= 0"),
        ("--restore-overhead", "nan", "--restore-overhead nan: must be seconds >= 0"),
    ],
)
def test_a_negative_or_non_finite_value_exits_2_naming_the_flag(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", preempting_pair(tmp_path), "--gpus", "8", flag, value]) == 2
    assert message in capsys.readouterr().err

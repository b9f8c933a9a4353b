"""``gpufleet apply slurm``'s bad inputs: each is exit 2 with a message naming what was
wrong and what is right, before Slurm is asked anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.cli.main import main

ROOT = Path(__file__).parents[3]
CONFIG = str(ROOT / "tests/live/register/live.yaml")


def _seeded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["db", "seed", str(Path(__file__).parent / "register.yaml"), "--db", url]) == 0
    return url


def test_an_instant_that_is_not_iso_is_exit_2_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _seeded(tmp_path)
    argv = ["apply", "slurm", "--cluster", "gfdev", "--config", CONFIG, "--db", url]
    assert main([*argv, "--at", "yesterday"]) == 2
    assert "--at 'yesterday': not an instant (expected ISO 8601" in capsys.readouterr().err


def test_an_empty_register_is_exit_2_saying_how_to_fill_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["apply", "slurm", "--cluster", "gfdev", "--config", CONFIG, "--db", url]) == 2
    assert "the register is empty: there is nothing to enact" in capsys.readouterr().err


def test_a_live_config_without_slurm_commands_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "live.yaml"
    mapping = ROOT / "tests/live/samples/mapping/devcluster.yaml"
    config.write_text(f"mapping: {mapping}\nsources:\n  prometheus: {{url: http://127.0.0.1:1}}\n")
    url = _seeded(tmp_path)
    assert main(["apply", "slurm", "--cluster", "gfdev", "--config", str(config), "--db", url]) == 2
    assert "applying needs Slurm through its commands" in capsys.readouterr().err

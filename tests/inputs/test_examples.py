"""Every scenario file under examples/ validates, and every variant of it simulates to
finished jobs. The article's scenario is simulated too: both its variants take about a
second; an example that takes longer belongs in VALIDATE_ONLY."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.api import article_scenario_path, load_scenario, run_variants
from gpufleet.cli.main import main
from gpufleet.inputs.scenario import validate_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCENARIOS = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.yml")])

# File names of examples too slow to simulate in the default test run (validated only).
VALIDATE_ONLY: frozenset[str] = frozenset()


def test_examples_are_found() -> None:
    names = {p.name for p in SCENARIOS}
    assert {"article-tesla-xai.yaml", "small-lab.yaml"} <= names


def test_article_example_is_the_packaged_scenario() -> None:
    packaged = article_scenario_path().read_text(encoding="utf-8")
    assert (EXAMPLES / "article-tesla-xai.yaml").read_text(encoding="utf-8") == packaged


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_example_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_file(path) == []
    assert main(["validate", str(path)]) == 0
    assert ": valid (" in capsys.readouterr().out


@pytest.mark.parametrize(
    "path", [p for p in SCENARIOS if p.name not in VALIDATE_ONLY], ids=lambda p: p.name
)
def test_example_simulates(path: Path) -> None:
    results = run_variants(load_scenario(path))
    for variant, res in results.items():
        assert res.summary["jobs_finished"] > 0, variant


def test_small_lab_cli_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(EXAMPLES / "small-lab.yaml")]) == 0
    assert "jobs finished" in capsys.readouterr().out

"""The Python API for notebooks and scripts.

>>> import gpufleet
>>> sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
>>> res = gpufleet.simulate(sc.variant("move"), seed=1)
>>> res.jobs_frame().head()          # pandas; jobs_frame("polars") for polars
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from gpufleet.domain.scenario import Scenario
from gpufleet.inputs.scenario.load import load_scenario as _load
from gpufleet.planning.whatif.compare import Comparison
from gpufleet.sim.metrics import (
    EntityMetrics,
    FleetMetrics,
    MilestoneOutcome,
    ProgramMetrics,
    RunMetrics,
)
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Progress
from gpufleet.sim.simulator import simulate as _simulate

__all__ = [
    "Comparison",
    "EntityMetrics",
    "FleetMetrics",
    "MilestoneOutcome",
    "ProgramMetrics",
    "Progress",
    "RunMetrics",
    "Scenario",
    "SimResult",
    "article_scenario_path",
    "load_scenario",
    "run_variants",
    "simulate",
]


def article_scenario_path() -> Path:
    """The built-in scenario of the article (Tesla, xAI, 12,000 H100)."""
    return Path(str(files("gpufleet.data").joinpath("article.yaml")))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError listing every problem."""
    return _load(path)


def simulate(
    scenario: Scenario | str | Path,
    policy: str | None = None,
    seed: int | None = None,
    variant: str | None = None,
    progress: Progress | None = None,
) -> SimResult:
    """Simulate a scenario (object or file), optionally a variant, policy or seed."""
    sc = scenario if isinstance(scenario, Scenario) else _load(scenario)
    if variant:
        sc = sc.variant(variant)
    return _simulate(sc, policy, seed, progress)


def run_variants(
    scenario: Scenario, seed: int | None = None, progress: Progress | None = None
) -> dict[str, SimResult]:
    """Every variant of the scenario (just the base when it has none), by name."""
    names = [v.name for v in scenario.variants] or ["base"]
    return {n: _simulate(scenario.variant(n), None, seed, progress) for n in names}

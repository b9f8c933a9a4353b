"""The Python API for notebooks and scripts.

>>> import gpufleet
>>> sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
>>> res = gpufleet.simulate(sc.variant("move"), seed=1)
>>> res.jobs_frame().head()          # pandas; jobs_frame("polars") for polars
>>> wi = gpufleet.whatif(sc, seeds=3) # the article: keep against move, 3 seeds
>>> wi.delta("move", "milestone_delay_days", program="fsd-training")   # an Estimate
>>> wi.to_frame()                     # every figure, one row each (pandas)
>>> wi.plots()                        # four figures; a notebook shows each
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.scenario.load import load_scenario as _load
from gpufleet.planning.report.whatif import render_comparison
from gpufleet.planning.whatif.arms import build_arms
from gpufleet.planning.whatif.compare import Comparison, Figures, compare
from gpufleet.planning.whatif.shapes import ComparisonJson
from gpufleet.planning.whatif.stats import Estimate
from gpufleet.sim.metrics import (
    EntityMetrics,
    FleetMetrics,
    MilestoneOutcome,
    ProgramMetrics,
    RunMetrics,
)
from gpufleet.sim.result import SimResult, frame
from gpufleet.sim.simulator import Progress
from gpufleet.sim.simulator import simulate as _simulate

if TYPE_CHECKING:  # matplotlib loads in half a second: only plots and reports import it
    from matplotlib.figure import Figure

    from gpufleet.planning.report.plots import Plots

__all__ = [
    "Comparison",
    "EntityMetrics",
    "Estimate",
    "FleetMetrics",
    "MilestoneOutcome",
    "ProgramMetrics",
    "Progress",
    "RunMetrics",
    "Scenario",
    "SimResult",
    "WhatIf",
    "article_scenario_path",
    "load_scenario",
    "run_variants",
    "simulate",
    "whatif",
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


def whatif(
    scenario: Scenario | str | Path | None = None,
    variants: Sequence[str] = (),
    *,
    base: str | None = None,
    changes: Mapping[str, Sequence[str]] | None = None,
    name: str | None = None,
    seeds: int = 5,
    workers: int = 1,
    market_rate: float | None = None,
    markup: float = 0.0,
    progress: Progress | None = None,
) -> WhatIf:
    """``gpufleet whatif`` from Python: the base and each variant over ``seeds`` seeds,
    paired by seed, with 95% intervals.

    ``scenario`` is an object or a file (default: the article's). The base is the scenario
    as written or its variant ``base``; ``variants`` are variant files or names of the
    scenario's variants; ``changes`` maps a change kind to its texts, as the command's flags
    take them (``{"delay": ["colo-h100 +30d"]}``), applied together as one variant called
    ``name`` (default ``changes``). With none of these, the scenario's own variants are
    compared (the article: keep against move). Seeds start at the base's own seed."""
    if seeds < 1:
        raise InputError(f"seeds={seeds}: at least 1")
    if workers < 1:
        raise InputError(f"workers={workers}: at least 1")
    sc = scenario if isinstance(scenario, Scenario) else _load(scenario or article_scenario_path())
    asked = [(kind, text) for kind, texts in (changes or {}).items() for text in texts]
    base_name, arms = build_arms(sc, base, list(variants), asked, name)
    seed0 = arms[base_name].seed
    run_seeds = [seed0 + i for i in range(seeds)]
    c = compare(base_name, arms, run_seeds, workers, progress, market_rate, markup)
    return WhatIf(c)


Scope = Literal["program", "entity", "fleet"]
FRAME_COLUMNS = (
    "arm",
    "figure",
    "scope",
    "name",
    "metric",
    "mean",
    "ci95_low",
    "ci95_high",
    "n",
    "within_noise",
)
"""The columns of :meth:`WhatIf.to_frame`: ``figure`` is ``mean`` (an arm's mean over the
seeds) or ``difference`` (a variant minus the base, paired by seed); ``scope`` is
``program``, ``entity`` or ``fleet`` and ``name`` the program's or entity's (``fleet``)."""


@dataclass(frozen=True)
class WhatIf:
    """A what-if comparison, typed: each figure an :class:`Estimate` (mean and 95%
    interval, unrounded), as a table (:meth:`to_frame`), as text (``str()``, what the
    command prints) and as four figures (:meth:`plots`). A notebook shows it as its text."""

    comparison: Comparison

    @property
    def base(self) -> str:
        return self.comparison.base

    @property
    def variants(self) -> list[str]:
        return self.comparison.variants

    @property
    def seeds(self) -> list[int]:
        return self.comparison.seeds

    def arm(self, arm: str) -> Figures:
        """``arm``'s means over the seeds, each with its 95% interval."""
        self._known(arm, list(self.comparison.arms))
        return self.comparison.arm(arm).figures

    def deltas(self, variant: str) -> Figures:
        """``variant`` - base, paired by seed, each with its 95% interval."""
        self._known(variant, self.variants)
        return self.comparison.deltas(variant)

    def delta(
        self, variant: str, metric: str, program: str | None = None, entity: str | None = None
    ) -> Estimate:
        """One difference: a program's metric (``program=``), an entity's (``entity=``) or
        the fleet's (neither); metric names as in :meth:`to_frame` and ``whatif.json``."""
        d = self.deltas(variant)
        table: dict[str, Estimate]  # by the metric names of its scope
        if program is not None:
            self._known(program, list(d.programs), "program")
            table = {str(m): e for m, e in d.programs[program].items()}
        elif entity is not None:
            self._known(entity, list(d.entities), "entity")
            table = {str(m): e for m, e in d.entities[entity].items()}
        else:
            table = {str(m): e for m, e in d.fleet.items()}
        self._known(metric, list(table), "metric")
        return table[metric]

    def to_dict(self) -> ComparisonJson:
        """The JSON ``gpufleet whatif --json`` prints (rounded to 4 decimals)."""
        return self.comparison.to_dict()

    def rows(self) -> list[dict[str, Any]]:
        """Every figure as a row of :data:`FRAME_COLUMNS`, unrounded; an interval is None
        where one seed gives none."""
        out: list[dict[str, Any]] = []
        for arm in self.comparison.arms:
            out += _rows(arm, "mean", self.comparison.arm(arm).figures)
        for v in self.variants:
            out += _rows(v, "difference", self.comparison.deltas(v))
        return out

    def to_frame(self, backend: str = "pandas") -> Any:
        """:meth:`rows` as a DataFrame (``pandas`` or ``polars``: the ``frames`` extra)."""
        return frame(self.rows(), backend, "WhatIf.to_frame()")

    def plots(self) -> Plots:
        """The report's four figures (utilisation, milestones, queueing, stranded), each
        with its title and caption: a notebook shows them all, and each one as its PNG."""
        from gpufleet.planning.report.plots import render_plots

        return render_plots(self.comparison)

    def figures(self) -> dict[str, Figure]:
        """The same figures as matplotlib ``Figure`` objects, by name, to restyle or save
        as SVG or PDF."""
        from gpufleet.planning.report.plots import render_figures

        return render_figures(self.comparison)

    def write_report(self, folder: str | Path) -> Path:
        """The HTML report ``gpufleet whatif --report DIR`` writes; its page's path."""
        from gpufleet.planning.report.html import write_report

        return write_report(self.comparison, Path(folder))

    def __str__(self) -> str:
        return render_comparison(self.to_dict())

    def _repr_html_(self) -> str:
        """What a notebook shows: the command's text tables."""
        return f"<pre>{html.escape(str(self))}</pre>"

    @staticmethod
    def _known(key: str, names: Sequence[str], kind: str = "arm") -> None:
        if key not in names:
            raise InputError(f"no {kind} {key!r} in this comparison (expected one of {names})")


def _rows(arm: str, figure: str, f: Figures) -> list[dict[str, Any]]:
    scopes: list[tuple[Scope, str, Mapping[Any, Estimate]]] = [
        *(("program", p, es) for p, es in f.programs.items()),
        *(("entity", e, es) for e, es in f.entities.items()),
        ("fleet", "fleet", f.fleet),
    ]
    return [
        {
            "arm": arm,
            "figure": figure,
            "scope": scope,
            "name": name,
            "metric": metric,
            "mean": e.mean,
            "ci95_low": e.low if math.isfinite(e.low) else None,
            "ci95_high": e.high if math.isfinite(e.high) else None,
            "n": e.n,
            "within_noise": e.within_noise,
        }
        for scope, name, es in scopes
        for metric, e in es.items()
    ]

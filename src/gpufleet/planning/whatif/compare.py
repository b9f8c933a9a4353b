"""Run a base scenario and its variants over N seeds and compare them.

Seed i drives the same workload randomness in every arm, so differences are paired (see
:mod:`gpufleet.planning.whatif.stats`). Runs go to local worker processes when ``workers > 1``.
A milestone not reached within the horizon counts as reached at the horizon for the
arithmetic and is reported as censored (``not_reached`` seeds).

The statistics read each run's typed figures (:mod:`gpufleet.sim.metrics`), unrounded:
a mean over seeds is the mean of exact figures, rounded once, when written as JSON
(``Comparison.to_dict``) or text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from gpufleet.domain.scenario import Scenario
from gpufleet.planning.whatif.charges import charges
from gpufleet.planning.whatif.shapes import (
    ArmJson,
    ComparisonJson,
    Estimates,
    FiguresJson,
    MilestoneSpreadJson,
)
from gpufleet.planning.whatif.stats import Estimate, estimate, paired
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation

ProgramMetric = Literal[
    "milestone_delay_days",
    "queueing_delay_mean_s",
    "queueing_delay_p95_s",
    "jct_mean_s",
    "jct_p95_s",
    "gpu_hours_received",
    "gpu_hours_entitled",
    "received_over_entitled",
    "work_done_gpu_hours",
]
EntityMetric = Literal[
    "gpu_hours_used",
    "gpu_hours_lent",
    "gpu_hours_borrowed",
    "stranded_gpu_days",
    "stranded_cost_usd",
    "cost_usd",
]
FleetMetric = Literal["utilisation", "fairness_jain", "stranded_gpu_days", "idle_ready_gpu_hours"]

PROGRAM_METRICS: tuple[ProgramMetric, ...] = (
    "milestone_delay_days",
    "queueing_delay_mean_s",
    "queueing_delay_p95_s",
    "jct_mean_s",
    "jct_p95_s",
    "gpu_hours_received",
    "gpu_hours_entitled",
    "received_over_entitled",
    "work_done_gpu_hours",
)
ENTITY_METRICS: tuple[EntityMetric, ...] = (
    "gpu_hours_used",
    "gpu_hours_lent",
    "gpu_hours_borrowed",
    "stranded_gpu_days",
    "stranded_cost_usd",
    "cost_usd",
)
FLEET_METRICS: tuple[FleetMetric, ...] = (
    "utilisation",
    "fairness_jain",
    "stranded_gpu_days",
    "idle_ready_gpu_hours",
)
_Metric = TypeVar("_Metric", bound=str)


def _run(sc: Scenario, seed: int) -> SimResult:
    return Simulation(sc, seed=seed).run()


def program_figures(r: SimResult, prog: str) -> dict[ProgramMetric, float]:
    """A program's compared figures in one run, unrounded; a milestone not reached within
    the horizon counts as reached at the horizon."""
    p = r.metrics.programs[prog]
    ms = p.milestone
    return {
        "milestone_delay_days": ms.delay_days_censored(r.end) if ms is not None else 0.0,
        "queueing_delay_mean_s": p.queueing_delay_s.mean,
        "queueing_delay_p95_s": p.queueing_delay_s.p95,
        "jct_mean_s": p.jct_s.mean,
        "jct_p95_s": p.jct_s.p95,
        "gpu_hours_received": p.gpu_hours_received,
        "gpu_hours_entitled": p.gpu_hours_entitled,
        "received_over_entitled": p.received_over_entitled or 0.0,
        "work_done_gpu_hours": p.work_done_gpu_hours,
    }


def entity_figures(r: SimResult, ent: str) -> dict[EntityMetric, float]:
    e = r.metrics.entities[ent]
    return {
        "gpu_hours_used": e.gpu_hours_used,
        "gpu_hours_lent": e.gpu_hours_lent,
        "gpu_hours_borrowed": e.gpu_hours_borrowed,
        "stranded_gpu_days": e.stranded_gpu_days,
        "stranded_cost_usd": e.stranded_cost_usd,
        "cost_usd": e.cost_usd,
    }


def fleet_figures(r: SimResult) -> dict[FleetMetric, float]:
    f = r.metrics.fleet
    return {
        "utilisation": f.utilisation,
        "fairness_jain": f.fairness_jain,
        "stranded_gpu_days": f.stranded_gpu_days,
        "idle_ready_gpu_hours": f.idle_ready_gpu_hours,
    }


def _estimates_to_dict(es: Mapping[_Metric, Estimate]) -> Estimates:
    return {m: e.as_dict() for m, e in es.items()}


@dataclass(frozen=True)
class Figures:
    """Per program, entity and the fleet: one :class:`Estimate` per compared metric, over
    the seeds (an arm's means) or paired by seed (a variant's differences from the base)."""

    programs: dict[str, dict[ProgramMetric, Estimate]]
    entities: dict[str, dict[EntityMetric, Estimate]]
    fleet: dict[FleetMetric, Estimate]

    def to_dict(self) -> FiguresJson:
        return {
            "programs": {k: _estimates_to_dict(v) for k, v in self.programs.items()},
            "entities": {k: _estimates_to_dict(v) for k, v in self.entities.items()},
            "fleet": _estimates_to_dict(self.fleet),
        }


@dataclass(frozen=True)
class MilestoneSpread:
    """A milestone over an arm's seeds: the dates it was reached, and in how many seeds it
    was not reached within the horizon."""

    due: datetime
    reached: list[datetime]
    not_reached: int

    def to_dict(self) -> MilestoneSpreadJson:
        return {
            "due": self.due.isoformat(),
            "reached": [d.isoformat() for d in self.reached],
            "not_reached": self.not_reached,
        }


@dataclass(frozen=True)
class ArmFigures:
    """One arm over the seeds: its scenario's name, its figures' means with their 95%
    intervals, and its programs' milestones (programs without one are absent)."""

    scenario: str
    figures: Figures
    milestones: dict[str, MilestoneSpread]

    def to_dict(self) -> ArmJson:
        f = self.figures.to_dict()
        return {
            "scenario": self.scenario,
            "programs": f["programs"],
            "entities": f["entities"],
            "fleet": f["fleet"],
            "milestones": {k: m.to_dict() for k, m in self.milestones.items()},
        }


def _milestones(res: list[SimResult], prog: str) -> MilestoneSpread | None:
    ms = [r.metrics.programs[prog].milestone for r in res]
    first = ms[0]
    if first is None:
        return None
    reached = [m.reached for m in ms if m is not None and m.reached is not None]
    return MilestoneSpread(first.due, reached, len(ms) - len(reached))


@dataclass
class Comparison:
    base: str
    arms: dict[str, Scenario]
    seeds: list[int]
    results: dict[str, list[SimResult]] = field(repr=False)
    market_rate: float | None = None
    markup: float = 0.0

    @property
    def variants(self) -> list[str]:
        return [a for a in self.arms if a != self.base]

    def arm(self, arm: str) -> ArmFigures:
        """``arm``'s figures: each metric's mean over the seeds with its 95% interval."""
        res = self.results[arm]
        first = self.results[self.base][0].metrics
        programs = {}
        milestones = {}
        for prog in first.programs:
            vals = [program_figures(r, prog) for r in res]
            programs[prog] = {m: estimate([v[m] for v in vals]) for m in PROGRAM_METRICS}
            spread = _milestones(res, prog)
            if spread is not None:
                milestones[prog] = spread
        entities = {}
        for ent in first.entities:
            vals_e = [entity_figures(r, ent) for r in res]
            entities[ent] = {m: estimate([v[m] for v in vals_e]) for m in ENTITY_METRICS}
        vals_f = [fleet_figures(r) for r in res]
        fleet = {m: estimate([v[m] for v in vals_f]) for m in FLEET_METRICS}
        return ArmFigures(self.arms[arm].name, Figures(programs, entities, fleet), milestones)

    def deltas(self, arm: str) -> Figures:
        """``arm`` - base, paired by seed: each metric's mean difference and its interval."""
        base, other = self.results[self.base], self.results[arm]
        first = base[0].metrics
        programs = {}
        for prog in first.programs:
            b = [program_figures(r, prog) for r in base]
            v = [program_figures(r, prog) for r in other]
            programs[prog] = {
                m: paired([x[m] for x in b], [y[m] for y in v]) for m in PROGRAM_METRICS
            }
        entities = {}
        for ent in first.entities:
            be = [entity_figures(r, ent) for r in base]
            ve = [entity_figures(r, ent) for r in other]
            entities[ent] = {
                m: paired([x[m] for x in be], [y[m] for y in ve]) for m in ENTITY_METRICS
            }
        bf, vf = [fleet_figures(r) for r in base], [fleet_figures(r) for r in other]
        fleet = {m: paired([x[m] for x in bf], [y[m] for y in vf]) for m in FLEET_METRICS}
        return Figures(programs, entities, fleet)

    def to_dict(self) -> ComparisonJson:
        """The comparison as JSON values: each estimate rounded to 4 decimals, dates ISO."""
        return {
            "base": self.base,
            "variants": self.variants,
            "seeds": self.seeds,
            "arms": {arm: self.arm(arm).to_dict() for arm in self.arms},
            "deltas": {arm: self.deltas(arm).to_dict() for arm in self.variants},
            "charges": {
                arm: [c.as_dict() for c in charges(sc, self.market_rate, self.markup)]
                for arm, sc in self.arms.items()
            },
        }


def compare(
    base_name: str,
    arms: dict[str, Scenario],
    seeds: Sequence[int],
    workers: int = 1,
    progress: Callable[[float], None] | None = None,
    market_rate: float | None = None,
    markup: float = 0.0,
) -> Comparison:
    """Every arm under every seed. ``arms`` must include ``base_name``."""
    jobs = [(arm, s) for arm in arms for s in seeds]
    results: dict[str, list[SimResult]] = {arm: [] for arm in arms}
    done = 0
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run, arms[arm], s) for arm, s in jobs]
            for (arm, _), fut in zip(jobs, futures, strict=True):
                results[arm].append(fut.result())
                done += 1
                if progress:
                    progress(done / len(jobs))
    else:
        for arm, s in jobs:
            results[arm].append(_run(arms[arm], s))
            done += 1
            if progress:
                progress(done / len(jobs))
    return Comparison(base_name, dict(arms), list(seeds), results, market_rate, markup)

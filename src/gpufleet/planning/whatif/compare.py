"""Run a base scenario and its variants over N seeds and compare them.

Seed i drives the same workload randomness in every arm, so differences are paired (see
:mod:`gpufleet.planning.whatif.stats`). Runs go to local worker processes when ``workers > 1``.
A milestone not reached within the horizon counts as reached at the horizon for the
arithmetic and is reported as censored (``not_reached`` seeds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gpufleet.domain.scenario import Scenario
from gpufleet.planning.whatif.charges import charges
from gpufleet.planning.whatif.stats import estimate, paired
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation

PROGRAM_METRICS = (
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
ENTITY_METRICS = (
    "gpu_hours_used",
    "gpu_hours_lent",
    "gpu_hours_borrowed",
    "stranded_gpu_days",
    "cost_usd",
)
FLEET_METRICS = ("utilisation", "fairness_jain", "stranded_gpu_days", "idle_ready_gpu_hours")


def _run(sc: Scenario, seed: int) -> SimResult:
    return Simulation(sc, seed=seed).run()


def program_values(r: SimResult, prog: str) -> dict[str, float]:
    p = r.programs[prog]
    ms = p["milestone"]
    delay = 0.0
    if ms is not None:
        if ms["delay_days"] is not None:
            delay = ms["delay_days"]
        else:  # censored: counted as reached at the horizon
            due = datetime.fromisoformat(ms["due"])  # naive: no .timestamp() (local DST)
            end = r.start + timedelta(seconds=r.horizon_s)
            delay = (end - due).total_seconds() / 86400
    return {
        "milestone_delay_days": delay,
        "queueing_delay_mean_s": p["queueing_delay_s"]["mean"],
        "queueing_delay_p95_s": p["queueing_delay_s"]["p95"],
        "jct_mean_s": p["jct_s"]["mean"],
        "jct_p95_s": p["jct_s"]["p95"],
        "gpu_hours_received": p["gpu_hours_received"],
        "gpu_hours_entitled": p["gpu_hours_entitled"],
        "received_over_entitled": p["received_over_entitled"] or 0.0,
        "work_done_gpu_hours": p["work_done_gpu_hours"],
    }


@dataclass
class Comparison:
    base: str
    arms: dict[str, Scenario]
    seeds: list[int]
    results: dict[str, list[SimResult]] = field(repr=False)
    market_rate: float | None = None
    markup: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        base = self.base
        first = self.results[base][0]
        out: dict[str, Any] = {
            "base": base,
            "variants": [a for a in self.arms if a != base],
            "seeds": self.seeds,
            "arms": {},
            "deltas": {},
            "charges": {},
        }
        for arm, sc in self.arms.items():
            res = self.results[arm]
            a: dict[str, Any] = {
                "scenario": sc.name,
                "programs": {},
                "entities": {},
                "fleet": {},
                "milestones": {},
            }
            for prog in first.programs:
                vals = [program_values(r, prog) for r in res]
                a["programs"][prog] = {
                    m: estimate([v[m] for v in vals]).as_dict() for m in PROGRAM_METRICS
                }
                ms = [r.programs[prog]["milestone"] for r in res]
                if ms[0] is not None:
                    reached = [m["reached"] for m in ms if m and m["reached"]]
                    a["milestones"][prog] = {
                        "due": ms[0]["due"],
                        "reached": reached,
                        "not_reached": len(ms) - len(reached),
                    }
            for ent in first.entities:
                a["entities"][ent] = {
                    m: estimate([r.entities[ent][m] for r in res]).as_dict() for m in ENTITY_METRICS
                }
            a["fleet"] = {m: estimate([r.fleet[m] for r in res]).as_dict() for m in FLEET_METRICS}
            out["arms"][arm] = a
            out["charges"][arm] = [c.as_dict() for c in charges(sc, self.market_rate, self.markup)]
        for arm in self.arms:
            if arm != base:
                out["deltas"][arm] = self._deltas(arm)
        return out

    def _deltas(self, arm: str) -> dict[str, Any]:
        base, first = self.base, self.results[self.base][0]
        d: dict[str, Any] = {"programs": {}, "entities": {}, "fleet": {}}
        for prog in first.programs:
            b = [program_values(r, prog) for r in self.results[base]]
            v = [program_values(r, prog) for r in self.results[arm]]
            d["programs"][prog] = {
                m: paired([x[m] for x in b], [y[m] for y in v]).as_dict() for m in PROGRAM_METRICS
            }
        for ent in first.entities:
            d["entities"][ent] = {
                m: paired(
                    [r.entities[ent][m] for r in self.results[base]],
                    [r.entities[ent][m] for r in self.results[arm]],
                ).as_dict()
                for m in ENTITY_METRICS
            }
        d["fleet"] = {
            m: paired(
                [r.fleet[m] for r in self.results[base]], [r.fleet[m] for r in self.results[arm]]
            ).as_dict()
            for m in FLEET_METRICS
        }
        return d


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

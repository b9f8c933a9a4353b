"""A sweep's results: every cell under every seed (:func:`run_sweep`), each figure the mean
over seeds with a Student-t 95% interval, as JSON, a flat CSV table or a grid for the heat
map."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.planning.sweep.execution import Figures, Progress, RunPool, metric_names
from gpufleet.planning.sweep.spec import Cell, SweepSpec, build_cells
from gpufleet.planning.whatif.charges import charges
from gpufleet.planning.whatif.stats import estimate


@dataclass
class SweepResult:
    base: str
    spec: SweepSpec
    seeds: list[int]
    metrics: list[str]
    cells: list[dict[str, Any]]
    distinct_scenarios: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "templates": [str(t) for t in self.spec.templates],
            "grid": {a.name: list(a.values) for a in self.spec.axes},
            "seeds": self.seeds,
            "metrics": self.metrics,
            "distinct_scenarios": self.distinct_scenarios,
            "cells": self.cells,
        }

    def rows(self) -> list[dict[str, Any]]:
        """The table flat, one row per cell: what the CSV holds."""
        out = []
        for c in self.cells:
            row: dict[str, Any] = {"cell": c["cell"], **c["values"]}
            row["changes"] = "; ".join(c["changes"])
            for m in self.metrics:
                e = c["metrics"][m]
                row[m] = e["mean"]
                row[f"{m}.ci95_low"] = e["ci95_low"]
                row[f"{m}.ci95_high"] = e["ci95_high"]
            for prog, n in c["not_reached"].items():
                row[f"{prog}.milestone_not_reached"] = n
            row["intercompany_fair_usd"] = c["intercompany_fair_usd"]
            out.append(row)
        return out

    def to_csv(self) -> str:
        rows = self.rows()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def grid_of(self, metric: str) -> tuple[list[str], list[str], list[list[float]]]:
        """(row labels, column labels, means): the first axis down, the second across (one
        axis: a single row)."""
        axes = self.spec.axes
        if len(axes) > 2:
            raise InputError(f"a heat map needs 1 or 2 grid axes, not {len(axes)}")
        cols = list(axes[-1].values)
        rows = list(axes[0].values) if len(axes) == 2 else [""]
        means = [c["metrics"][metric]["mean"] for c in self.cells]
        return rows, cols, [means[i * len(cols) : (i + 1) * len(cols)] for i in range(len(rows))]


def run_sweep(
    base: Scenario,
    spec: SweepSpec,
    seeds: Sequence[int],
    executor: RunPool,
    progress: Progress | None = None,
) -> SweepResult:
    """Every cell under every seed (each distinct scenario once per seed)."""
    cells, scenarios, index = build_cells(base, spec)
    tasks = [(i, s) for i in range(len(scenarios)) for s in seeds]
    figures = executor.run(scenarios, tasks, progress)
    by_scenario: list[list[Figures]] = [[] for _ in scenarios]
    for (i, _), f in zip(tasks, figures, strict=True):
        by_scenario[i].append(f)
    names = metric_names(base)
    rows = [
        _cell_row(cell, scenarios[i], base, by_scenario[i], names)
        for cell, i in zip(cells, index, strict=True)
    ]
    return SweepResult(base.name, spec, list(seeds), names, rows, len(scenarios))


def _cell_row(
    cell: Cell, sc: Scenario, base: Scenario, runs: list[Figures], names: list[str]
) -> dict[str, Any]:
    added = sc.transfers[len(base.transfers) :]
    fair = sum(c.fair_usd for c in charges(replace(sc, transfers=added)))
    reached = [k.removesuffix(".milestone_reached") for k in runs[0] if k.endswith("_reached")]
    return {
        "cell": cell.name,
        "values": dict(cell.values),
        "changes": [f"{k}: {s}" for k, s in cell.changes],
        "metrics": {m: estimate([r[m] for r in runs]).as_dict() for m in names},
        "not_reached": {
            p: sum(1 for r in runs if not r[f"{p}.milestone_reached"]) for p in reached
        },
        "intercompany_fair_usd": round(fair),
    }

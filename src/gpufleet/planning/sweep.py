"""Sweeps: change templates over a grid of values, every cell under every seed.

A sweep is a what-if whose variants come from one pattern::

    --template "{gpus} H100 tesla->xai@xai-memphis {start}"
    --grid "gpus=0,4000,8000,12000" --grid "start=2024-06-15,2024-08-15"

makes 4 x 2 = 8 *cells*, each the base scenario with the template's change, its
placeholders filled with that cell's values. A template is a change short form (see
:mod:`gpufleet.planning.whatif.changes`), a move unless it starts with ``KIND:`` (``"delay:
tesla-gigatexas +{days}d"``); several templates make several changes per cell. A move or a
delivery of 0 GPUs is *no change*: a cell whose changes are all such is the base itself.
Cells whose changes come out the same (every ``gpus=0`` cell) are simulated once.

Every (scenario, seed) pair is an independent task. An :class:`Executor` runs them: in this
process, in local worker processes (:class:`LocalExecutor`), or on a Ray cluster
(:class:`RayExecutor`: the way to outgrow one machine; the scenario goes to the workers
pickled, and ``gpufleet`` must be importable there). Each task returns a small flat dict of
figures (:func:`task_metrics`), not the whole result, so little crosses the wire. Results
do not depend on the executor: the same scenario and seed give the same figures anywhere.

A cell's figure is the mean over seeds with a Student-t 95% interval
(:func:`gpufleet.planning.whatif.stats.estimate`); a milestone not reached within the horizon counts
as reached at the horizon and is counted in ``not_reached`` (as in ``gpufleet whatif``).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError, Problem, ScenarioError
from gpufleet.inputs.scenario.yamlsrc import Path as YPath
from gpufleet.inputs.scenario.yamlsrc import dotted, parse
from gpufleet.planning.whatif.apply import apply_changes
from gpufleet.planning.whatif.changes import PARSERS, Change, ChangeError
from gpufleet.planning.whatif.charges import charges
from gpufleet.planning.whatif.compare import program_values
from gpufleet.planning.whatif.stats import estimate
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation

GRID_FORM = "NAME=V1,V2,..., e.g. 'gpus=0,4000,8000'"
TEMPLATE_FORM = "[KIND:] a change with {NAME} placeholders, e.g. '{gpus} H100 tesla->xai {start}'"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NULLABLE = ("move", "deliver")  # a first part of 0 (GPUs) is no change at all

Progress = Callable[[float], None]
Figures = dict[str, float]


# --- the spec: templates and axes ------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    kind: str
    text: str

    def fill(self, values: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its (axis, value) pairs and the changes they make."""

    values: tuple[tuple[str, str], ...]
    changes: tuple[tuple[str, str], ...]  # (kind, text); changes of 0 GPUs left out

    @property
    def name(self) -> str:
        return " ".join(f"{a}={v}" for a, v in self.values)


@dataclass(frozen=True)
class SweepSpec:
    templates: tuple[Template, ...]
    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        if not self.templates:
            raise InputError(f"a sweep needs a --template ({TEMPLATE_FORM})")
        if not self.axes:
            raise InputError(f"a sweep needs a --grid ({GRID_FORM})")
        names = [a.name for a in self.axes]
        for n in names:
            if names.count(n) > 1:
                raise InputError(f"--grid {n!r} is given twice")
        used = {p for t in self.templates for p in _PLACEHOLDER.findall(t.text)}
        for p in sorted(used - set(names)):
            raise InputError(
                f"--template: placeholder {{{p}}} has no --grid; axes: " + ", ".join(names)
            )
        for n in names:
            if n not in used:
                raise InputError(f"--grid {n!r}: no template uses {{{n}}}")

    def cells(self) -> list[Cell]:
        """Every combination, the first axis varying slowest."""
        out = []
        for combo in itertools.product(*(a.values for a in self.axes)):
            values = dict(zip((a.name for a in self.axes), combo, strict=True))
            filled = [(t.kind, t.fill(values)) for t in self.templates]
            changes = tuple((k, s) for k, s in filled if not _is_null(k, s))
            out.append(Cell(tuple(values.items()), changes))
        return out


def _is_null(kind: str, text: str) -> bool:
    first = text.split()[:1]
    if kind not in _NULLABLE or not first:
        return False
    try:
        return float(first[0]) == 0
    except ValueError:
        return False


def parse_grid(text: str) -> Axis:
    """``name=v1,v2,...``; values stay text (they are substituted into templates)."""

    def fail(problem: str) -> InputError:
        return InputError(f"--grid {text!r}: {problem} (expected {GRID_FORM})")

    name, eq, rest = text.partition("=")
    name = name.strip()
    if not eq:
        raise fail("no '='")
    if not name.isidentifier():
        raise fail(f"{name!r} is not a name (letters, digits and _)")
    values = tuple(v.strip() for v in rest.split(","))
    if not rest.strip() or any(not v for v in values):
        raise fail("an empty value")
    for v in values:
        if values.count(v) > 1:
            raise fail(f"the value {v!r} is given twice")
    return Axis(name, values)


def parse_template(text: str) -> Template:
    """``[KIND:] short form``: a move unless a change kind and a colon come first."""
    head, colon, rest = text.partition(":")
    if colon and head.strip().isidentifier() and not _PLACEHOLDER.search(head):
        kind, body = head.strip(), rest.strip()
        if kind not in PARSERS:
            raise InputError(
                f"--template {text!r}: unknown change kind {kind!r}; kinds: " + ", ".join(PARSERS)
            )
    else:
        kind, body = "move", text.strip()
    if not body:
        raise InputError(f"--template {text!r}: no change (expected {TEMPLATE_FORM})")
    for p in _PLACEHOLDER.findall(body):
        if not p.isidentifier():
            raise InputError(f"--template {text!r}: {{{p}}} is not a placeholder name")
    return Template(kind, body)


# --- a sweep file ----------------------------------------------------------------------
@dataclass(frozen=True)
class SweepFile:
    """A sweep written down: what ``--template``, ``--grid`` and friends say, in YAML.

    .. code-block:: yaml

        name: move-size-by-month
        scenario: article.yaml          # optional, relative to this file
        changes:                        # templates: "KIND: text", or {KIND: text}
          - move: "{gpus} H100 tesla->xai@xai-memphis {start}"
        grid:
          gpus: [0, 4000, 8000, 12000]
          start: [2024-06-15, 2024-08-15]
        seeds: 3                        # optional
        metric: fsd-training.milestone_delay_days   # optional: the heat map's
    """

    spec: SweepSpec
    name: str
    description: str = ""
    scenario: Path | None = None
    seeds: int | None = None
    metric: str | None = None


_FILE_KEYS = ("name", "description", "scenario", "changes", "grid", "seeds", "metric")


def load_sweep_file(path: str | Path) -> SweepFile:
    """The sweep of a YAML file, or a ScenarioError listing every problem with its line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the sweep file ({e})") from None
    src, problems = parse(text, str(p))
    if src is None:
        raise ScenarioError(str(p), problems)
    doc = src.value

    def bad(where: YPath, message: str, expected: str) -> None:
        problems.append(Problem(dotted(where), message, expected, str(p), src.line(where)))

    if not isinstance(doc, dict):
        bad((), "the top level is not a mapping", ", ".join(_FILE_KEYS))
        raise ScenarioError(str(p), problems)
    for key in doc:
        if key not in _FILE_KEYS:
            bad((key,), f"unknown key {key!r}", "one of: " + ", ".join(_FILE_KEYS))
    templates = _file_templates(doc.get("changes"), bad)
    axes = _file_axes(doc.get("grid"), bad)
    seeds = doc.get("seeds")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        bad(("seeds",), f"{seeds!r} is not a whole number >= 1", "seeds: 3")
    for key in ("name", "description", "scenario", "metric"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            bad((key,), f"{doc[key]!r} is not text", f"{key}: a string")
    if not problems:
        try:
            spec = SweepSpec(tuple(templates), tuple(axes))
        except InputError as e:
            bad(("changes",), str(e), "every placeholder a grid axis, every axis used")
    if problems:
        raise ScenarioError(str(p), problems)
    scenario = doc.get("scenario")
    return SweepFile(
        spec,
        doc.get("name") or p.stem,
        doc.get("description") or "",
        p.parent / scenario if scenario else None,
        seeds,
        doc.get("metric"),
    )


Bad = Callable[[YPath, str, str], None]


def _file_templates(items: Any, bad: Bad) -> list[Template]:
    if not isinstance(items, list) or not items:
        bad(("changes",), "no list of change templates", 'changes: [- move: "{gpus} H100 ..."]')
        return []
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and len(item) == 1:
            ((kind, text),) = item.items()
            text = f"{kind}: {text}" if isinstance(text, str) else None
        else:
            text = item if isinstance(item, str) else None
        if text is None:
            bad(("changes", i), "not a template", "KIND: a short form with {NAME} placeholders")
            continue
        try:
            out.append(parse_template(text))
        except InputError as e:
            bad(("changes", i), str(e), "")
    return out


def _file_axes(grid: Any, bad: Bad) -> list[Axis]:
    if not isinstance(grid, dict) or not grid:
        bad(("grid",), "no grid", "grid: {NAME: [V1, V2, ...]}")
        return []
    out = []
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            bad(("grid", name), "not a list of values", f"{name}: [V1, V2, ...]")
            continue
        texts = []
        for j, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, str | int | float | date):
                bad(("grid", name, j), f"{v!r} is not a number, a date or text", "")
            texts.append(v.isoformat() if isinstance(v, date) else str(v))
        try:
            out.append(parse_grid(f"{name}=" + ",".join(texts)))
        except InputError as e:
            bad(("grid", name), str(e), "")
    return out


# --- cells to scenarios ----------------------------------------------------------------
def build_cells(base: Scenario, spec: SweepSpec) -> tuple[list[Cell], list[Scenario], list[int]]:
    """(cells, distinct scenarios, the scenario index of each cell). Every cell's changes
    are parsed and checked against the base here, before anything runs."""
    cells = spec.cells()
    scenarios: list[Scenario] = []
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    index: list[int] = []
    for cell in cells:
        key = cell.changes
        if key not in seen:
            seen[key] = len(scenarios)
            scenarios.append(_scenario(base, cell))
        index.append(seen[key])
    return cells, scenarios, index


def _scenario(base: Scenario, cell: Cell) -> Scenario:
    if not cell.changes:
        return base
    try:
        parsed: list[tuple[Change, str]] = [(PARSERS[k](s), s) for k, s in cell.changes]
        return apply_changes(base, parsed, f"{base.name} [{cell.name}]")
    except ChangeError as e:
        raise InputError(f"sweep cell {cell.name}: {e}") from None
    except InputError as e:
        raise InputError(f"sweep cell {cell.name}: {e}", e.problems) from None


# --- figures of one run ----------------------------------------------------------------
def metric_names(sc: Scenario) -> list[str]:
    """Every figure a cell reports, in table order."""
    out = [f"{p.name}.milestone_delay_days" for p in sc.programs() if p.milestone is not None]
    for p in sc.programs():
        out += [f"{p.name}.gpu_hours_received", f"{p.name}.queueing_delay_mean_s"]
    for e in sc.entities:
        out += [f"{e.name}.stranded_gpu_days", f"{e.name}.cost_usd"]
    return [*out, "fleet.stranded_gpu_days", "fleet.utilisation", "fleet.cost_usd"]


def task_metrics(r: SimResult) -> Figures:
    out: Figures = {}
    for prog, p in r.programs.items():
        v = program_values(r, prog)
        if p["milestone"] is not None:
            out[f"{prog}.milestone_delay_days"] = v["milestone_delay_days"]
            out[f"{prog}.milestone_reached"] = 1.0 if p["milestone"]["reached"] else 0.0
        out[f"{prog}.gpu_hours_received"] = v["gpu_hours_received"]
        out[f"{prog}.queueing_delay_mean_s"] = v["queueing_delay_mean_s"]
    for ent, e in r.entities.items():
        out[f"{ent}.stranded_gpu_days"] = e["stranded_gpu_days"]
        out[f"{ent}.cost_usd"] = e["cost_usd"]
    out["fleet.stranded_gpu_days"] = r.fleet["stranded_gpu_days"]
    out["fleet.utilisation"] = r.fleet["utilisation"]
    out["fleet.cost_usd"] = sum(e["cost_usd"] for e in r.entities.values())
    return out


def run_task(sc: Scenario, seed: int) -> Figures:
    """One independent task: what a worker process or a Ray worker runs."""
    return task_metrics(Simulation(sc, seed=seed).run())


# --- executors -------------------------------------------------------------------------
Task = tuple[int, int]  # (index into the scenarios, seed)


class Executor(Protocol):
    """Runs every task and returns their figures in the tasks' order."""

    @property
    def label(self) -> str: ...

    def run(
        self, scenarios: Sequence[Scenario], tasks: Sequence[Task], progress: Progress | None
    ) -> list[Figures]: ...


@dataclass(frozen=True)
class LocalExecutor:
    """In this process (``workers`` = 1) or in that many local worker processes."""

    workers: int = 1

    @property
    def label(self) -> str:
        return f"{self.workers} local worker{'s' if self.workers != 1 else ''}"

    def run(
        self, scenarios: Sequence[Scenario], tasks: Sequence[Task], progress: Progress | None
    ) -> list[Figures]:
        out: list[Figures | None] = [None] * len(tasks)
        if self.workers == 1 or len(tasks) <= 1:
            for k, (i, seed) in enumerate(tasks):
                out[k] = run_task(scenarios[i], seed)
                _tick(progress, k + 1, len(tasks))
            return _all(out)
        # each worker gets the scenarios once (a replayed trace can be large), tasks by index
        n = min(self.workers, len(tasks))
        with ProcessPoolExecutor(n, initializer=_hold, initargs=(list(scenarios),)) as pool:
            futures = {pool.submit(_run_held, i, s): k for k, (i, s) in enumerate(tasks)}
            for done, fut in enumerate(as_completed(futures), 1):
                out[futures[fut]] = fut.result()
                _tick(progress, done, len(tasks))
        return _all(out)


_HELD: list[Scenario] = []  # a local worker process's copy of the sweep's scenarios


def _hold(scenarios: list[Scenario]) -> None:
    _HELD[:] = scenarios


def _run_held(i: int, seed: int) -> Figures:
    return run_task(_HELD[i], seed)


@dataclass(frozen=True)
class RayExecutor:
    """On a Ray cluster: ``address`` is a cluster's address, ``auto`` (the cluster this
    machine belongs to) or ``local`` (start one in this process, ``num_cpus`` CPUs). When
    Ray is already initialized (a notebook, a test) that cluster is used as it is and left
    running; a cluster started here is shut down at the end."""

    address: str = "local"
    num_cpus: int | None = None

    @property
    def label(self) -> str:
        return f"Ray ({self.address})"

    def run(
        self, scenarios: Sequence[Scenario], tasks: Sequence[Task], progress: Progress | None
    ) -> list[Figures]:
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            if self.address == "local":
                ray.init(num_cpus=self.num_cpus, include_dashboard=False)
            else:
                ray.init(address=self.address)
        try:
            remote = ray.remote(run_task)
            refs_of = [ray.put(sc) for sc in scenarios]  # each scenario pickled once
            refs = [remote.remote(refs_of[i], seed) for i, seed in tasks]
            order = {ref: k for k, ref in enumerate(refs)}
            out: list[Figures | None] = [None] * len(tasks)
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    out[order[ref]] = ray.get(ref)
                _tick(progress, len(tasks) - len(pending), len(tasks))
            return _all(out)
        finally:
            if started:
                ray.shutdown()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(
            "--ray: Ray is not installed here; install it with pip install 'gpufleet[ray]'"
        ) from None
    return ray


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done / total)


def _all(out: list[Figures | None]) -> list[Figures]:
    return [f for f in out if f is not None]


# --- the sweep -------------------------------------------------------------------------
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
    executor: Executor,
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


# --- the heat map ----------------------------------------------------------------------
def write_heatmap(result: SweepResult, metric: str, path: Path) -> None:
    """One metric's mean over the two grid axes, each cell labelled with its value."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    rows, cols, z = result.grid_of(metric)
    axes = result.spec.axes
    width, height = max(6.0, 2.0 + 0.9 * len(cols)), max(3.5, 1.8 + 0.45 * len(rows))
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    img = ax.imshow(z, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(axes[-1].name)
    if len(axes) == 2:
        ax.set_ylabel(axes[0].name)
    lo, hi = min(min(r) for r in z), max(max(r) for r in z)
    for i, row in enumerate(z):
        for j, v in enumerate(row):
            dark = hi > lo and (v - lo) / (hi - lo) < 0.5
            ax.text(j, i, _short(v), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")  # fmt: skip
    fig.colorbar(img, ax=ax).set_label(metric, fontsize=8)
    seeds = f"mean of {len(result.seeds)} seed{'s' if len(result.seeds) != 1 else ''}"
    ax.set_title(f"{metric}\n{result.base}, {seeds}", fontsize=9)
    fig.savefig(path, dpi=110)


def _short(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.1f}M"
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.2f}"


def output_paths(out: Path, metric: str) -> dict[str, Path]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", metric)
    return {
        "csv": out / "sweep.csv",
        "json": out / "sweep.json",
        "png": out / f"heatmap-{safe}.png",
    }

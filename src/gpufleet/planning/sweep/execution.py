"""Running a sweep's tasks: each (scenario, seed) pair is independent, and a
:class:`RunPool` runs them, in this process or local worker processes
(:class:`LocalExecutor`) or on a Ray cluster (:class:`RayExecutor`). A task returns a small
flat dict of figures (:func:`task_metrics`), not the whole result, so little crosses the
wire.

(A ``RunPool`` was called ``Executor`` here; that name is the engine's seam,
:class:`gpufleet.engine.Executor`, which applies decisions to a fleet.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from gpufleet.domain.scenario import Scenario
from gpufleet.extras import require
from gpufleet.planning.whatif.compare import entity_figures, fleet_figures, program_figures
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation

Progress = Callable[[float], None]
Figures = dict[str, float]


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
    """One run's figures, unrounded (the same as the what-if compares; a run's JSON prints
    them rounded)."""
    out: Figures = {}
    for prog, p in r.metrics.programs.items():
        v = program_figures(r, prog)
        if p.milestone is not None:
            out[f"{prog}.milestone_delay_days"] = v["milestone_delay_days"]
            out[f"{prog}.milestone_reached"] = 0.0 if p.milestone.reached is None else 1.0
        out[f"{prog}.gpu_hours_received"] = v["gpu_hours_received"]
        out[f"{prog}.queueing_delay_mean_s"] = v["queueing_delay_mean_s"]
    costs = 0.0
    for ent in r.metrics.entities:
        e = entity_figures(r, ent)
        out[f"{ent}.stranded_gpu_days"] = e["stranded_gpu_days"]
        out[f"{ent}.cost_usd"] = e["cost_usd"]
        costs += e["cost_usd"]
    f = fleet_figures(r)
    out["fleet.stranded_gpu_days"] = f["stranded_gpu_days"]
    out["fleet.utilisation"] = f["utilisation"]
    out["fleet.cost_usd"] = costs
    return out


def run_task(sc: Scenario, seed: int) -> Figures:
    """One independent task: what a worker process or a Ray worker runs."""
    return task_metrics(Simulation(sc, seed=seed).run())


# --- run pools -------------------------------------------------------------------------
Task = tuple[int, int]  # (index into the scenarios, seed)


class RunPool(Protocol):
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
    return require("ray", "ray", "`sweep --ray`")


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done / total)


def _all(out: list[Figures | None]) -> list[Figures]:
    return [f for f in out if f is not None]

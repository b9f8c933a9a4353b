"""Run a simulation with the invariants checked after every event."""

from __future__ import annotations

from typing import Any

from gpufleet.policies.base import Decision
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import Job
from tests.support import invariants


def checked_run(sim: Simulation) -> dict[int, float]:
    """Run with invariants checked after every cycle; returns kept work per finished job."""
    return checked_run_result(sim)[0]


def checked_run_result(sim: Simulation) -> tuple[dict[int, float], Any]:
    """checked_run, also returning the result."""
    kept: dict[int, float] = {}
    finished: dict[int, float] = {}
    cycle, on_stop = sim.engine.cycle, sim.recorder.on_stop

    def checked_cycle(now: float) -> Any:
        d = cycle(now)
        invariants.check(sim.state)
        invariants.check_quota_aggregates(sim.state)
        return d

    def watching_stop(job: Job, now: float, progress: float, lost: float, done: bool) -> None:
        kept[job.spec.id] = kept.get(job.spec.id, 0.0) + progress - lost
        if done:
            finished[job.spec.id] = job.spec.work_s
        on_stop(job, now, progress, lost, done)

    sim.engine.cycle = checked_cycle  # type: ignore[method-assign]
    sim.engine.observer = sim.recorder
    sim.recorder.on_stop = watching_stop  # type: ignore[method-assign]
    res = sim.run()
    return {j: kept[j] - w for j, w in finished.items()}, res


def decisions(sim: Simulation) -> tuple[list[Any], str]:
    """Every cycle's decision (ids, placements, reasons, wake-up) and the result's JSON."""
    log: list[Any] = []
    cycle = sim.engine.cycle

    def logging(now: float) -> Decision:
        d = cycle(now)
        log.append(
            (
                now,
                [(j.spec.id, p.group, p.slots) for j, p in d.admit],
                [j.spec.id for j in d.preempt],
                [(j.spec.id, str(r)) for j, r in d.blocked],
                d.wake_at,
            )
        )
        return d

    sim.engine.cycle = logging  # type: ignore[method-assign,assignment]
    return log, sim.run().to_json()

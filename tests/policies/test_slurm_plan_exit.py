"""The planning backfill's fast paths: the exact early exit (gpufleet.policies.slurm.planexit:
a pass stops planning once no job left could start now, gives the rest their reasons at
once and plans them only when asked) and the one-node search by clean nodes
(gpufleet.policies.slurm.cleannodes). Oracle: on seeded workloads with time limits, two
GPU types, gangs larger than a node, node failures and Slurm's timing options, every job
starts and ends at the same instant on as many GPUs, and waits as long under each reason,
as under the reference pass that plans every examined job with the dense search
(``exit = sparse = False``); and at every cycle the planned start asked for each job is
the reference's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gpufleet.domain.scenario import OptionValue
from gpufleet.policies.slurm import SlurmBackfill
from gpufleet.sim.simulator import Simulation
from tests.support.scenarios import limited_two_types
from tests.support.slurm_harness import EXAMPLE_WEIGHTS


class _Asking(SlurmBackfill):
    """With ``ask``, records after every cycle the planned start of every pending job of
    the cohorts it decided for (asking plans the jobs an early exit left unplanned)."""

    def __init__(self, ask: bool, **kw: Any) -> None:
        super().__init__(**kw)
        self.ask = ask
        self.asked: list[dict[int, float | None]] = []

    def decide(self, snap: Any) -> Any:
        cohorts = snap.dirty_cohorts()
        d = super().decide(snap)
        if self.ask:
            self.asked.append(
                {j: self.reserved_start_s(job) for c in cohorts for j, job in c.queue.items()}
            )
        return d


def _run(
    options: dict[str, OptionValue], seed: int, exit_early: bool, ask: bool
) -> tuple[Any, _Asking]:
    pol = _Asking(ask, **options)
    pol.exit = pol.sparse = exit_early  # the fast paths, or the reference
    return Simulation(limited_two_types(seed, pol.name), policy=pol).run(), pol


def _same_jobs(run: Any, ref: Any) -> None:
    for col in ("id", "start_s", "finish_s", "gpus", "preemptions"):
        assert np.array_equal(run.jobs[col], ref.jobs[col]), col
    # every program's jobs waited as long under each reason: the same jobs were blocked
    # for the same reasons (the reference gives a reason to every job it examines)
    assert _waits(run) == _waits(ref)


def _waits(run: Any) -> dict[str, dict[str, float]]:
    return {k: m.pending_reasons_hours for k, m in run.metrics.programs.items()}


# weights that reorder the queue (priority_multifactor.html's "Configuration Example"):
# with slurm.conf's defaults, all 0, the plan follows submit order
W = EXAMPLE_WEIGHTS
CASES: list[dict[str, OptionValue]] = [
    {**W},
    {**W, "bf_interval_s": 0.0, "bf_resolution_s": 1.0},
    {**W, "bf_interval_s": 120.0, "sched_interval_s": 30.0, "bf_max_job_test": 20},
    {**W, "bf_window_min": 120, "calc_period_s": 60.0},
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("options", CASES)
def test_every_job_starts_ends_waits_and_is_planned_as_when_every_examined_job_is_planned(
    options: dict[str, OptionValue], seed: int
) -> None:
    fast, fast_pol = _run(options, seed, exit_early=True, ask=False)
    asked, asked_pol = _run(options, seed, exit_early=True, ask=True)
    ref, ref_pol = _run(options, seed, exit_early=False, ask=True)
    assert len(ref.jobs["id"]) > 100  # an overloaded fleet: over 100 of the 200 ended
    assert fast_pol.exits > 0 and ref_pol.exits == 0  # the exit fired: there is a difference
    _same_jobs(fast, ref)
    _same_jobs(asked, ref)
    assert asked_pol.asked == ref_pol.asked  # every planned start, at every cycle
    assert any(v is not None for a in ref_pol.asked for v in a.values())

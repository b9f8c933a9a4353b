"""The Slurm policies keep their pending queue sorted between priority recalculations
(gpufleet.policies.slurm.order) instead of sorting it at every cycle. Oracle: on seeded
workloads, every job starts and ends at the same instant, on as many GPUs, as under the
straightforward full sort at every cycle (``incremental_order = False``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gpufleet.domain.scenario import OptionValue
from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.registry import make_policy
from gpufleet.policies.slurm.priority import SlurmMultifactor
from gpufleet.sim.simulator import Simulation

CASES: list[tuple[str, dict[str, OptionValue]]] = [
    ("slurm-multifactor", {}),
    ("slurm-multifactor", {"calc_period_s": 60.0, "favor_small": True}),
    ("slurm-multifactor", {"calc_period_s": 900.0, "classic_fairshare": True}),
    ("slurm-backfill", {}),
    ("slurm-backfill", {"calc_period_s": 120.0, "bf_interval_s": 0.0}),
    ("slurm-backfill-easy", {"calc_period_s": 30.0}),
]


def _run(policy: str, options: dict[str, OptionValue], seed: int, incremental: bool) -> Any:
    sc = synthetic_scenario(400, 48, policy=policy, load=1.2, seed=seed)
    pol = make_policy(policy, options)
    assert isinstance(pol, SlurmMultifactor)
    pol.incremental_order = incremental
    sim = Simulation(sc, policy=pol)
    return sim.run(), pol


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("policy", "options"), CASES)
def test_every_job_starts_when_the_full_resort_at_every_cycle_starts_it(
    policy: str, options: dict[str, OptionValue], seed: int
) -> None:
    kept, pol = _run(policy, options, seed, incremental=True)
    ref, _ = _run(policy, options, seed, incremental=False)
    assert pol.recalc.count > 1  # several recalculations, so the kept order is rebuilt
    assert pol._sorted._cohorts  # the kept order served the cycles
    assert len(kept.jobs["id"]) > 100  # an overloaded fleet: over 100 of the 400 ended
    for col in ("id", "start_s", "finish_s", "gpus", "preemptions"):
        assert np.array_equal(kept.jobs[col], ref.jobs[col]), col

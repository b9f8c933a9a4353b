"""The Slurm policies keep their pending queue in order across cycles and priority
recalculations (gpufleet.policies.slurm.order: groups of jobs that differ only by age,
merged lazily) instead of sorting it at every cycle. Oracle: on seeded workloads, every
job starts and ends at the same instant, on as many GPUs, as under the straightforward
full sort at every cycle (``incremental_order = False``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from gpufleet.domain.jobs import JobDraft
from gpufleet.domain.reasons import Reason
from gpufleet.domain.scenario import FailureModel, OptionValue, Scenario, WorkloadFactory
from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.registry import make_policy
from gpufleet.policies.slurm import (
    AssocLimits,
    SlurmBackfill,
    SlurmBackfillEasy,
    SlurmMultifactor,
    SlurmSetup,
)
from gpufleet.sim.simulator import Simulation
from tests.support.slurm_harness import EXAMPLE_WEIGHTS

# every case weighs age, fair share, size and partition (priority_multifactor.html's
# "Configuration Example"): with slurm.conf's default weights, all 0, the order is submit
# order and the kept order would have nothing to keep
W = EXAMPLE_WEIGHTS
CASES: list[tuple[str, dict[str, OptionValue]]] = [
    ("slurm-multifactor", {**W}),
    ("slurm-multifactor", {**W, "calc_period_s": 60.0, "favor_small": True}),
    ("slurm-multifactor", {**W, "calc_period_s": 900.0, "classic_fairshare": True}),
    ("slurm-backfill", {**W}),
    ("slurm-backfill", {**W, "calc_period_s": 120.0, "bf_interval_s": 0.0}),
    ("slurm-backfill-easy", {**W, "calc_period_s": 30.0}),
    # every weight 0 (slurm.conf's defaults): the keys never change, so the kept order
    # keeps them across passes instead of re-weighing
    ("slurm-backfill", {"calc_period_s": 120.0}),
    ("slurm-backfill-easy", {}),
]


def _with_qos(factory: WorkloadFactory, first: int) -> WorkloadFactory:
    def jobs(seed: int) -> Iterator[JobDraft]:
        for k, draft in enumerate(factory(seed)):
            yield draft._replace(priority=10 * ((first + k) % 3))

    return jobs


def _mixed(sc: Scenario) -> Scenario:
    """Three QOS priorities within each program, and node failures that requeue jobs (they
    come back at the front of the queue, their age counted from the requeue)."""
    workloads = tuple(
        (name, _with_qos(factory, i)) for i, (name, factory) in enumerate(sc.workloads)
    )
    return dataclasses.replace(sc, workloads=workloads, failures=FailureModel(100.0, 2.0))


def _run(
    policy: str, options: dict[str, OptionValue], seed: int, incremental: bool, mixed: bool = False
) -> Any:
    sc = synthetic_scenario(400, 48, policy=policy, load=1.2, seed=seed)
    if mixed:
        sc = _mixed(sc)
    pol = make_policy(policy, options)
    assert isinstance(pol, SlurmMultifactor)
    pol.incremental_order = incremental
    sim = Simulation(sc, policy=pol)
    return sim.run(), pol


def _same_jobs(kept: Any, ref: Any) -> None:
    for col in ("id", "start_s", "finish_s", "gpus", "preemptions"):
        assert np.array_equal(kept.jobs[col], ref.jobs[col]), col
    # every program's jobs waited as long under each reason: the same jobs were blocked
    # for the same reasons, in the same order (the sums are of floats)
    assert _waits(kept) == _waits(ref)


def _waits(run: Any) -> dict[str, dict[str, float]]:
    return {k: m.pending_reasons_hours for k, m in run.metrics.programs.items()}


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
    _same_jobs(kept, ref)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    ("policy", "options"),
    [
        ("slurm-multifactor", {"weight_qos": 2000.0}),
        ("slurm-backfill", {"weight_qos": 500.0, "calc_period_s": 45.0}),
        ("slurm-backfill-easy", {"weight_qos": 1000.0}),
    ],
)
def test_with_qos_levels_and_requeued_jobs_every_job_starts_as_under_the_full_resort(
    policy: str, options: dict[str, OptionValue], seed: int
) -> None:
    kept, pol = _run(policy, options, seed, incremental=True, mixed=True)
    ref, _ = _run(policy, options, seed, incremental=False, mixed=True)
    assert pol.recalc.count > 1
    assert int(np.sum(ref.jobs["preemptions"])) > 0  # failures requeued some jobs
    _same_jobs(kept, ref)


# Association limits on some of the synthetic programs (p00..p15): GrpTRES, GrpJobs, MaxTRES.
LIMITS = {
    "p00": AssocLimits(grp_gpus={None: 4}),
    "p01": AssocLimits(grp_jobs=1),
    "p02": AssocLimits(max_gpus_per_job=2),
    "p03": AssocLimits(grp_gpus={"H100-SXM": 8}, grp_jobs=3),
}
SETUP = SlurmSetup(
    weight_age=1000.0,
    weight_fairshare=10000.0,
    weight_job_size=1000.0,
    weight_qos=1000.0,
    calc_period_s=120.0,
    limits=LIMITS,
)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("cls", [SlurmMultifactor, SlurmBackfill, SlurmBackfillEasy])
def test_with_association_limits_every_job_starts_as_when_each_held_job_is_asked_again(
    cls: type[SlurmMultifactor], seed: int
) -> None:
    """The main pass reuses a limit's refusal for the jobs like the refused one; the
    reference asks the limits and the placement for every job."""
    runs = []
    for incremental in (True, False):
        sc = _mixed(synthetic_scenario(400, 48, policy=cls.name, load=1.2, seed=seed))
        pol = cls(setup=SETUP)
        pol.incremental_order = incremental
        runs.append(Simulation(sc, policy=pol).run())
    kept, ref = runs
    assert len(kept.jobs["id"]) > 100
    assert any(Reason.QUOTA in w for w in _waits(ref).values())  # the limits held jobs
    _same_jobs(kept, ref)

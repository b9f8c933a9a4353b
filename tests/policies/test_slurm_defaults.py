"""The Slurm policies' defaults are Slurm's own (issue 14 item 3).

slurm.conf(5), SchedMD/slurm doc/man/man5/slurm.conf.5 (commit 284c3b95, lines 3535-3596),
for each of the weights the policies take::

    PriorityWeightAge        ... The default value is 0.
    PriorityWeightFairshare  ... The default value is 0.
    PriorityWeightJobSize    ... The default value is 0.
    PriorityWeightPartition  ... The default value is 0.
    PriorityWeightQOS        ... The default value is 0.
    (PriorityWeightAssoc and PriorityWeightTRES: "The default value(s) is/are 0." too;
    no policy option stands for them.)

With every weight 0 every job's priority is the same (priority_multifactor.c
``priority_p_set``/``_get_priority_internal``: "Priority 0 is reserved for held jobs",
so a sum below 1 becomes 1), and the queue is sorted by job_scheduler.c
``sort_job_queue2``: priority, then "If the priorities are the same sort by submission
time", then "If the submission times are the same sort by increasing job id's"
(priority_multifactor.html lists the same order: "Job priority, Job submit time, Job ID").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gpufleet.domain.org import Quota
from gpufleet.domain.scenario import OptionValue, PolicySpec
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import Workload
from gpufleet.policies.slurm import SlurmBackfill, SlurmBackfillEasy, SlurmMultifactor
from gpufleet.policies.slurm.priority import Factors
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation
from tests.support.builders import H100
from tests.support.slurm_harness import EXAMPLE_WEIGHTS, SLURM_POLICY_IDS, SlurmHarness

POLICIES: list[type[SlurmMultifactor]] = [SlurmMultifactor, SlurmBackfill, SlurmBackfillEasy]
WEEK_S = 7 * 86_400.0


@pytest.mark.parametrize("cls", POLICIES, ids=SLURM_POLICY_IDS)
def test_every_weight_defaults_to_slurm_conf_s_zero(cls: type[SlurmMultifactor]) -> None:
    pol = cls()
    assert pol.weights == Factors(0.0, 0.0, 0.0, 0.0, 0.0)
    # slurm.conf(5) lines 3427 (PriorityMaxAge) and 3308 (PriorityDecayHalfLife): "The
    # default value is 7-0 (7 days)."
    assert pol.max_age_s == WEEK_S
    assert pol.usage.half_life_s == WEEK_S


@pytest.mark.parametrize("cls", POLICIES, ids=SLURM_POLICY_IDS)
def test_with_default_weights_jobs_start_in_submit_order_then_by_job_id(
    cls: type[SlurmMultifactor],
) -> None:
    # One 8-GPU node. a holds it for an hour from t = 0, so a has usage and b none. Then
    # j1 (a, 8 GPUs) at t = 10; j2 (b, 4 GPUs) and j3 (b, 8 GPUs, QOS priority 10) both at
    # t = 20. Every job runs an hour, so they start one after another when the node frees:
    # by submit time, then id, j1 at 3600, j2 at 7200, j3 at 10800. (With the example
    # weights fair share puts b's jobs first and size puts j3 before j2: 3, 2, 1.)
    progs = {"a": ("org-a", 1.0, {H100: Quota(8)}), "b": ("org-b", 1.0, {H100: Quota(8)})}
    s = SlurmHarness(cls(), nodes=[8], programs=progs)
    s.submit("a", 8, work_s=3600.0)
    s.h.cycle(0)
    j1 = s.submit("a", 8, at=10.0)
    s.h.cycle(10)
    j2 = s.submit("b", 4, at=20.0)
    j3 = s.submit("b", 8, at=20.0, priority=10)
    s.h.cycle(20)
    while s.advance() is not None:
        pass
    assert [j1.start_s, j2.start_s, j3.start_s] == [3600.0, 7200.0, 10800.0]


# --- on a seeded workload: default weights against strict FIFO ---------------------------
def _workload(seed: int, n: int = 300, gpus: int = 64, load: float = 0.9) -> Workload:
    """n jobs in 4 queues: 1-16 GPUs (most 1), log-normal durations (median 30 min, capped at
    2 days), Poisson arrivals at ``load`` of ``gpus`` GPUs."""
    rng = np.random.default_rng(seed)
    g = rng.choice([1, 1, 1, 2, 4, 8, 16], n).astype(float)
    d = np.minimum(rng.lognormal(np.log(1800.0), 1.5, n), 2 * 86_400.0)
    rate = load * gpus / (g.mean() * d.mean())
    submit = np.cumsum(rng.exponential(1 / rate, n))
    queue = np.array([f"q{i}" for i in rng.integers(0, 4, n)], dtype=object)
    return Workload.build("seeded", submit - submit[0], d, g, queue=queue)


def _replay(seed: int, policy: str, options: dict[str, OptionValue] | None = None) -> SimResult:
    spec = PolicySpec(policy, tuple(sorted((options or {}).items())))
    return Simulation(to_scenario(_workload(seed), spec, gpus=64, seed=seed)).run()


def _by_id(res: SimResult, col: str) -> dict[int, float]:
    return dict(zip(res.jobs["id"].tolist(), res.jobs[col].tolist(), strict=True))


Pick = Callable[[SimResult], float]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_default_weights_slurm_multifactor_starts_every_job_when_fifo_does(
    seed: int,
) -> None:
    # sched/builtin in submit order is strict FIFO: the same start for every job
    fifo, slurm = _replay(seed, "fifo"), _replay(seed, "slurm-multifactor")
    assert len(fifo.jobs["id"]) == 300
    assert _by_id(slurm, "start_s") == _by_id(fifo, "start_s")
    # the example weights reorder the queue: the equality above is not a given
    weighed = _replay(seed, "slurm-multifactor", dict(EXAMPLE_WEIGHTS))
    assert _by_id(weighed, "start_s") != _by_id(fifo, "start_s")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("policy", ["slurm-backfill", "slurm-backfill-easy"])
def test_backfill_with_default_weights_waits_no_longer_on_average_than_strict_fifo(
    policy: str, seed: int
) -> None:
    # backfill in submit order starts a later job only where it delays no earlier one's
    # planned start, so the mean queueing delay is at most FIFO's (every job finishes in
    # a replay, so both means are over the same 300 jobs)
    fifo, bf = _replay(seed, "fifo"), _replay(seed, policy)
    assert len(bf.jobs["id"]) == len(fifo.jobs["id"]) == 300
    assert bf.summary["queueing_delay_s"]["mean"] <= fifo.summary["queueing_delay_s"]["mean"]

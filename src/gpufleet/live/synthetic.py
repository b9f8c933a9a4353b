"""A seeded synthetic live Slurm state, for the forecast's benchmark and its digest tests.

The state (bench/forecast_bench.py times it; tests/live/test_forecast_digest.py pins each
job's predicted start on a small one): nodes of 8 H100 in one partition, all busy with
``running`` jobs of 2 GPUs (elapsed 0-2 h of a 1-24 h limit); ``pending`` jobs of 1, 2, 4
or 8 GPUs from 20 accounts (the first capped at 64 GPUs by its association), submitted over
the 6 hours before :data:`NOW` with limits of 1-24 h; the dev cluster's scheduler
configuration (sched/backfill with sched_interval=2, bf_interval=5, bf_max_job_test=500;
multifactor weights, fair-share). Everything follows from ``seed``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from gpufleet.live.forecast import SlurmState
from gpufleet.live.slurm.model import (
    Association,
    FairShare,
    GpuAllocation,
    GpuCount,
    JobState,
    NodeState,
    PriorityWeights,
    SchedulerConfig,
    SlurmConfig,
    SlurmJob,
    SlurmNode,
    TresLimit,
)

NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # the state's "now"
MAPPING = "slurm:\n  accounts: {}\ngpu_types:\n  h100: H100-SXM\n"  # every account, h100
ACCOUNTS = [f"acct{i:02d}" for i in range(20)]


def _config() -> SlurmConfig:
    sched = SchedulerConfig("sched/backfill", {}, 2, 5, 500, 60, 1440)
    weights = PriorityWeights(1000, 0, 10000, 0, 0, 1000, ())
    return SlurmConfig(
        "bench",
        "22.05.8",
        "priority/multifactor",
        weights,
        86400,
        60,
        86400,
        False,
        (),
        sched,
        "select/cons_tres",
        ("associations", "limits"),
        {},
    )


def _node(i: int) -> SlurmNode:
    gpus = (GpuCount("h100", 8),)
    return SlurmNode(
        f"n{i:05d}", NodeState.ALLOCATED, (), "", "", None, ("gpu",), gpus, gpus, 64, 64
    )


def _job(
    jid: int,
    account: str,
    gpus: int,
    state: JobState,
    submit: datetime,
    limit_s: int,
    node_name: str = "",
    indices: tuple[int, ...] = (),
    elapsed_s: int = 0,
) -> SlurmJob:
    running = state is JobState.RUNNING
    alloc = (GpuAllocation(node_name, "h100", indices),) if running else ()
    return SlurmJob(
        jid,
        f"j{jid}",
        f"{account}-u",
        account,
        "gpu",
        "normal",
        state,
        "" if running else "Priority",
        gpus,
        "h100",
        (node_name,) if running else (),
        alloc,
        submit,
        NOW - timedelta(seconds=elapsed_s) if running else None,
        None,
        elapsed_s if running else None,
        limit_s,
        1000,
    )


def synthetic_state(pending: int, running: int, seed: int = 7) -> SlurmState:
    """The seeded state of the module docstring: ``running`` 2-GPU jobs filling
    ``running / 4`` nodes and ``pending`` jobs waiting, as at :data:`NOW`."""
    rng = random.Random(seed)
    n_nodes = max(1, running * 2 // 8)
    nodes = tuple(_node(i) for i in range(n_nodes))
    jobs: list[SlurmJob] = []
    for k in range(running):
        n, slot = divmod(k, 4)
        elapsed = rng.randint(0, 7200)
        limit = rng.randint(1, 24) * 3600
        submit = NOW - timedelta(seconds=elapsed + rng.randint(0, 3600))
        jobs.append(
            _job(
                k + 1,
                rng.choice(ACCOUNTS),
                2,
                JobState.RUNNING,
                submit,
                limit,
                f"n{n % n_nodes:05d}",
                (2 * slot, 2 * slot + 1),
                elapsed,
            )
        )
    for k in range(pending):
        submit = NOW - timedelta(seconds=rng.randint(0, 6 * 3600))
        gpus = rng.choice((1, 2, 4, 8))
        jobs.append(
            _job(
                running + k + 1,
                rng.choice(ACCOUNTS),
                gpus,
                JobState.PENDING,
                submit,
                rng.randint(1, 24) * 3600,
            )
        )
    assoc = tuple(
        Association(
            "bench",
            a,
            "",
            "",
            "root",
            10 + i,
            (TresLimit("gres/gpu", 64),) if i == 0 else (),
            (),
            None,
            None,
            ("normal",),
            "normal",
        )
        for i, a in enumerate(ACCOUNTS)
    )
    share = tuple(
        FairShare(a, "", 10 + i, 0.05, rng.randint(0, 10**7), None, 0.05, None, 1.0)
        for i, a in enumerate(ACCOUNTS)
    )
    return SlurmState(tuple(jobs), nodes, assoc, share, _config())

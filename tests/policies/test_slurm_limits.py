"""Slurm's association limits in the Slurm policies (issue 18, item 1).

Each case cites where Slurm states the rule: slurm.schedmd.com/resource_limits.html
(GrpTRES, GrpJobs, MaxTRES) and src/slurmctld/job_scheduler.c, ``_schedule`` (a job that
``acct_policy_job_runnable_pre_select`` refuses is passed over with ``continue``; only a
job that does not fit the nodes ends the partition's pass)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm import (
    AssocLimits,
)
from gpufleet.state.jobs import JobState
from tests.support.builders import A100, H100
from tests.support.slurm_harness import (
    QOS_ONLY,
    SLURM_POLICIES,
    SLURM_POLICY_IDS,
    TWO_ACCOUNTS,
    Make,
    SlurmHarness,
)

POLICIES, IDS, PROGRAMS = SLURM_POLICIES, SLURM_POLICY_IDS, TWO_ACCOUNTS


def harness(make: Make, **limits: AssocLimits) -> SlurmHarness:
    return SlurmHarness(make(replace(QOS_ONLY, limits=limits)), nodes=[8, 8], programs=PROGRAMS)


@pytest.mark.parametrize("make", POLICIES, ids=IDS)
@pytest.mark.parametrize(
    ("limits", "jobs", "running", "held"),
    [
        # resource_limits.html, GrpTRES: "The total count of TRES able to be used at any
        # given time from jobs running from an association". Cap 4: xai's 4-GPU job runs,
        # its next 4-GPU job would make 8 > 4 and is held; tesla's 8 behind it starts
        # (job_scheduler.c _schedule: a limit-held job does not end the pass).
        pytest.param(
            {"xai": AssocLimits(grp_gpus={None: 4})},
            [("xai", 4, 30), ("xai", 4, 20), ("tesla", 8, 10)],
            [0, 2],
            [1],
            id="resource_limits-GrpTRES-gres/gpu-holds-the-job-over-the-cap-only",
        ),
        # job_scheduler.c _schedule: xai runs 2 of its 4; its 4-GPU job (2 + 4 = 6 > 4) is
        # held and its later 2-GPU job (2 + 2 = 4 <= 4) passes it.
        pytest.param(
            {"xai": AssocLimits(grp_gpus={None: 4})},
            [("xai", 2, 30), ("xai", 4, 20), ("xai", 2, 10)],
            [0, 2],
            [1],
            id="job_scheduler.c-_schedule-a-smaller-job-of-the-capped-account-passes",
        ),
        # sacctmgr.html, TRES "gres/gpu:h100": the per-type cap counts H100 GPUs only
        # (keyed by gpufleet's type name; SlurmSetup.renamed maps Slurm's gres types).
        # h100=6: 4 run, the next 4 would be 8 > 6, held; the 2 after it (6 <= 6) starts.
        pytest.param(
            {"xai": AssocLimits(grp_gpus={H100: 6})},
            [("xai", 4, 30), ("xai", 4, 20), ("xai", 2, 10)],
            [0, 2],
            [1],
            id="sacctmgr-GrpTRES-gres/gpu:h100-caps-that-type",
        ),
        # A cap on A100s leaves H100 jobs alone: all three run (4 + 4 + 2 <= 16 GPUs).
        pytest.param(
            {"xai": AssocLimits(grp_gpus={A100: 1})},
            [("xai", 4, 30), ("xai", 4, 20), ("xai", 2, 10)],
            [0, 1, 2],
            [],
            id="sacctmgr-GrpTRES-another-type-does-not-count",
        ),
        # resource_limits.html, MaxTRES: "maximum number of TRES each job is able to use".
        # MaxTRES gres/gpu=4: the 8-GPU job never starts, the 4-GPU one does.
        pytest.param(
            {"xai": AssocLimits(max_gpus_per_job=4)},
            [("xai", 8, 30), ("xai", 4, 20)],
            [1],
            [0],
            id="resource_limits-MaxTRES-per-job",
        ),
        # resource_limits.html, GrpJobs: "total number of jobs able to run at any given
        # time". GrpJobs=2: two 1-GPU jobs run, the third is held; tesla's job runs.
        pytest.param(
            {"xai": AssocLimits(grp_jobs=2)},
            [("xai", 1, 30), ("xai", 1, 25), ("xai", 1, 20), ("tesla", 1, 10)],
            [0, 1, 3],
            [2],
            id="resource_limits-GrpJobs-counts-jobs-started-this-cycle",
        ),
    ],
)
def test_association_limits_hold_jobs_with_the_quota_reason(
    make: Make,
    limits: dict[str, AssocLimits],
    jobs: list[tuple[str, int, int]],
    running: list[int],
    held: list[int],
) -> None:
    s = harness(make, **limits)
    subs = [s.submit(p, g, priority=q, work_s=3600, limit_s=3600) for p, g, q in jobs]
    s.h.cycle(0)
    assert [i for i, j in enumerate(subs) if j.state == JobState.RUNNING] == running
    for i in held:
        assert subs[i].state == JobState.PENDING
        assert subs[i].reason == Reason.QUOTA


@pytest.mark.parametrize("make", POLICIES, ids=IDS)
def test_a_held_job_starts_once_a_job_of_its_account_ends(make: Make) -> None:
    # Cap 4 on xai: A (4 GPUs, 100 s) runs, B (4 GPUs) is held; at A's end (100 s) xai holds
    # 0, so B (0 + 4 <= 4) starts at 100.
    s = harness(make, xai=AssocLimits(grp_gpus={None: 4}))
    a = s.submit("xai", 4, priority=2, work_s=100, limit_s=100)
    b = s.submit("xai", 4, priority=1, work_s=100, limit_s=100)
    s.h.cycle(0)
    assert a.state == JobState.RUNNING and b.reason == Reason.QUOTA
    assert s.advance() == 100.0
    assert b.state == JobState.RUNNING and b.start_s == 100.0

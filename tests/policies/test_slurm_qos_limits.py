"""Slurm's QOS limits and per-user association limits in the Slurm policies (issue 18,
item 1's rest).

Sources: slurm.schedmd.com/resource_limits.html ("QOS specific limits": GrpTRES, GrpJobs,
MaxTRESPerJob, MaxTRESPerUser, MaxJobsPerUser; "Hierarchy": a limit is taken from the
first point of Job QOS -> user association -> account association that defines it) and
src/slurmctld/acct_policy.c in slurm-22-05-8-1: ``acct_policy_job_runnable_post_select``
checks the job's QOS first (``_qos_job_runnable_post_select``) and then the associations
with ``_validate_tres_usage_limits_for_assoc(..., qos_rec.grp_tres_ctld, ...)``, which
skips every TRES the QOS already limits; ``grp_jobs`` of an association only ``if
(qos_rec.grp_jobs == INFINITE)``. A held job is passed over (job_scheduler.c
``_schedule``), so the jobs after it still start.

Each case: every job asks H100s on two 8-GPU nodes (16 GPUs, never the constraint), one
cycle at 0, priorities from QOS weight only (``priority``, written highest first)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import pytest

from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm import (
    AssocLimits,
    QosLimits,
)
from gpufleet.state.jobs import Job, JobState
from tests.support.builders import H100
from tests.support.slurm_harness import (
    QOS_ONLY,
    SLURM_POLICIES,
    SLURM_POLICY_IDS,
    TWO_ACCOUNTS,
    Make,
    SlurmHarness,
)

POLICIES, IDS, PROGRAMS = SLURM_POLICIES, SLURM_POLICY_IDS, TWO_ACCOUNTS


@dataclass(frozen=True)
class Limits:
    accounts: dict[str, AssocLimits] = field(default_factory=dict)
    users: dict[str, dict[str, AssocLimits]] = field(default_factory=dict)
    qos: dict[str, QosLimits] = field(default_factory=dict)


# (account, user, QOS, GPUs, priority)
Spec = tuple[str, str, str, int, int]


def harness(make: Make, lim: Limits) -> SlurmHarness:
    setup = replace(QOS_ONLY, limits=lim.accounts, user_limits=lim.users, qos=lim.qos)
    return SlurmHarness(make(setup), nodes=[8, 8], programs=PROGRAMS)


def submit(s: SlurmHarness, jobs: list[Spec], work_s: float = 3600.0) -> list[Job]:
    return [
        s.submit(a, g, priority=p, work_s=work_s, limit_s=work_s, user=u, qos=q)
        for a, u, q, g, p in jobs
    ]


CASES = [
    # QOS GrpTRES=gres/gpu=2 counts the QOS's jobs of every account: xai's 1 runs, tesla's
    # 2 would make 1 + 2 = 3 > 2 and is held; tesla's 4 in QOS normal (no limit) starts.
    pytest.param(
        Limits(qos={"cap2": QosLimits(grp_gpus={None: 2})}),
        [("xai", "x1", "cap2", 1, 40), ("tesla", "t1", "cap2", 2, 30), ("tesla", "t1", "", 4, 20)],
        [0, 2],
        id="resource_limits-QOS-GrpTRES-counts-every-account-QOSGrpGRES",
    ),
    # The QOS's cap is tighter than the account's 4: 2 + 2 = 4 > 2, held though the
    # account would allow it (the QOS comes first in the hierarchy).
    pytest.param(
        Limits(
            accounts={"xai": AssocLimits(grp_gpus={None: 4})},
            qos={"cap2": QosLimits(grp_gpus={None: 2})},
        ),
        [("xai", "x1", "cap2", 2, 30), ("xai", "x1", "cap2", 2, 20)],
        [0],
        id="resource_limits-Hierarchy-a-tighter-QOS-GrpTRES-holds",
    ),
    # acct_policy.c: a QOS GrpTRES on gres/gpu replaces the association's GrpTRES on
    # gres/gpu. QOS 8 over account 4: both 4-GPU QOS jobs run (4 + 4 = 8 <= 8). xai's
    # job without the QOS meets the account's 4, which counts all of xai's GPUs:
    # 8 + 2 = 10 > 4, held.
    pytest.param(
        Limits(
            accounts={"xai": AssocLimits(grp_gpus={None: 4})},
            qos={"big": QosLimits(grp_gpus={None: 8})},
        ),
        [("xai", "x1", "big", 4, 30), ("xai", "x1", "big", 4, 20), ("xai", "x1", "", 2, 10)],
        [0, 1],
        id="acct_policy.c-QOS-GrpTRES-replaces-the-account-GrpTRES-on-its-TRES",
    ),
    # acct_policy.c: the association's MaxTRES is checked with qos_rec.max_tres_pj_ctld
    # as the mask, so the QOS's MaxTRESPerJob=8 replaces xai's MaxTRES=4: the 8-GPU QOS
    # job starts; the same 8 GPUs outside the QOS are held (8 > 4).
    pytest.param(
        Limits(
            accounts={"xai": AssocLimits(max_gpus_per_job=4)},
            qos={"wide": QosLimits(max_gpus_per_job=8)},
        ),
        [("xai", "x1", "wide", 8, 30), ("xai", "x1", "", 8, 20)],
        [0],
        id="acct_policy.c-QOS-MaxTRESPerJob-replaces-the-account-MaxTRES",
    ),
    # The association's grp_jobs counts only `if (qos_rec.grp_jobs == INFINITE)`: QOS
    # GrpJobs=3 over xai's GrpJobs=1, three QOS jobs run (3 <= 3).
    pytest.param(
        Limits(
            accounts={"xai": AssocLimits(grp_jobs=1)},
            qos={"three": QosLimits(grp_jobs=3)},
        ),
        [
            ("xai", "x1", "three", 1, 30),
            ("xai", "x1", "three", 1, 20),
            ("xai", "x1", "three", 1, 10),
        ],
        [0, 1, 2],
        id="acct_policy.c-QOS-GrpJobs-replaces-the-account-GrpJobs",
    ),
    # gres/gpu:h100 is another TRES than gres/gpu: the QOS's h100=8 does not replace the
    # account's gres/gpu=4, so 4 + 4 = 8 > 4 holds the second job.
    pytest.param(
        Limits(
            accounts={"xai": AssocLimits(grp_gpus={None: 4})},
            qos={"h100s": QosLimits(grp_gpus={H100: 8})},
        ),
        [("xai", "x1", "h100s", 4, 30), ("xai", "x1", "h100s", 4, 20)],
        [0],
        id="acct_policy.c-a-typed-QOS-cap-does-not-replace-the-untyped-one",
    ),
    # QOS MaxTRESPerUser=gres/gpu=2: x1 holds 2, its next 1 makes 3 > 2, held; x2's 2
    # (0 + 2 <= 2) starts. QOSMaxGRESPerUser.
    pytest.param(
        Limits(qos={"pu": QosLimits(max_gpus_per_user={None: 2})}),
        [("xai", "x1", "pu", 2, 40), ("xai", "x1", "pu", 1, 30), ("xai", "x2", "pu", 2, 20)],
        [0, 2],
        id="resource_limits-QOS-MaxTRESPerUser-QOSMaxGRESPerUser",
    ),
    # The per-user count spans accounts: x1's QOS jobs in xai and tesla together,
    # 2 + 1 = 3 > 2.
    pytest.param(
        Limits(qos={"pu": QosLimits(max_gpus_per_user={None: 2})}),
        [("xai", "x1", "pu", 2, 40), ("tesla", "x1", "pu", 1, 30)],
        [0],
        id="resource_limits-QOS-MaxTRESPerUser-counts-the-user-in-every-account",
    ),
    # QOS MaxJobsPerUser=1: x1's second job is held (1 + 1 > 1); t1's starts.
    pytest.param(
        Limits(qos={"one": QosLimits(max_jobs_per_user=1)}),
        [("xai", "x1", "one", 1, 40), ("xai", "x1", "one", 1, 30), ("tesla", "t1", "one", 1, 20)],
        [0, 2],
        id="resource_limits-QOS-MaxJobsPerUser-QOSMaxJobsPerUserLimit",
    ),
    # QOS GrpJobs=2, three users: the third job is held (2 + 1 > 2).
    pytest.param(
        Limits(qos={"two": QosLimits(grp_jobs=2)}),
        [("xai", "x1", "two", 1, 40), ("xai", "x2", "two", 1, 30), ("tesla", "t1", "two", 1, 20)],
        [0, 1],
        id="resource_limits-QOS-GrpJobs-QOSGrpJobsLimit",
    ),
    # QOS MaxTRESPerJob gres/gpu=4: the 8-GPU job never starts; the 4 does.
    pytest.param(
        Limits(qos={"small": QosLimits(max_gpus_per_job=4)}),
        [("xai", "x1", "small", 8, 30), ("xai", "x1", "small", 4, 20)],
        [1],
        id="resource_limits-QOS-MaxTRESPerJob-QOSMaxGRESPerJob",
    ),
    # The user's own association in xai (sacctmgr's user row) GrpTRES=gres/gpu=2 counts
    # x1's jobs in xai: 2 + 2 = 4 > 2, held; x2 has no limit of its own, runs.
    pytest.param(
        Limits(users={"xai": {"x1": AssocLimits(grp_gpus={None: 2})}}),
        [("xai", "x1", "", 2, 40), ("xai", "x1", "", 2, 30), ("xai", "x2", "", 2, 20)],
        [0, 2],
        id="resource_limits-Hierarchy-user-association-GrpTRES",
    ),
    # The user's association counts the user's jobs in that account only: x1's 4 in
    # tesla do not count against x1's cap of 2 in xai, so x1's 2 in xai starts.
    pytest.param(
        Limits(users={"xai": {"x1": AssocLimits(grp_gpus={None: 2})}}),
        [("tesla", "x1", "", 4, 40), ("xai", "x1", "", 2, 30)],
        [0, 1],
        id="resource_limits-user-association-is-per-account",
    ),
    # The user's association is checked and then its account's: x1 may hold 4, xai 3;
    # x1's 2 runs, its next 2 (x1: 4 <= 4, xai: 4 > 3) is held by the account.
    pytest.param(
        Limits(
            accounts={"xai": AssocLimits(grp_gpus={None: 3})},
            users={"xai": {"x1": AssocLimits(grp_gpus={None: 4})}},
        ),
        [("xai", "x1", "", 2, 40), ("xai", "x1", "", 2, 30)],
        [0],
        id="acct_policy.c-the-account-above-the-user-still-holds",
    ),
    # acct_policy.c: the QOS's GrpTRES masks that TRES in every association of the walk,
    # the user's too: x1 may hold 2 in xai, QOS "big" 8; x1's 2 + 2 in "big" both run.
    pytest.param(
        Limits(
            users={"xai": {"x1": AssocLimits(grp_gpus={None: 2})}},
            qos={"big": QosLimits(grp_gpus={None: 8})},
        ),
        [("xai", "x1", "big", 2, 40), ("xai", "x1", "big", 2, 30)],
        [0, 1],
        id="acct_policy.c-QOS-GrpTRES-replaces-the-user-association-GrpTRES",
    ),
    # A job without a user is not counted against a per-user limit (it has no user to
    # count by): both 4-GPU jobs run past MaxTRESPerUser=1.
    pytest.param(
        Limits(qos={"pu": QosLimits(max_gpus_per_user={None: 1})}),
        [("xai", "", "pu", 4, 30), ("xai", "", "pu", 4, 20)],
        [0, 1],
        id="gpufleet-a-job-without-a-user-meets-no-per-user-limit",
    ),
]


@pytest.mark.parametrize("make", POLICIES, ids=IDS)
@pytest.mark.parametrize(("limits", "jobs", "running"), CASES)
def test_qos_and_user_limits_hold_jobs_with_the_quota_reason(
    make: Make, limits: Limits, jobs: list[Spec], running: list[int]
) -> None:
    s = harness(make, limits)
    subs = submit(s, jobs)
    s.h.cycle(0)
    assert [i for i, j in enumerate(subs) if j.state == JobState.RUNNING] == running
    for i, j in enumerate(subs):
        if i not in running:
            assert j.state == JobState.PENDING and j.reason == Reason.QUOTA


@pytest.mark.parametrize("make", POLICIES, ids=IDS)
def test_a_qos_held_job_starts_when_a_job_of_its_qos_ends(make: Make) -> None:
    # QOS GrpTRES=gres/gpu=2: A (2 GPUs, 100 s) runs; B (2 GPUs) is held (2 + 2 > 2). At
    # A's end (100 s) the QOS holds 0, so B (0 + 2 <= 2) starts at 100.
    s = harness(make, Limits(qos={"cap2": QosLimits(grp_gpus={None: 2})}))
    a, b = submit(s, [("xai", "x1", "cap2", 2, 2), ("tesla", "t1", "cap2", 2, 1)], work_s=100)
    s.h.cycle(0)
    assert a.state == JobState.RUNNING and b.reason == Reason.QUOTA
    assert s.advance() == 100.0
    assert b.state == JobState.RUNNING and b.start_s == 100.0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("make", POLICIES, ids=IDS)
def test_seeded_runs_never_hold_more_than_a_qos_or_user_allows(make: Make, seed: int) -> None:
    # Oracle: at every instant of a random run, the running jobs of QOS "cap" hold at most
    # 5 GPUs, each user's at most 3 and at most 2 jobs; x1's jobs in xai outside "cap" at
    # most 2 GPUs (its association's GrpTRES, which the QOS's GrpTRES replaces for the
    # QOS's jobs). Jobs of other QOS are not counted.
    rng = random.Random(seed)
    limits = Limits(
        users={"xai": {"x1": AssocLimits(grp_gpus={None: 2})}},
        qos={"cap": QosLimits(grp_gpus={None: 5}, max_gpus_per_user={None: 3},
                              max_jobs_per_user=2)},
    )  # fmt: skip
    s = harness(make, limits)
    for k in range(40):
        acct, user = rng.choice([("xai", "x1"), ("xai", "x2"), ("tesla", "t1")])
        qos = rng.choice(["cap", "cap", ""])
        s.submit(acct, rng.randint(1, 3), priority=rng.randint(0, 9), work_s=rng.randint(1, 9)
                 * 10.0, user=user, qos=qos, at=0.0)  # fmt: skip
        del k
    s.h.cycle(0)
    started = 0
    for _ in range(200):
        run = s.running_jobs()
        started = max(started, len(run))
        cap = [j for j in run if j.spec.qos == "cap"]
        assert sum(j.spec.gpus for j in cap) <= 5
        for u in ("x1", "x2", "t1"):
            mine = [j for j in cap if j.spec.user == u]
            assert sum(j.spec.gpus for j in mine) <= 3 and len(mine) <= 2
        x1 = [j for j in run if j.program.name == "xai" and j.spec.user == "x1" and not j.spec.qos]
        assert sum(j.spec.gpus for j in x1) <= 2
        if s.advance() is None:
            break
    # in the end only the jobs no limit ever lets run wait: x1's in xai outside "cap" that
    # ask 3 GPUs (3 > 2), held for good as Slurm holds them
    pending = {j.spec.id for p in s.h.state.programs for j in p.pending.values()}
    never = {
        j.spec.id
        for p in s.h.state.programs
        for j in (*p.pending.values(), *p.running.values())
        if p.name == "xai" and j.spec.user == "x1" and not j.spec.qos and j.spec.gpus > 2
    }
    assert pending == never and started > 0

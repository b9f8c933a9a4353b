"""Slurm's association limits as the Slurm policies' admission step.

Sources: slurm.schedmd.com/resource_limits.html ("GrpTRES": "The total count of TRES
able to be used at any given time from jobs running from an association and its
children"; "GrpJobs"; "MaxTRES" per job), sacctmgr.html (the same options, and TRES names
``gres/gpu``, ``gres/gpu:<type>``), and squeue's reason codes (``AssocGrpGRES``,
``AssocGrpJobsLimit``, ``AssocMaxGRESPerJob``), all mapped onto gpufleet's
``Reason.QUOTA`` (waiting for quota).

Rule, for a job of program (account) p asking g GPUs of type t:

- ``MaxTRES gres/gpu=M``: refused if ``g > M`` (it never starts);
- ``GrpTRES gres/gpu=N``: refused if ``used(p) + g > N``, ``used`` counting every running
  job of p and every job this cycle has started;
- ``GrpTRES gres/gpu:t=N``: refused if ``used(p, t) + g > N``; another allowed type may
  still take it;
- ``GrpJobs=N``: refused if ``running jobs(p) + 1 > N``.

A refused job is *skipped*, not a blocker: Slurm's main scheduler moves on to the next job
when ``acct_policy_job_runnable_pre_select`` says no (src/slurmctld/job_scheduler.c,
``_schedule``: ``continue`` without setting ``fail_by_part``), and so does the backfill
scheduler (src/plugins/sched/backfill/backfill.c, ``_attempt_backfill``). So a smaller job
of a capped account passes a larger one of the same account that does not fit under the
cap, and the partition's lower-priority jobs are not held behind a capped one.

Why a policy option rather than the scenario's quotas: gpufleet's quotas are Kueue's
(nominal GPUs that can be lent and borrowed in a cohort; :mod:`gpufleet.policies.basic.
quota`); a program without a quota on a type may not use it at all. A Slurm association
without ``GrpTRES`` has no limit, and with one its cap is hard: nothing is lent or
borrowed. The two meanings differ, so Slurm's limits travel with the Slurm policy's
configuration (:class:`~gpufleet.policies.slurm.setup.SlurmSetup`), read from the files a
scenario names or given by the live forecast.
"""

from __future__ import annotations

from collections.abc import Mapping

from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm.setup import AssocLimits
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


class SlurmLimits:
    """Admission by association limits. ``admitted`` is the current decision's list of
    starts (the policy points it at ``Decision.admit`` each cycle), so jobs started this
    cycle count against ``GrpJobs``; GPU counts come from the snapshot, which already
    holds them."""

    def __init__(self, limits: Mapping[str, AssocLimits]) -> None:
        self.limits = {k: v for k, v in limits.items() if not v.empty}
        self.admitted: list[tuple[Job, Placement]] = []

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        lim = self.limits.get(job.program.name)
        if lim is None:
            return None
        p, g = job.program, job.spec.gpus
        if lim.max_gpus_per_job is not None and g > lim.max_gpus_per_job:
            return Reason.QUOTA
        cap = lim.grp_gpus.get(None)
        if cap is not None and p.used_gpus + g > cap:
            return Reason.QUOTA
        cap = lim.grp_gpus.get(gpu_type)
        if cap is not None and p.usage.get(gpu_type, 0) + g > cap:
            return Reason.QUOTA
        if lim.grp_jobs is not None and self.running_jobs(snap, p) + 1 > lim.grp_jobs:
            return Reason.QUOTA
        return None

    def running_jobs(self, snap: Snapshot, p: ProgramState) -> int:
        """p's running jobs less those stopped this cycle, plus those started this cycle."""
        stopped = snap.stopped
        n = sum(1 for j in p.running.values() if j.spec.id not in stopped)
        return n + sum(1 for j, _ in self.admitted if j.program is p)

"""Slurm's association and QOS limits as the Slurm policies' admission step.

Sources: slurm.schedmd.com/resource_limits.html ("GrpTRES": "The total count of TRES
able to be used at any given time from jobs running from an association and its
children"; "GrpJobs"; "MaxTRES" per job), sacctmgr.html (the same options, and TRES names
``gres/gpu``, ``gres/gpu:<type>``), and squeue's reason codes (``AssocGrpGRES``,
``AssocGrpJobsLimit``, ``AssocMaxGRESPerJob``), all mapped onto gpufleet's
``Reason.QUOTA`` (waiting for quota).

Rule, for a job of program (account) p asking g GPUs of type t (association limits):

- ``MaxTRES gres/gpu=M``: refused if ``g > M`` (it never starts);
- ``GrpTRES gres/gpu=N``: refused if ``used(p) + g > N``, ``used`` counting every running
  job of p and every job this cycle has started;
- ``GrpTRES gres/gpu:t=N``: refused if ``used(p, t) + g > N``; another allowed type may
  still take it;
- ``GrpJobs=N``: refused if ``running jobs(p) + 1 > N``.

QOS limits and per-user limits (issue 18, item 1), for a job of user u in QOS q
(``JobSpec.user``, ``JobSpec.qos``; squeue's ``QOSGrpGRES``, ``QOSMaxGRESPerUser``,
``QOSMaxJobsPerUserLimit``, ``QOSGrpJobsLimit``, ``QOSMaxGRESPerJob``):

- q's ``MaxJobsPU=N``: refused if u's running jobs in q + 1 > N; ``GrpJobs=N``: q's
  running jobs + 1 > N;
- q's ``MaxTRES gres/gpu=M``: ``g > M``; ``GrpTRES gres/gpu[:t]=N``: GPUs (of t) held by
  q's running jobs, every account's, + g > N; ``MaxTRESPU gres/gpu[:t]=N``: the same over
  u's jobs in q;
- u's own association in p (sacctmgr's user rows): its ``GrpTRES``, ``MaxTRES``,
  ``GrpJobs`` as above over u's jobs in p, then p's association over all of p's jobs.

Order and precedence, as src/slurmctld/acct_policy.c (22.05) has them: the QOS first
(``acct_policy_job_runnable_pre_select``/``_post_select`` call ``_qos_job_runnable_*``
before walking the associations from the job's, the user's, up to its account); a limit
the QOS sets *replaces* the associations' limit of the same kind on the same TRES:
``_validate_tres_usage_limits_for_assoc`` skips a TRES where ``qos_rec.grp_tres_ctld``
is set, and the association's ``grp_jobs`` is read only ``if (qos_rec.grp_jobs ==
INFINITE)`` (resource_limits.html, "Hierarchy": "the point in this list where the limit
is first defined will be used"). So QOS ``GrpTRES=gres/gpu=2`` over an account's
``GrpTRES=gres/gpu=4`` caps the QOS's jobs of that account at 2, and QOS
``GrpTRES=gres/gpu=8`` lets them past the account's 4. ``gres/gpu`` and
``gres/gpu:TYPE`` are different TRES: one does not replace the other.

Not modelled: a partition's QOS (first in Slurm's order unless the job's QOS has flag
``OverPartQOS``: the policies see no partitions' QOS), ``MaxJobsPA``/``MaxTRESPA``,
association ``MaxJobs``, limits of parent accounts above the job's account, and the QOS
usage of jobs in other cohorts (a Slurm cluster is one cohort in the forecast). A job
with no user ("") is not checked against per-user limits; one with no QOS against none.
Counting the QOS and user totals walks the cohort's running jobs, so it costs time only
where such limits exist.

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

from collections.abc import Callable, Collection, Mapping

from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm.setup import AssocLimits, QosLimits, SlurmSetup
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

_NO_QOS = QosLimits()


class Held:
    """What a set of running jobs holds: GPUs of all types, of the type asked, and jobs."""

    __slots__ = ("gpus", "jobs", "typed")

    def __init__(self, gpus: int = 0, typed: int = 0, jobs: int = 0) -> None:
        self.gpus, self.typed, self.jobs = gpus, typed, jobs


class SlurmLimits:
    """Admission by association and QOS limits. ``admitted`` is the current decision's
    list of starts (the policy points it at ``Decision.admit`` each cycle), so jobs started
    this cycle count against every limit; the program's GPU counts come from the snapshot,
    which already holds them."""

    def __init__(
        self,
        limits: Mapping[str, AssocLimits],
        qos: Mapping[str, QosLimits] | None = None,
        user_limits: Mapping[str, Mapping[str, AssocLimits]] | None = None,
    ) -> None:
        self.limits = {k: v for k, v in limits.items() if not v.empty}
        self.qos = {k: v for k, v in (qos or {}).items() if not v.empty}
        self.users = {
            a: kept
            for a, users in (user_limits or {}).items()
            if (kept := {u: v for u, v in users.items() if not v.empty})
        }
        self.admitted: list[tuple[Job, Placement]] = []

    @classmethod
    def of(cls, setup: SlurmSetup | None) -> SlurmLimits | None:
        """The limits of ``setup``; None where it sets none."""
        if setup is None:
            return None
        out = cls(setup.limits, setup.qos, setup.user_limits)
        return out if out.limits or out.qos or out.users else None

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        spec = job.spec
        q = self.qos.get(spec.qos, _NO_QOS) if spec.qos else _NO_QOS
        if q is not _NO_QOS and self.qos_refuses(snap, job, q, gpu_type):
            return Reason.QUOTA
        user = self.users.get(job.program.name, {}).get(spec.user) if spec.user else None
        if user is not None:
            p = job.program
            held = self.held(
                snap, job, gpu_type, lambda j: j.program is p and j.spec.user == spec.user
            )
            if _assoc_refuses(user, q, held, spec.gpus, gpu_type):
                return Reason.QUOTA
        lim = self.limits.get(job.program.name)
        if lim is None:
            return None
        p = job.program
        held = Held(p.used_gpus, p.usage.get(gpu_type, 0), 0)
        if lim.grp_jobs is not None and q.grp_jobs is None:
            held.jobs = self.running_jobs(snap, p)
        return Reason.QUOTA if _assoc_refuses(lim, q, held, spec.gpus, gpu_type) else None

    def qos_refuses(self, snap: Snapshot, job: Job, q: QosLimits, gpu_type: str) -> bool:
        """Whether a limit of the job's QOS holds it (rules in the module docstring)."""
        spec, g = job.spec, job.spec.gpus
        if q.max_gpus_per_job is not None and g > q.max_gpus_per_job:
            return True
        if q.grp_gpus or q.grp_jobs is not None:
            held = self.held(snap, job, gpu_type, lambda j: j.spec.qos == spec.qos)
            if q.grp_jobs is not None and held.jobs + 1 > q.grp_jobs:
                return True
            if _over(q.grp_gpus, (), held, g, gpu_type):
                return True
        if spec.user and (q.max_gpus_per_user or q.max_jobs_per_user is not None):
            mine = self.held(
                snap, job, gpu_type, lambda j: j.spec.qos == spec.qos and j.spec.user == spec.user
            )
            if q.max_jobs_per_user is not None and mine.jobs + 1 > q.max_jobs_per_user:
                return True
            if _over(q.max_gpus_per_user, (), mine, g, gpu_type):
                return True
        return False

    def held(self, snap: Snapshot, job: Job, gpu_type: str, match: Callable[[Job], bool]) -> Held:
        """What the running jobs of ``job``'s cohort that ``match`` hold, less those
        stopped this cycle, plus those started this cycle."""
        out = Held()
        for j in snap.running(snap.cohort(job.cohort)):
            if match(j) and j.placement is not None:
                _add(out, j, snap.gpu_type_of(j.placement) == gpu_type)
        for j, pl in self.admitted:
            if match(j):
                _add(out, j, snap.gpu_type_of(pl) == gpu_type)
        return out

    def running_jobs(self, snap: Snapshot, p: ProgramState) -> int:
        """p's running jobs less those stopped this cycle, plus those started this cycle."""
        stopped = snap.stopped
        n = sum(1 for j in p.running.values() if j.spec.id not in stopped)
        return n + sum(1 for j, _ in self.admitted if j.program is p)


def _add(out: Held, job: Job, same_type: bool) -> None:
    out.gpus += job.spec.gpus
    out.jobs += 1
    if same_type:
        out.typed += job.spec.gpus


def _over(
    caps: Mapping[str | None, int],
    replaced: Collection[str | None],
    held: Held,
    g: int,
    gpu_type: str,
) -> bool:
    """Whether ``g`` more GPUs of ``gpu_type`` pass a cap of ``caps`` (None: all types)
    not ``replaced`` by the QOS; another type's cap does not count this job."""
    for key, cap in caps.items():
        if key in replaced:
            continue
        if key is None and held.gpus + g > cap:
            return True
        if key == gpu_type and held.typed + g > cap:
            return True
    return False


def _assoc_refuses(lim: AssocLimits, q: QosLimits, held: Held, g: int, gpu_type: str) -> bool:
    """An association's limits where the QOS sets none of the same kind and TRES."""
    per_job = lim.max_gpus_per_job if q.max_gpus_per_job is None else None
    if per_job is not None and g > per_job:
        return True
    if _over(lim.grp_gpus, q.grp_gpus.keys(), held, g, gpu_type):
        return True
    return lim.grp_jobs is not None and q.grp_jobs is None and held.jobs + 1 > lim.grp_jobs

"""The tests' Harness with a policy instance in place of a registered name (Slurm's tests)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Quota
from gpufleet.policies.base import BasePolicy
from gpufleet.policies.slurm import SlurmBackfill, SlurmBackfillEasy, SlurmMultifactor, SlurmSetup
from gpufleet.state.jobs import Job
from tests.support.builders import H100, Harness

# The three Slurm policies the table tests run each case under, and the two-account
# programs they share (xai 60 shares, tesla 40; quotas far above any case's GPUs).
Make = Callable[[SlurmSetup], BasePolicy]
# job priority from QOS only (JobSpec.priority), so jobs go in the order a test writes
QOS_ONLY = SlurmSetup(weight_qos=1000.0)
SLURM_POLICIES: list[Make] = [
    lambda s: SlurmMultifactor(setup=s),
    lambda s: SlurmBackfill(setup=s),
    lambda s: SlurmBackfillEasy(setup=s),
]
SLURM_POLICY_IDS = ["multifactor", "backfill", "backfill-easy"]
# The weights of priority_multifactor.html's "Configuration Example" (the policies' defaults
# until issue 14 made them slurm.conf's, all 0): tests whose oracle needs priorities that
# differ from submit order name them.
EXAMPLE_WEIGHTS: dict[str, float] = {
    "weight_age": 1000.0,
    "weight_fairshare": 10000.0,
    "weight_job_size": 1000.0,
    "weight_partition": 1000.0,
}
TWO_ACCOUNTS: dict[str, tuple[str, float, dict[str, Quota]]] = {
    "xai": ("xai-co", 60.0, {H100: Quota(1000)}),
    "tesla": ("tesla-co", 40.0, {H100: Quota(1000)}),
}


class SlurmHarness:
    """The tests' Harness with a policy instance in place of a registered name, and jobs
    that may carry a time limit."""

    def __init__(
        self,
        policy: BasePolicy,
        nodes: list[int] | None = None,
        programs: dict[str, tuple[str, float, dict[str, Quota]]] | None = None,
    ) -> None:
        self.h = Harness("fifo", nodes=nodes, programs=programs)
        self.h.engine.policy = policy
        self.policy = policy
        self._ids = itertools.count()

    def submit(
        self,
        program: str,
        gpus: int,
        *,
        at: float = 0.0,
        work_s: float = 3600.0,
        limit_s: float | None = None,
        priority: int = 0,
        types: tuple[str, ...] = (H100,),
        user: str = "",
        qos: str = "",
    ) -> Job:
        spec = JobSpec(
            JobId(next(self._ids)),
            ProgramId(program),
            at,
            gpus,
            work_s,
            tuple(GpuTypeName(t) for t in types),
            priority,
            time_limit_s=limit_s,
            user=user,
            qos=qos,
        )
        job = Job(spec, self.h.state.program_by_name[program])
        self.h.engine.submit(job)
        return job

    def running_jobs(self) -> list[Job]:
        return [j for p in self.h.state.programs for j in p.running.values()]

    def advance(self) -> float | None:
        """Complete the running jobs that end first, then cycle; returns the time."""
        run = self.running_jobs()
        if not run:
            return None
        t = min(j.start_s + j.remaining_s / j.speed for j in run)
        for j in run:
            if j.start_s + j.remaining_s / j.speed <= t + 1e-9:
                self.h.finish(j, t)
        self.h.cycle(t)
        return t

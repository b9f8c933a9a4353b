"""Small builders for tests: a cluster with an engine and a recording executor."""

from __future__ import annotations

from gpufleet.domain.gpus import default_catalog
from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Quota
from gpufleet.engine.engine import Engine
from gpufleet.engine.fakes import Recording
from gpufleet.policies.base import Decision
from gpufleet.policies.registry import make_policy
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job, JobState

H100 = GpuTypeName("H100-SXM")
A100 = GpuTypeName("A100-80GB")


class Harness:
    """A one-site cluster of the given nodes (GPUs per node), powered and ready.

    ``programs`` maps a program name to (entity, weight, {gpu type: Quota}); entities share
    one cohort unless ``cohorts`` names another for an entity."""

    def __init__(
        self,
        policy: str,
        nodes: list[int] | None = None,
        programs: dict[str, tuple[str, float, dict[str, Quota]]] | None = None,
        cohorts: dict[str, str] | None = None,
        node_type: str = H100,
        extra_pools: list[tuple[str, list[int], str]] | None = None,
    ) -> None:
        programs = programs or {"a": ("org", 1.0, {H100: Quota(1000)})}
        entities = sorted({e for e, _, _ in programs.values()})
        cohort_of = {e: (cohorts or {}).get(e, "c") for e in entities}
        self.state = ClusterState(entities, cohort_of)
        self.state.add_site("dc", 1.3, 1e9, [])
        for name, (ent, weight, quotas) in programs.items():
            self.state.add_program(name, ent, weight, 0, quotas)
        pools = [("p0", nodes or [8, 8], entities[0], node_type)]
        pools += [(n, sizes, owner, node_type) for n, sizes, owner in (extra_pools or [])]
        for pname, sizes, owner, gtype in pools:
            for i, g in enumerate(sizes):
                self.state.add_pool(f"{pname}-{i}", "dc", gtype, g, 1, owner, 1000.0)
                self.state.deliver(f"{pname}-{i}")
        self.state.repower("dc", 0.0)
        self.rec = Recording()
        self.engine = Engine(self.state, make_policy(policy), default_catalog(), self.rec, self.rec)
        self._next = 0

    def submit(
        self,
        program: str,
        gpus: int,
        *,
        priority: int = 0,
        at: float = 0.0,
        work_s: float = 3600.0,
        preemptible: bool = True,
        checkpoint_s: float | None = None,
        types: tuple[str, ...] = (H100,),
        restore_s: float = 0.0,
    ) -> Job:
        spec = JobSpec(
            JobId(self._next),
            ProgramId(program),
            at,
            gpus,
            work_s,
            tuple(GpuTypeName(t) for t in types),
            priority,
            preemptible,
            checkpoint_s,
            restore_s=restore_s,
        )
        self._next += 1
        job = Job(spec, self.state.program_by_name[program])
        self.engine.submit(job)
        return job

    def cycle(self, now: float = 0.0) -> Decision:
        return self.engine.cycle(now)

    def running(self) -> list[int]:
        return sorted(j.spec.id for p in self.state.programs for j in p.running.values())

    def pending(self) -> list[int]:
        return sorted(j.spec.id for p in self.state.programs for j in p.pending.values())

    def finish(self, job: Job, now: float) -> None:
        assert job.state == JobState.RUNNING
        self.engine.complete(job, now)

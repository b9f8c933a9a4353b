"""One scheduling cycle, and every change to cluster state, applied in one place.

``Engine.cycle(now)`` reads as its phases:

1. snapshot   a read-only view of the changed cohorts, with a tentative-edit journal;
2. decide     the policy orders, admits, places and picks victims on the snapshot;
3. rollback   every tentative edit is undone: the policy leaves no trace;
4. apply      preemptions, then admissions, through ClusterState and the Executor;
5. settle     cohorts are clean again, except where preemption requeued jobs.

The engine never imports its hosts. A host (the simulator, or a live service) passes an
:class:`Executor` that makes starts and stops happen, and an :class:`Observer` that hears
about them; time always comes in as ``now_s``.
"""

from __future__ import annotations

import math
from typing import Protocol

from gpufleet.domain.changes import Transfer
from gpufleet.domain.gpus import GpuCatalog
from gpufleet.domain.org import Quota
from gpufleet.errors import InternalError
from gpufleet.policies.base import Decision, Policy
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job, JobState
from gpufleet.state.snapshot import Snapshot


class Executor(Protocol):
    def launch(self, job: Job, now_s: float, run_s: float) -> None:
        """Start ``job`` (already placed in state); it needs ``run_s`` seconds to finish."""
        ...

    def halt(self, job: Job, now_s: float) -> None:
        """Stop ``job`` before it finishes (preemption)."""
        ...


class Observer(Protocol):
    def on_start(self, job: Job, now_s: float) -> None: ...

    def on_stop(
        self, job: Job, now_s: float, progress_s: float, lost_s: float, finished: bool
    ) -> None:
        """``job`` left its GPUs after ``progress_s`` reference-seconds of this run, of
        which ``lost_s`` were lost (not checkpointed)."""
        ...

    def on_capacity(self, state: ClusterState, now_s: float) -> None: ...

    def on_quota(self, program: str, gpu_type: str, nominal: int, now_s: float) -> None: ...


class Engine:
    def __init__(
        self,
        state: ClusterState,
        policy: Policy,
        catalog: GpuCatalog,
        executor: Executor,
        observer: Observer,
    ) -> None:
        self.state = state
        self.policy = policy
        self.executor = executor
        self.observer = observer
        self.speed: dict[str, float] = {t.name: t.throughput for t in catalog}
        self.cycles = 0
        self._snap = Snapshot(state)

    # --- the cycle -------------------------------------------------------------------
    def cycle(self, now_s: float) -> Decision:
        st = self.state
        if not st.dirty:
            return Decision()
        snap = self._snap
        snap.reset(now_s)
        decision = self.policy.decide(snap)
        committed = snap.commit_if_matches(decision.admit, decision.preempt)
        if not committed:
            snap.rollback()
        st.dirty.clear()
        self.apply(decision, now_s, committed)
        self.cycles += 1
        return decision

    def apply(self, decision: Decision, now_s: float, committed: bool = False) -> None:
        """Preemptions first, then admissions. ``committed``: the snapshot's journal held
        exactly these edits and was kept, so GPUs and quota usage are already booked."""
        for job in decision.preempt:
            self.preempt(job, now_s, committed)
        for job, placement in decision.admit:
            self.start(job, placement, now_s, committed)
        for job, reason in decision.blocked:
            job.reason = reason

    # --- job transitions ---------------------------------------------------------------
    def start(self, job: Job, placement: Placement, now_s: float, reserved: bool = False) -> None:
        if job.state != JobState.PENDING:
            raise InternalError(f"{job!r} admitted while not pending")
        speed = self.speed[self.state.capacity.groups[placement.group].gpu_type]
        self.state.start(job, placement, speed, now_s, reserved)
        job.reason = ""
        self.observer.on_start(job, now_s)
        self.executor.launch(job, now_s, job.remaining_s / speed)

    def complete(self, job: Job, now_s: float) -> None:
        progress = job.remaining_s
        self.state.stop(job)
        job.remaining_s = 0.0
        job.state = JobState.DONE
        self.observer.on_stop(job, now_s, progress, 0.0, True)

    def preempt(self, job: Job, now_s: float, released: bool = False) -> None:
        """Stop a running job; work since its last checkpoint is lost; it requeues at the
        head of its program's queue."""
        elapsed = now_s - job.start_s
        progress = min(job.remaining_s, elapsed * job.speed)
        ckpt = job.spec.checkpoint_s
        kept = 0.0
        if ckpt:
            kept = min(progress, math.floor(elapsed / ckpt) * ckpt * job.speed)
        self.executor.halt(job, now_s)
        self.state.stop(job, released)
        job.remaining_s -= kept
        job.preemptions += 1
        job.lost_gpu_s += (progress - kept) * job.spec.gpus
        self.observer.on_stop(job, now_s, progress, progress - kept, False)
        self.state.enqueue(job, front=True)

    def submit(self, job: Job) -> None:
        self.state.enqueue(job)

    # --- capacity and quota changes -------------------------------------------------
    def deliver(self, pool: str, now_s: float) -> None:
        for site in self.state.deliver(pool):
            self.state.repower(site, now_s)
        self.observer.on_capacity(self.state, now_s)

    def site_ready(self, site: str, now_s: float) -> None:
        self.state.repower(site, now_s)
        self.observer.on_capacity(self.state, now_s)

    def transfer(self, t: Transfer, now_s: float, back: bool = False) -> None:
        """Move whole nodes of ``t.pool`` (back) between entities, preempting what runs on
        them, and move the same nominal quota between the two programs."""
        st = self.state
        giver, taker = (t.to_entity, t.from_entity) if back else (t.from_entity, t.to_entity)
        nodes = self._nodes_to_move(t, giver)
        for job in st.jobs_on(nodes):
            self.preempt(job, now_s)
        site = None
        if t.to_site is not None:
            site = st.pool_home[t.pool] if back else t.to_site
        for s in st.move_nodes(nodes, taker, site):
            st.repower(s, now_s)
        src, dst = (t.to_program, t.from_program) if back else (t.from_program, t.to_program)
        gtype = st.node_type[nodes[0]]
        self._shift_quota(src, gtype, -t.gpus, now_s)
        self._shift_quota(dst, gtype, +t.gpus, now_s)
        self.observer.on_capacity(st, now_s)

    def fail_node(self, node: int, now_s: float) -> bool:
        """A powered node fails: its jobs are preempted, it leaves the pool of usable
        nodes. False (nothing happens) if it is not powered or already down."""
        st = self.state
        if not st.node_powered[node] or st.node_down[node]:
            return False
        for job in st.jobs_on([node]):
            self.preempt(job, now_s)
        st.set_down(node, True)
        self.observer.on_capacity(st, now_s)
        return True

    def repair_node(self, node: int, now_s: float) -> None:
        self.state.set_down(node, False)
        self.observer.on_capacity(self.state, now_s)

    def set_quota(self, program: str, gpu_type: str, quota: Quota, now_s: float) -> None:
        self.state.set_quota(program, gpu_type, quota)
        self.observer.on_quota(program, gpu_type, quota.nominal_gpus, now_s)

    def _shift_quota(self, program: str, gpu_type: str, delta: int, now_s: float) -> None:
        p = self.state.program_by_name[program]
        q = p.quotas.get(gpu_type) or Quota(0)
        nominal = max(0, q.nominal_gpus + delta)
        self.set_quota(
            program, gpu_type, Quota(nominal, q.borrowing_limit_gpus, q.lending_limit_gpus), now_s
        )

    def _nodes_to_move(self, t: Transfer, giver: str) -> list[int]:
        st = self.state
        owner = st.entity_index[giver]
        mine = [n for n in st.pool_nodes[t.pool] if st.node_owner[n] == owner]
        per_node = st.capacity.node_gpus[mine[0]] if mine else 1
        need = t.gpus // per_node
        if len(mine) < need:
            raise InternalError(
                f"transfer {t.name}: {giver} holds {len(mine)} nodes of {t.pool}, {need} needed"
            )
        idle = [n for n in mine if st.node_idle(n)]
        busy = [n for n in mine if not st.node_idle(n)]
        return (idle + busy)[:need]

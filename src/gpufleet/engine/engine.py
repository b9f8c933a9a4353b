"""One scheduling cycle, and every change to cluster state, applied in one place.

``Engine.cycle(now)`` reads as its phases:

1. snapshot   a read-only view of the changed cohorts, with a tentative-edit journal;
2. decide     the policy orders, admits, places and picks victims on the snapshot;
3. rollback   every tentative edit is undone: the policy leaves no trace;
4. apply      preemptions, then admissions, through ClusterState and the Executor;
5. settle     cohorts are clean again, except where preemption requeued jobs;
6. reasons    every pending job of a scheduled cohort gets a reason (the rule below).

The rule for reasons: a job the policy examined and blocked carries the policy's reason
(``NO_GPU_TYPE`` refined into ``SITE_NOT_READY``/``NOT_DELIVERED`` from the cohort's nodes);
a pending job the last cycle of its cohort did not examine is ``BEHIND``: every built-in
policy stops looking at a queue (the cohort's, or a program's) only at a blocked job, so
something ahead of it is blocked. A job requeued by preemption is ``PREEMPTED`` until its
cohort's next cycle. Only changes are applied, and reported to the Observer's
``on_reasons``: the jobs blocked in the cohort's previous cycle and those enqueued since,
so the cost follows what the policy looked at, not the queue's length.

The engine never imports its hosts. A host (the simulator, or a live service) passes an
:class:`Executor` that makes starts and stops happen, and an :class:`Observer` that hears
about them; time always comes in as ``now_s``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from gpufleet.domain.changes import Transfer
from gpufleet.domain.gpus import GpuCatalog
from gpufleet.domain.org import Quota
from gpufleet.domain.reasons import Reason
from gpufleet.errors import InternalError
from gpufleet.policies.base import Decision, Policy
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job, JobState
from gpufleet.state.snapshot import Snapshot

_PENDING = JobState.PENDING
_NO_GPU, _BEHIND = Reason.NO_GPU_TYPE, Reason.BEHIND


class Executor(Protocol):
    def launch(self, job: Job, now_s: float, run_s: float) -> None:
        """Start ``job`` (already placed in state); it needs ``run_s`` seconds to finish."""
        ...

    def halt(self, job: Job, now_s: float) -> None:
        """Stop ``job`` before it finishes (preemption)."""
        ...


class Observer(Protocol):
    def on_start(self, job: Job, now_s: float) -> None:
        """``job`` started; its ``reason`` and ``reason_since_s`` still say why it waited."""
        ...

    def on_stop(
        self, job: Job, now_s: float, progress_s: float, lost_s: float, finished: bool
    ) -> None:
        """``job`` left its GPUs after ``progress_s`` reference-seconds of this run, of
        which ``lost_s`` were lost (not checkpointed)."""
        ...

    def on_capacity(self, state: ClusterState, now_s: float) -> None: ...

    def on_quota(self, program: str, gpu_type: str, nominal: int, now_s: float) -> None: ...

    def on_reasons(self, jobs_and_reasons: Sequence[tuple[Job, Reason]], now_s: float) -> None:
        """Pending jobs whose reason changes now, with their new reason; each job's
        ``reason`` and ``reason_since_s`` still hold the old one ("" at its first)."""
        ...


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
        # jobs blocked in each cohort's last cycle, and jobs enqueued since the last cycle
        self._blocked: dict[str, dict[int, Job]] = {}
        self._fresh: list[Job] = []
        self._no_gpu: dict[tuple[str, tuple[str, ...]], Reason] = {}
        # the cohorts a cycle decided when its policy asked for a wake-up (decision.wake_at):
        # the host wakes exactly these; set only then, so the common cycle pays nothing
        self.wake_cohorts: tuple[str, ...] = ()

    # --- the cycle -------------------------------------------------------------------
    def cycle(self, now_s: float) -> Decision:
        """One cycle at ``now_s``; the host reads ``wake_at`` on the returned decision."""
        st = self.state
        if not st.dirty:
            return Decision()
        snap = self._snap
        snap.reset(now_s)
        decision = self.policy.decide(snap)
        committed = snap.commit_if_matches(decision.admit, decision.preempt)
        if not committed:
            snap.rollback()
        fresh = self._fresh
        reasons = bool(decision.blocked or fresh or self._blocked)
        decided = tuple(st.dirty) if reasons else ()
        if decision.wake_at is not None:
            self.wake_cohorts = decided or tuple(st.dirty)
        st.dirty.clear()
        if fresh:
            self._fresh = []
        self.apply(decision, now_s, committed)
        if reasons:
            self._reasons(decision, decided, fresh, now_s)
        self.cycles += 1
        return decision

    def apply(self, decision: Decision, now_s: float, committed: bool = False) -> None:
        """Preemptions first, then admissions. ``committed``: the snapshot's journal held
        exactly these edits and was kept, so GPUs and quota usage are already booked."""
        for job in decision.preempt:
            self.preempt(job, now_s, committed)
        for job, placement in decision.admit:
            self.start(job, placement, now_s, committed)

    def _reasons(
        self, decision: Decision, decided: tuple[str, ...], fresh: list[Job], now_s: float
    ) -> None:
        """Phase 6: the rule of the module docstring, applied to changes only (plain loops
        and module constants: this runs every cycle)."""
        changes: list[tuple[Job, Reason]] = []
        blocked: dict[int, Job] = {}
        for job, reason in decision.blocked:
            jid = job.spec.id
            if job.state is not _PENDING or jid in blocked:
                continue
            if reason is _NO_GPU:
                reason = self._why_no_gpu(job)
            blocked[jid] = job
            if job.reason is not reason:
                changes.append((job, reason))
        last = self._blocked
        for c in decided:
            old = last.pop(c, None)
            if old:
                for old_id, job in old.items():
                    if (
                        old_id not in blocked
                        and job.state is _PENDING
                        and job.reason is not _BEHIND
                    ):
                        changes.append((job, _BEHIND))
        if blocked:
            if len(decided) == 1:
                last[decided[0]] = blocked
            else:
                for bid, job in blocked.items():
                    last.setdefault(job.cohort, {})[bid] = job
        for job in fresh:
            if job.state is _PENDING and job.reason is not _BEHIND and job.spec.id not in blocked:
                changes.append((job, _BEHIND))
        if changes:
            self._set_reasons(changes, now_s)

    def _set_reasons(self, changes: list[tuple[Job, Reason]], now_s: float) -> None:
        self.observer.on_reasons(changes, now_s)
        for job, reason in changes:
            if job.reason:  # the first reason counts from submit (reason_since_s as set)
                job.reason_since_s = now_s
            job.reason = reason

    def _why_no_gpu(self, job: Job) -> Reason:
        """Why the cohort has no ready GPU the job allows: some are delivered to an unpowered
        site, or not delivered yet, or there are none (or all are down). Cached until the
        next capacity change."""
        key = (job.cohort, job.spec.gpu_types)
        why = self._no_gpu.get(key)
        if why is None:
            st, cap = self.state, self.state.capacity
            allowed = set(job.spec.gpu_types)
            why = Reason.NO_GPU_TYPE
            for n, gi in enumerate(cap.node_group):
                g = cap.groups[gi]
                if g.cohort != job.cohort or g.gpu_type not in allowed:
                    continue
                if st.node_delivered[n] and not st.node_powered[n]:
                    why = Reason.SITE_NOT_READY
                    break
                if not st.node_delivered[n]:
                    why = Reason.NOT_DELIVERED
            self._no_gpu[key] = why
        return why

    # --- job transitions ---------------------------------------------------------------
    def start(self, job: Job, placement: Placement, now_s: float, reserved: bool = False) -> None:
        if job.state != JobState.PENDING:
            raise InternalError(f"{job!r} admitted while not pending")
        speed = self.speed[self.state.capacity.groups[placement.group].gpu_type]
        self.state.start(job, placement, speed, now_s, reserved)
        # checkpoint/restart: a job resuming kept progress first reloads its checkpoint
        resumed = job.remaining_s < job.spec.work_s
        job.restoring_s = job.spec.restore_s if resumed else 0.0
        self.observer.on_start(job, now_s)
        job.reason = ""
        self.executor.launch(job, now_s, job.remaining_s / speed + job.restoring_s)

    def complete(self, job: Job, now_s: float) -> None:
        progress = job.remaining_s
        job.attained_gpu_s += job.spec.gpus * (now_s - job.start_s)
        self.state.stop(job)
        job.remaining_s = 0.0
        job.state = JobState.DONE
        self.observer.on_stop(job, now_s, progress, 0.0, True)

    def preempt(self, job: Job, now_s: float, released: bool = False) -> None:
        """Stop a running job; work since its last checkpoint is lost; it requeues at the
        head of its program's queue. Checkpoints are taken every ``checkpoint_s`` of new
        work, counted from the end of the run's restore (``restoring_s``)."""
        elapsed = now_s - job.start_s
        working = max(0.0, elapsed - job.restoring_s)  # seconds of new work this run
        progress = min(job.remaining_s, working * job.speed)
        ckpt = job.spec.checkpoint_s
        kept = 0.0
        if ckpt:
            kept = min(progress, math.floor(working / ckpt) * ckpt * job.speed)
        self.executor.halt(job, now_s)
        job.attained_gpu_s += job.spec.gpus * elapsed
        self.state.stop(job, released)
        job.remaining_s -= kept
        job.preemptions += 1
        job.lost_gpu_s += (progress - kept) * job.spec.gpus
        self.observer.on_stop(job, now_s, progress, progress - kept, False)
        self.state.enqueue(job, front=True)
        job.reason = Reason.PREEMPTED
        job.reason_since_s = now_s
        self._fresh.append(job)

    def submit(self, job: Job) -> None:
        self.state.enqueue(job)
        self._fresh.append(job)

    # --- capacity and quota changes -------------------------------------------------
    def deliver(self, pool: str, now_s: float) -> None:
        for site in self.state.deliver(pool):
            self.state.repower(site, now_s)
        self._capacity_changed(now_s)

    def site_ready(self, site: str, now_s: float) -> None:
        self.state.repower(site, now_s)
        self._capacity_changed(now_s)

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
        self._capacity_changed(now_s)

    def fail_node(self, node: int, now_s: float) -> bool:
        """A powered node fails: its jobs are preempted, it leaves the pool of usable
        nodes. False (nothing happens) if it is not powered or already down."""
        st = self.state
        if not st.node_powered[node] or st.node_down[node]:
            return False
        for job in st.jobs_on([node]):
            self.preempt(job, now_s)
        st.set_down(node, True)
        self._capacity_changed(now_s)
        return True

    def repair_node(self, node: int, now_s: float) -> None:
        self.state.set_down(node, False)
        self._capacity_changed(now_s)

    def _capacity_changed(self, now_s: float) -> None:
        self._no_gpu.clear()
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

"""A run's starting state, its dated changes, and the one dispatch of a change to the engine.

Every host that replays a scenario goes through here: the simulator pushes :func:`timeline`'s
changes into its event heap and hands each to :func:`apply_change` when it pops;
:mod:`gpufleet.planning.allocation` applies the same list with no jobs in the fleet. So the
allocation in force at a date is what the simulator holds at that instant, by construction.

A run may also start from a fleet already at work (a live forecast: time 0 is now): a
:class:`Running` job is put back on its GPUs by :func:`resume`, with its start in the past
and its end given, and hosts then submit the pending queue as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from gpufleet.domain.changes import QuotaChange, Transfer
from gpufleet.domain.jobs import JobSpec
from gpufleet.domain.org import Quota
from gpufleet.domain.scenario import Scenario
from gpufleet.engine.engine import Engine
from gpufleet.errors import InternalError
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import Job, JobState


class Change(IntEnum):
    """Capacity event kinds, in the order they apply when simultaneous."""

    DELIVERY = 0
    SITE_READY = 1
    TRANSFER_START = 2
    TRANSFER_END = 3
    QUOTA = 4


@dataclass(frozen=True)
class TimedChange:
    t_s: float
    kind: Change
    subject: str | Transfer | QuotaChange


def build_state(sc: Scenario) -> ClusterState:
    st = ClusterState([e.name for e in sc.entities], {e.name: e.cohort for e in sc.entities})
    for s in sc.sites:
        st.add_site(
            s.name,
            s.pue,
            s.power_budget_kw,
            [(sc.seconds(b.date), b.power_kw) for b in s.ready_blocks],
        )
    for e in sc.entities:
        for p in e.programs:
            st.add_program(p.name, e.name, p.weight, p.priority, dict(p.quotas))
    for tree in sc.cohort_trees():  # a declared cohort tree: its root is the entities' cohort
        if tree.root in st.cohorts:
            st.cohorts[tree.root].tree = tree
    for pool in sc.pools:
        st.add_pool(
            pool.name,
            pool.site,
            pool.gpu_type,
            pool.gpus_per_node,
            pool.node_count,
            pool.owner,
            sc.catalog.get(pool.gpu_type).server_power_w,
            pool.value_usd,
            pool.nvlink_domain_gpus,
            pool.nodes_per_rack,
            pool.racks_per_block,
        )
    return st


def timeline(sc: Scenario) -> list[TimedChange]:
    """Every capacity and quota change inside the horizon; changes before the start apply at
    time 0 (a pool delivered last year is simply there)."""
    out: list[TimedChange] = []

    def at(d: datetime) -> float:
        return max(0.0, sc.seconds(d))

    for pool in sc.pools:
        out.append(TimedChange(at(pool.delivered), Change.DELIVERY, pool.name))
    for s in sc.sites:
        for b in s.ready_blocks:
            out.append(TimedChange(at(b.date), Change.SITE_READY, s.name))
    for t in sc.transfers:
        out.append(TimedChange(at(t.start), Change.TRANSFER_START, t))
        if t.end is not None:
            out.append(TimedChange(at(t.end), Change.TRANSFER_END, t))
    for q in sc.quota_changes:
        out.append(TimedChange(at(q.at), Change.QUOTA, q))
    horizon = sc.horizon_s
    return sorted((c for c in out if c.t_s <= horizon), key=lambda c: (c.t_s, c.kind))


def apply_change(engine: Engine, c: TimedChange) -> None:
    """One change, at its own instant ``c.t_s``, through the engine method that makes it."""
    if c.kind == Change.DELIVERY:
        assert isinstance(c.subject, str)
        engine.deliver(c.subject, c.t_s)
    elif c.kind == Change.SITE_READY:
        assert isinstance(c.subject, str)
        engine.site_ready(c.subject, c.t_s)
    elif c.kind in (Change.TRANSFER_START, Change.TRANSFER_END):
        assert isinstance(c.subject, Transfer)
        engine.transfer(c.subject, c.t_s, back=c.kind == Change.TRANSFER_END)
    else:
        q = c.subject
        assert isinstance(q, QuotaChange)
        quota = Quota(q.nominal_gpus, q.borrowing_limit_gpus, q.lending_limit_gpus)
        engine.set_quota(q.program, q.gpu_type, quota, c.t_s)


@dataclass(frozen=True)
class Running:
    """A job already running when a run starts: its GPUs, when it started (``started_s``
    <= the run's start, in the run's time) and when it will end (``ends_s``, at or after
    the start). Its work left is what it does at its GPU type's speed until ``ends_s``."""

    spec: JobSpec
    placement: Placement
    started_s: float
    ends_s: float


def resume(engine: Engine, job: Job, running: Running, now_s: float) -> None:
    """Put ``job`` back on ``running.placement`` as it was at ``now_s``: the state holds it
    from ``started_s`` on (ages and backfill estimates read that), the observer hears of it
    at ``now_s`` (the run's history begins there), and the executor gets the time left."""
    if job.state is not JobState.PENDING:
        raise InternalError(f"{job!r} resumed while not pending")
    st = engine.state
    speed = engine.speed[st.capacity.groups[running.placement.group].gpu_type]
    left_s = max(0.0, running.ends_s - now_s)
    st.enqueue(job)  # start takes a job off its queues
    st.start(job, running.placement, speed, running.started_s)
    job.remaining_s = left_s * speed
    engine.observer.on_start(job, now_s)
    engine.executor.launch(job, now_s, left_s)

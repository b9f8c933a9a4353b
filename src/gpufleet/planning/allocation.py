"""The allocation in force at an instant: per cohort, program and GPU type the quota
(nominal, borrowing limit, lending limit), each program's weight and priority, and the
GPUs ready behind the quotas.

The timeline is applied by the simulator's own code, not by a copy of it. A :class:`Replay`
builds the state a simulation starts from (:func:`gpufleet.engine.timeline.build_state`), takes
the simulator's list of changes (:func:`gpufleet.engine.timeline.timeline`: a change dated before
the start applies at the start, one after the end never; ties in the order deliveries,
readiness, transfer starts, transfer ends, quota changes, then file order) and applies each
with :func:`gpufleet.engine.timeline.apply_change`, the dispatch the simulator calls, with no
jobs in the fleet. Hence, exactly as in a simulation:

- a quota change replaces the program's whole quota for that GPU type from its instant on;
- from a transfer's ``start`` the giving program's nominal quota for the pool's GPU type
  shrinks by ``gpus`` (not below 0) and the receiving program's grows by as much, limits
  kept; at its ``end`` the same amount moves back (a nominal clamped at 0 therefore does not
  return to its old value; the simulator behaves the same).

The allocation at instant t holds every change dated at or before t.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gpufleet.domain.ids import CohortId, EntityId, GpuTypeName, ProgramId
from gpufleet.domain.org import CohortTree, Quota
from gpufleet.domain.scenario import Scenario
from gpufleet.engine.engine import Engine
from gpufleet.engine.fakes import NullObserver, RecordingExecutor
from gpufleet.engine.timeline import apply_change, build_state, timeline
from gpufleet.errors import InputError
from gpufleet.policies.registry import make_policy
from gpufleet.state.cluster import ClusterState
from gpufleet.state.jobs import ProgramState


@dataclass(frozen=True)
class ProgramAllocation:
    """One program (one scheduling queue) and its quota per GPU type, in the order the
    program acquired them (the file's order first)."""

    name: ProgramId
    entity: EntityId
    weight: float
    priority: int
    quotas: tuple[tuple[GpuTypeName, Quota], ...]

    def quota(self, gpu_type: str) -> Quota | None:
        for name, q in self.quotas:
            if name == gpu_type:
                return q
        return None


@dataclass(frozen=True)
class CohortAllocation:
    """A cohort: the programs that borrow from each other, and the GPUs its entities own
    (delivered) and can use (ready: delivered and powered)."""

    name: CohortId
    entities: tuple[EntityId, ...]
    programs: tuple[ProgramAllocation, ...]
    ready_gpus: tuple[tuple[GpuTypeName, int], ...]
    delivered_gpus: tuple[tuple[GpuTypeName, int], ...]
    # the declared Kueue cohort tree rooted at this cohort (None: a flat cohort); cohort
    # quotas do not change over the timeline, so it is the scenario's
    tree: CohortTree | None = None

    def gpu_types(self) -> list[GpuTypeName]:
        """The GPU types some program of the cohort has a quota for, first seen first."""
        seen: dict[GpuTypeName, None] = {}
        for p in self.programs:
            for t, _ in p.quotas:
                seen[t] = None
        return list(seen)

    def nominal_gpus(self, gpu_type: str) -> int:
        """The cohort's total nominal quota of ``gpu_type``."""
        return sum(q.nominal_gpus for p in self.programs if (q := p.quota(gpu_type)))

    def ceiling_gpus(self, program: ProgramAllocation, gpu_type: str) -> int:
        """The most GPUs of ``gpu_type`` ``program`` can hold under the quota policy.

        ``nominal + min(borrowing_limit, sum of lendable(q') over the cohort's other
        programs q' with a quota for the type)``: usage may exceed the guaranteed part only
        by what the cohort's shared pool holds (``gpufleet.policies.basic.quota``), and that pool
        is the lendable quota of every program, this one's included. 0 without a quota."""
        own = program.quota(gpu_type)
        if own is None:
            return 0
        others = sum(
            q.lendable_gpus
            for p in self.programs
            if p.name != program.name and (q := p.quota(gpu_type)) is not None
        )
        limit = own.borrowing_limit_gpus
        return own.nominal_gpus + (others if limit is None else min(limit, others))

    def ready(self, gpu_type: str) -> int:
        return dict(self.ready_gpus).get(GpuTypeName(gpu_type), 0)

    def delivered(self, gpu_type: str) -> int:
        return dict(self.delivered_gpus).get(GpuTypeName(gpu_type), 0)


@dataclass(frozen=True)
class Allocation:
    """Everything in force at ``at`` in scenario ``scenario`` (its name, with the variant)."""

    scenario: str
    at: datetime
    cohorts: tuple[CohortAllocation, ...]

    def programs(self) -> list[ProgramAllocation]:
        return [p for c in self.cohorts for p in c.programs]

    def cohort_of(self, program: str) -> CohortAllocation:
        for c in self.cohorts:
            if any(p.name == program for p in c.programs):
                return c
        raise KeyError(program)

    def quotas(self) -> dict[ProgramId, dict[GpuTypeName, Quota]]:
        return {p.name: dict(p.quotas) for p in self.programs()}

    def gpu_types(self) -> list[GpuTypeName]:
        """Every GPU type with a quota or with delivered GPUs, first seen first."""
        seen: dict[GpuTypeName, None] = {}
        for c in self.cohorts:
            for t in c.gpu_types():
                seen[t] = None
            for t, _ in c.delivered_gpus:
                seen[t] = None
        return list(seen)


class Replay:
    """A scenario's timeline, applied once forward in the simulator's order."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.state = build_state(sc)
        # no jobs, so the executor is never called, and nobody listens; the policy is never
        # asked to decide: the replay runs no scheduling cycle
        self.engine = Engine(
            self.state, make_policy("fifo"), sc.catalog, RecordingExecutor(), NullObserver()
        )
        self.changes = timeline(sc)
        self._applied = 0

    def instants_s(self) -> list[float]:
        """Time 0 and every instant at which some change applies, in order."""
        return sorted({0.0, *(c.t_s for c in self.changes)})

    def advance(self, t_s: float) -> None:
        """Apply every change dated at or before ``t_s`` not applied yet."""
        while self._applied < len(self.changes) and self.changes[self._applied].t_s <= t_s:
            apply_change(self.engine, self.changes[self._applied])
            self._applied += 1

    def allocation(self, at: datetime) -> Allocation:
        """What the state holds now, labelled ``at``."""
        st = self.state
        ready, delivered = _gpus_by_cohort(st)
        cohorts: dict[str, list[EntityId]] = {}
        for e in self.sc.entities:
            cohorts.setdefault(e.cohort, []).append(e.name)
        out = []
        for cohort, entities in cohorts.items():
            state = st.cohorts.get(cohort)
            members = state.programs if state is not None else []
            out.append(
                CohortAllocation(
                    CohortId(cohort),
                    tuple(entities),
                    tuple(_program(p) for p in members),
                    tuple(ready.get(cohort, {}).items()),
                    tuple(delivered.get(cohort, {}).items()),
                    state.tree if state is not None else None,
                )
            )
        return Allocation(self.sc.name, at, tuple(out))


def _program(p: ProgramState) -> ProgramAllocation:
    return ProgramAllocation(
        ProgramId(p.name),
        EntityId(p.entity),
        p.weight,
        p.priority,
        tuple((GpuTypeName(t), q) for t, q in p.quotas.items()),
    )


def _gpus_by_cohort(
    st: ClusterState,
) -> tuple[dict[str, dict[GpuTypeName, int]], dict[str, dict[GpuTypeName, int]]]:
    """(ready, delivered) GPUs per cohort and GPU type, types in node order."""
    cap = st.capacity
    ready: dict[str, dict[GpuTypeName, int]] = {}
    delivered: dict[str, dict[GpuTypeName, int]] = {}
    for n, is_delivered in enumerate(st.node_delivered):
        if not is_delivered:
            continue
        cohort = cap.groups[cap.node_group[n]].cohort
        t = GpuTypeName(st.node_type[n])
        d = delivered.setdefault(cohort, {})
        d[t] = d.get(t, 0) + cap.node_gpus[n]
        if cap.node_usable[n]:
            r = ready.setdefault(cohort, {})
            r[t] = r.get(t, 0) + cap.node_gpus[n]
    return ready, delivered


def check_instant(sc: Scenario, at: datetime) -> None:
    """An allocation exists from the scenario's start to its end, both included."""
    if not sc.start <= at <= sc.end:
        raise InputError(
            f"{at.isoformat(sep=' ')} is outside scenario {sc.name!r}; expected an instant "
            f"from its start {sc.start.isoformat(sep=' ')} to its end {sc.end.isoformat(sep=' ')}"
        )


def allocation_at(sc: Scenario, at: datetime) -> Allocation:
    """The allocation in force at ``at`` (naive UTC, like every scenario instant)."""
    check_instant(sc, at)
    replay = Replay(sc)
    replay.advance(sc.seconds(at))
    return replay.allocation(at)


def allocations(sc: Scenario) -> list[Allocation]:
    """The allocation at the start and at every later instant where a change applies, in
    one pass over the timeline."""
    replay = Replay(sc)
    out = []
    for t_s in replay.instants_s():
        replay.advance(t_s)
        out.append(replay.allocation(sc.start + timedelta(seconds=t_s)))
    return out


def change_dates(sc: Scenario) -> list[datetime]:
    """The start, and every later instant at which some program's quotas change (a
    delivery or a power block alone changes no quota and gives no date)."""
    dates: list[datetime] = []
    before: dict[ProgramId, dict[GpuTypeName, Quota]] | None = None
    for a in allocations(sc):
        now = a.quotas()
        if now != before:
            dates.append(a.at)
            before = now
    return dates

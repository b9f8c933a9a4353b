"""NVIDIA KAI Scheduler's queue semantics: two-level fair share, allocation order, reclaim.

Sources (NVIDIA/KAI-Scheduler): ``docs/queues/README.md`` ("Queue Attributes": quota,
over-quota priority, over-quota weight, limit), ``docs/fairness/README.md`` ("Fair-Share
Algorithm", "Reclaim Resources") and ``docs/timeaware/README.md`` (time-aware fairness).

Queues. A leaf queue is a program; its parent is its entity (``hierarchy="entity"``) or the
whole cohort (``hierarchy="flat"``). Per GPU type t: deserved ``d = nominal``, over-quota
weight ``w = program weight``, limit ``l = nominal + borrowing limit`` (``None``: no limit),
priority ``pr = program priority``; demand ``r`` = GPUs of its running jobs on t plus its
pending jobs whose first allowed type present in the cohort is t. Parents sum their
children (see :func:`~gpufleet.policies.kai.fairshare.parent_of`).

Each cycle, per cohort:

1. **fair share** ``fs`` per queue and type, divided as in :mod:`.fairshare`, from the
   cohort's usable GPUs of the type;
2. **allocate**: repeatedly take the queue with the lowest saturation ratio
   ``sat = max_t alloc_t / fs_t`` (parent's ratio first, then the leaf's: queues "further
   below their fair share" go first, fairness README "Reclaim Resources") and try its
   oldest pending job (FIFO in a queue); a queue whose head cannot start is done for the
   cycle. A queue may exceed its fair share with idle GPUs, never its limit;
3. **reclaim** (fair-share reclaim, the README's first strategy), when the head cannot
   start for lack of GPUs: it may evict preemptible jobs on type t only if, after the
   transfer, its queue holds at most ``fs`` on t (and so does its parent, for victims in
   another parent) while each victim queue (and victim parent) keeps at least its ``fs``.
   Victims come from the queue with the highest saturation ratio first, newest job first;
   if the job still does not fit, nothing is evicted.

No preemption cycles: fair shares depend on capacity and demand only, and preemption
changes neither (an evicted job is pending again). A reclaim leaves its victim queue at or
above its fair share, and a queue can reclaim only when it would end at or below its own
and below it by a whole job, so the victim cannot take the GPUs back under the same shares.
The README's second strategy (quota reclaim) is subsumed while quotas fit the capacity,
because phase 1 then gives every queue ``min(d, r)``; when quotas are overcommitted it is
left out, since mixing the two rules could cycle. ``reclaimerUtilizationMultiplier``
(``reclaim_multiplier``, >= 1) scales the reclaimer's allocation before its check.

Time-aware fairness (``half_life_hours > 0``): the README gives the decay ``0.5^(dt/t_half)``
and normalisation by cluster capacity but not the formula by which usage lowers the
over-quota weight; we use ``w_eff = w / (1 + k * u)``, ``u`` the program's decayed
GPU-seconds over the cohort's decayed capacity GPU-seconds. Usage is integrated at the
cycles that schedule the cohort, at the rate seen at the previous such cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import ClassVar

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import BasePolicy, Decision
from gpufleet.policies.kai.fairshare import QueueShare, divide_tree, parent_of
from gpufleet.policies.options import FLAG, NON_NEGATIVE, Options, one_of
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

_INF = Fraction(10**18)


class FairShares:
    """Fair shares of one cohort for one cycle, by GPU type: programs by index, parents by
    name. ``parent`` maps a program index to its parent's name."""

    def __init__(self) -> None:
        self.leaf: dict[str, dict[int, Fraction]] = {}
        self.top: dict[str, dict[str, Fraction]] = {}
        self.parent: dict[int, str] = {}

    def leaf_fs(self, p: ProgramState, t: str) -> Fraction:
        return self.leaf.get(t, {}).get(p.index, Fraction(0))

    def parent_fs(self, name: str, t: str) -> Fraction:
        return self.top.get(t, {}).get(name, Fraction(0))


def cohort_capacity(snap: Snapshot, cohort: str) -> dict[str, int]:
    cap = snap.capacity
    return {
        t: sum(cap.groups[g].usable_gpus for g in gs)
        for t, gs in cap.by_cohort_type.get(cohort, {}).items()
    }


def demand(c: CohortState, types: dict[str, int]) -> dict[int, dict[str, int]]:
    """GPUs requested per program and type: running on it, plus pending whose first
    allowed type the cohort has (a job counts once, not on every type it allows)."""
    out: dict[int, dict[str, int]] = {}
    for p in c.programs:
        r = dict(p.usage)
        for j in p.pending.values():
            t = next((x for x in j.spec.gpu_types if x in types), None)
            if t is not None:
                r[t] = r.get(t, 0) + j.spec.gpus
        out[p.index] = r
    return out


def leaf_queue(p: ProgramState, t: str, weight: Fraction, want: int) -> QueueShare:
    q = p.quotas.get(t)
    if q is None:  # no quota entry for the type: the program may not use it
        return QueueShare(str(p.index), 0, Fraction(0), p.priority, 0, 0)
    limit = None if q.borrowing_limit_gpus is None else q.nominal_gpus + q.borrowing_limit_gpus
    return QueueShare(str(p.index), q.nominal_gpus, weight, p.priority, limit, want)


def fair_shares(
    c: CohortState,
    capacity: dict[str, int],
    flat: bool,
    weights: dict[int, Fraction],
) -> FairShares:
    """Phase 1 of a cycle: the two-level division for every GPU type of the cohort."""
    fs = FairShares()
    wants = demand(c, capacity)
    groups: dict[str, list[ProgramState]] = {}
    for p in c.programs:
        name = "cohort" if flat else "entity:" + p.entity
        groups.setdefault(name, []).append(p)
        fs.parent[p.index] = name
    for t, cap in capacity.items():
        parents = [
            parent_of(
                name,
                0,
                [leaf_queue(p, t, weights[p.index], wants[p.index].get(t, 0)) for p in ps],
            )
            for name, ps in groups.items()
        ]
        got = divide_tree(cap, parents)
        fs.top[t] = {n: got[n] for n in groups}
        fs.leaf[t] = {p.index: got[str(p.index)] for p in c.programs}
    return fs


def ratio(alloc: int, share: Fraction) -> Fraction:
    if alloc == 0:
        return Fraction(0)
    return _INF if share <= 0 else alloc / share


class KaiAdmission:
    """A job may use type t if its program has a quota entry for t and stays within its
    limit ``nominal + borrowing limit`` (queues README: "Limit: hard cap")."""

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        q = job.program.quotas.get(gpu_type)
        if q is None:
            return Reason.QUOTA
        lim = q.borrowing_limit_gpus
        used = job.program.usage.get(gpu_type, 0)
        if lim is not None and used + job.spec.gpus > q.nominal_gpus + lim:
            return Reason.BORROWING_LIMIT
        return None


class KaiReclaim:
    """Fair-share reclaim of the module docstring, rule 3. ``shares`` is set per cohort by
    the policy before its allocation loop."""

    def __init__(self, admission: KaiAdmission, multiplier: float = 1.0) -> None:
        self.admission = admission
        self.placement = BestFit()
        self.multiplier = Fraction(max(1.0, multiplier))
        self.shares = FairShares()
        self.programs: list[ProgramState] = []

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        for t in job.spec.gpu_types:
            if self.admission.check(snap, job, t) is not None:
                continue
            got = self._reclaim_on(snap, job, t, decision)
            if got is not None:
                return got
        return None

    def _parent_alloc(self, name: str, t: str) -> int:
        fs = self.shares
        return sum(p.usage.get(t, 0) for p in self.programs if fs.parent[p.index] == name)

    def _reclaimer_ok(self, job: Job, t: str, cross_parent: bool) -> bool:
        p, g, m, fs = job.program, job.spec.gpus, self.multiplier, self.shares
        if (p.usage.get(t, 0) + g) * m > fs.leaf_fs(p, t):
            return False
        name = fs.parent[p.index]
        return not cross_parent or (self._parent_alloc(name, t) + g) * m <= fs.parent_fs(name, t)

    def _victim_ok(self, snap: Snapshot, v: Job, t: str, reclaimer: ProgramState) -> bool:
        if not v.spec.preemptible or v.placement is None or v.spec.id in snap.stopped:
            return False
        if snap.gpu_type_of(v.placement) != t:
            return False
        fs, p, g = self.shares, v.program, v.spec.gpus
        if p.usage.get(t, 0) - g < fs.leaf_fs(p, t):
            return False
        name = fs.parent[p.index]
        if name == fs.parent[reclaimer.index]:
            return True
        return self._parent_alloc(name, t) - g >= fs.parent_fs(name, t)

    def _next_victim(self, snap: Snapshot, job: Job, t: str) -> Job | None:
        """Newest eligible job of the most saturated queue that has one."""
        fs = self.shares
        others = [p for p in self.programs if p is not job.program and p.usage.get(t, 0)]
        others.sort(key=lambda p: (-ratio(p.usage.get(t, 0), fs.leaf_fs(p, t)), p.index))
        for p in others:
            for v in _newest_first(p):
                if self._victim_ok(snap, v, t, job.program):
                    return v
        return None

    def _reclaim_on(self, snap: Snapshot, job: Job, t: str, decision: Decision) -> Placement | None:
        mark = snap.mark()
        chosen: list[Job] = []
        while True:
            v = self._next_victim(snap, job, t)
            if v is None:
                break
            cross = self.shares.parent[v.program.index] != self.shares.parent[job.program.index]
            if not self._reclaimer_ok(job, t, cross):
                break
            snap.assume_stop(v)
            chosen.append(v)
            got = self.placement.place(snap, job, _OnlyType(self.admission, t))
            if isinstance(got, Placement):
                decision.preempt.extend(chosen)
                return got
        snap.undo_to(mark)
        return None


def _newest_first(p: ProgramState) -> Iterator[Job]:
    return iter(sorted(p.running.values(), key=lambda j: (-j.start_s, -j.spec.id)))


class _OnlyType:
    """Admission restricted to one GPU type: reclaim frees GPUs of that type only."""

    def __init__(self, inner: KaiAdmission, gpu_type: str) -> None:
        self.inner = inner
        self.gpu_type = gpu_type

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        if gpu_type != self.gpu_type:
            return Reason.CAPACITY
        return self.inner.check(snap, job, gpu_type)


class DecayedUsage:
    """Time-aware fairness state: decayed GPU-seconds per program and of the cohort's
    capacity, with half-life ``half_life_s`` (timeaware README, "Resource usage data")."""

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self.used: dict[int, float] = {}
        self.capacity: dict[str, float] = {}
        self.last: dict[str, tuple[float, dict[int, int], int]] = {}

    def advance(self, cohort: str, now_s: float, programs: list[ProgramState], cap: int) -> None:
        t0, rates, cap0 = self.last.get(cohort, (now_s, {}, 0))
        dt = max(0.0, now_s - t0)
        f = 0.5 ** (dt / self.half_life_s)
        for p in programs:
            self.used[p.index] = self.used.get(p.index, 0.0) * f + rates.get(p.index, 0) * dt
        self.capacity[cohort] = self.capacity.get(cohort, 0.0) * f + cap0 * dt
        self.last[cohort] = (now_s, {p.index: p.used_gpus for p in programs}, cap)

    def score(self, cohort: str, p: ProgramState) -> float:
        """Normalised usage ``u`` in [0, 1]: the program's share of the capacity's."""
        cap = self.capacity.get(cohort, 0.0)
        return self.used.get(p.index, 0.0) / cap if cap > 0 else 0.0


class KaiScheduler(BasePolicy):
    """KAI-like hierarchical queues: deserved quota, over-quota priority and weight,
    limits, fair-share ordering and fair-share reclaim (see the module docstring)."""

    name: ClassVar[str] = "kai"
    summary: ClassVar[str] = "NVIDIA KAI-like two-level fair share with quota and reclaim"
    options: ClassVar[Options] = {
        "hierarchy": one_of("entity", "flat"),
        "reclaim": FLAG,
        "reclaim_multiplier": NON_NEGATIVE,
        "half_life_hours": NON_NEGATIVE,
        "k_value": NON_NEGATIVE,
    }

    def __init__(
        self,
        hierarchy: str = "entity",
        reclaim: bool = True,
        reclaim_multiplier: float = 1.0,
        half_life_hours: float = 0.0,
        k_value: float = 1.0,
    ) -> None:
        admission = KaiAdmission()
        self.reclaimer = KaiReclaim(admission, reclaim_multiplier)
        super().__init__(admission, BestFit(), self.reclaimer if reclaim else None)
        self.flat = hierarchy == "flat"
        self.k_value = k_value
        self.usage = DecayedUsage(half_life_hours * 3600.0) if half_life_hours > 0 else None
        self.last_shares: dict[str, FairShares] = {}  # per cohort, for inspection and tests

    def shares_for(self, snap: Snapshot, cohort: str) -> FairShares:
        c = snap.cohort(cohort)
        capacity = cohort_capacity(snap, cohort)
        weights = {p.index: Fraction(p.weight) for p in c.programs}
        if self.usage is not None:
            self.usage.advance(cohort, snap.now_s, c.programs, sum(capacity.values()))
            for p in c.programs:
                u = self.usage.score(cohort, p)
                weights[p.index] = Fraction(p.weight / (1.0 + self.k_value * u))
        return fair_shares(c, capacity, self.flat, weights)

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        c = snap.cohort(cohort)
        fs = self.shares_for(snap, cohort)
        self.last_shares[cohort] = fs
        self.reclaimer.shares, self.reclaimer.programs = fs, c.programs
        heads = {p.index: iter(p.pending.values()) for p in c.programs if p.pending}
        by_index = {p.index: p for p in c.programs}
        while heads:
            i = min(heads, key=lambda k: self._order_key(by_index[k], fs, c.programs))
            job = next(heads[i], None)
            if job is None or not self.try_start(snap, job, d):
                del heads[i]

    @staticmethod
    def _order_key(
        p: ProgramState, fs: FairShares, programs: list[ProgramState]
    ) -> tuple[Fraction, Fraction, int]:
        name = fs.parent[p.index]
        siblings = [q for q in programs if fs.parent[q.index] == name]
        top = Fraction(0)
        leaf = Fraction(0)
        for t in fs.leaf:
            alloc = sum(q.usage.get(t, 0) for q in siblings)
            top = max(top, ratio(alloc, fs.parent_fs(name, t)))
            leaf = max(leaf, ratio(p.usage.get(t, 0), fs.leaf_fs(p, t)))
        return (top, leaf, p.index)

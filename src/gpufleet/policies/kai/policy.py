"""NVIDIA KAI Scheduler's queue semantics: two-level fair share, allocation order, reclaim.

Sources (NVIDIA/KAI-Scheduler): the scheduler's code under ``pkg/scheduler`` (cited by
file and function in :mod:`.fairshare`, :mod:`.order`, :mod:`.queues` and :mod:`.reclaim`),
``docs/queues/README.md`` ("Queue Attributes": quota, over-quota priority, over-quota
weight, limit), ``docs/fairness/README.md`` and ``docs/timeaware/README.md``.

Queues (:mod:`.queues`). A leaf queue is a program; its parent is its entity, KAI's
department (``hierarchy="entity"``), or the whole cohort (``hierarchy="flat"``). Per GPU
type t: deserved ``d = nominal``, over-quota weight ``w = program weight``, limit
``l = nominal + borrowing limit`` (``None``: no limit), priority ``pr = program
priority``; demand ``r`` = GPUs of its running jobs on t plus its pending jobs whose first
allowed type present in the cohort is t. A department's quota, limit and weight are its own
when given (``departments``), else summed from its programs.

Each cycle, per cohort:

1. **fair share** ``fs`` per queue and type, divided in whole GPUs as in :mod:`.fairshare`,
   from the cohort's usable GPUs of the type;
2. **allocate** (KAI's allocate action): every pending job is tried once, always the next
   job of the queue first in KAI's queue order (:mod:`.order`: not over fair share, within
   deserved quota with the job, higher queue priority, lower dominant share; departments
   first); a job that cannot start does not block its queue. A queue may exceed its fair
   share with idle GPUs, never its limit (nor its department's); a non-preemptible job
   never takes its queue or department over its deserved quota (:class:`~.queues.KaiAdmission`);
3. **reclaim** (:mod:`.reclaim`), when a job cannot start for lack of GPUs: KAI's
   ``CanReclaimResources``, its two reclaim strategies (maintain fair share, guarantee
   deserved quota) and its saturation bound between siblings, victims in KAI's order.

Preemption cycles. A victim's queue was over its allocatable share ``max(d, fs)`` (or over
``d`` while the reclaimer stays within its own ``d``) before the eviction, and the reclaimer
ends at or below its ``fs``; KAI promises no more than that, and neither do we: a queue
taken below its share may reclaim back in a later cycle where the rules allow it (the
seeded ``test_no_preemption_cycle`` finds no job evicted twice on tiny fleets).
``reclaimerUtilizationMultiplier`` (``reclaim_multiplier``, >= 1) multiplies the
reclaimer's saturation in the sibling bound.

Time-aware fairness (``half_life_hours > 0``): the README gives the decay ``0.5^(dt/t_half)``
and normalisation by cluster capacity; ``u`` is the program's decayed GPU-seconds over the
cohort's decayed capacity GPU-seconds (a department's, the sum of its programs'), and the
over-quota division weighs queues by KAI's ``calcShareWeights``
(``resource_division.go``): ``max(0, n + k (n - u))``, ``n`` the queue's weight over the
weights of the queues still unsatisfied (:mod:`.fairshare`). Usage is integrated at the
cycles that schedule the cohort, at the rate seen at the previous such cycle.
"""

from __future__ import annotations

import heapq
from collections import deque
from fractions import Fraction
from typing import ClassVar

from gpufleet.domain.reasons import Reason
from gpufleet.errors import InputError
from gpufleet.policies.base import BasePolicy, Decision
from gpufleet.policies.kai.departments import check_names, read_departments
from gpufleet.policies.kai.order import Rank, RankMemo
from gpufleet.policies.kai.queues import (
    Departments,
    FairShares,
    KaiAdmission,
    cohort_capacity,
    demand,
    fair_shares,
    share_inputs,
)
from gpufleet.policies.kai.reclaim import KaiReclaim
from gpufleet.policies.options import FILE, FLAG, NON_NEGATIVE, Options, one_of
from gpufleet.policies.placement import BestFit
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


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
    shares_between_programs = True
    options: ClassVar[Options] = {
        "hierarchy": one_of("entity", "flat"),
        "reclaim": FLAG,
        "reclaim_multiplier": NON_NEGATIVE,
        "half_life_hours": NON_NEGATIVE,
        "k_value": NON_NEGATIVE,
        "departments": FILE,
    }

    def __init__(
        self,
        hierarchy: str = "entity",
        reclaim: bool = True,
        reclaim_multiplier: float = 1.0,
        half_life_hours: float = 0.0,
        k_value: float = 1.0,
        departments: str | Departments | None = None,
    ) -> None:
        self.kai_admission = KaiAdmission()
        self.flat = hierarchy == "flat"
        self.ranks = RankMemo()  # queue ranks while the shares stay (order.RankMemo)
        self.reclaimer = KaiReclaim(self.kai_admission, reclaim_multiplier, self.flat, self.ranks)
        super().__init__(self.kai_admission, BestFit(), self.reclaimer if reclaim else None)
        # entity -> GPU type -> the department's own quota, limit and weight (a file's path
        # from a scenario, read now; a mapping from Python); an entity not named sums its
        # programs'. Names are checked against the fleet at the first decision.
        self.departments, self.departments_source = _departments(departments, hierarchy)
        self._names_checked = False
        self.k_value = k_value
        self.usage = DecayedUsage(half_life_hours * 3600.0) if half_life_hours > 0 else None
        self.last_shares: dict[str, FairShares] = {}  # per cohort, for inspection and tests
        # per cohort, the last division's inputs (queues.share_inputs) and its shares
        self._kept_shares: dict[str, tuple[tuple[object, ...], FairShares]] = {}

    def shares_for(self, snap: Snapshot, cohort: str) -> FairShares:
        c = snap.cohort(cohort)
        capacity = cohort_capacity(snap, cohort)
        usage = {p.index: Fraction(0) for p in c.programs}
        if self.usage is not None:
            self.usage.advance(cohort, snap.now_s, c.programs, sum(capacity.values()))
            for p in c.programs:
                usage[p.index] = Fraction(self.usage.score(cohort, p))
        # the shares follow their inputs only: kept while those stay as they were
        wants = demand(c, capacity)
        inputs = share_inputs(c, capacity, usage, wants)
        kept = self._kept_shares.get(cohort)
        if kept is not None and kept[0] == inputs:
            return kept[1]
        k = Fraction(self.k_value)
        fs = fair_shares(c, capacity, self.flat, usage, self.departments, k, wants)
        self._kept_shares[cohort] = (inputs, fs)
        return fs

    def decide(self, snap: Snapshot) -> Decision:
        if not self._names_checked and self.departments:
            entities, types = _fleet_names(snap)
            check_names(self.departments, self.departments_source, entities, types)
        self._names_checked = True
        return super().decide(snap)

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        """KAI's allocate action (``actions/allocate/allocate.go``): every pending job is
        tried once, the next one always from the queue first in :mod:`.order`; a job that
        cannot start does not hold back the jobs behind it in its queue."""
        c = snap.cohort(cohort)
        fs = self.shares_for(snap, cohort)
        self.last_shares[cohort] = fs
        self.ranks.follow(fs)
        self.reclaimer.begin(fs, c.programs)
        self.kai_admission.reset(snap, fs, c.programs)
        queues = {p.index: deque(p.pending.values()) for p in c.programs if p.pending}
        by_index = {p.index: p for p in c.programs}
        # Keys depend on the queue's and its department's GPUs and on the head job's size
        # and type: memoised until a job starts. A job exactly like one of its queue's that
        # failed, with no start since, fails too and is not tried again.
        memo: dict[tuple[int, int, tuple[str, ...]], tuple[Rank, Rank]] = {}
        depts: dict[tuple[str, str], tuple[int, int]] = {}  # _order_key's, until a start
        failed: dict[tuple[object, ...], Reason] = {}

        def key(i: int) -> tuple[Rank, Rank]:
            head = queues[i][0]
            k = (i, head.spec.gpus, head.spec.gpu_types)
            if k not in memo:
                memo[k] = self._order_key(by_index[i], head, fs, depts)
            return memo[k]

        # the queue first in order is the top of a heap of (key, program order, index):
        # only the queue just read changes its key, unless a job started (every key anew);
        # keys are never equal (the program rank ends in the program's index), and a lone
        # queue needs none
        place = {i: n for n, i in enumerate(queues)}

        def entries() -> list[tuple[object, int, int]]:
            alone = len(queues) == 1
            return [((() if alone else key(i)), place[i], i) for i in queues]

        heap = entries()
        heapq.heapify(heap)
        while heap:
            i = heap[0][2]
            q = queues[i]
            job = q.popleft()
            if not q:
                del queues[i]
            spec = job.spec
            topo = (spec.topology_required, spec.topology_preferred)
            sig: tuple[object, ...] = (i, spec.gpus, spec.gpu_types, spec.preemptible, topo)
            if sig in failed:
                d.blocked.append((job, failed[sig]))
            elif not self.try_start(snap, job, d):
                failed[sig] = d.blocked[-1][1]
            else:
                failed.clear()
                memo.clear()
                depts.clear()
                self.kai_admission.started(snap, job, d.admit[-1][1])
                heap = entries()
                heapq.heapify(heap)
                continue
            if not q:
                heapq.heappop(heap)
            elif len(heap) > 1:
                heapq.heapreplace(heap, (key(i), place[i], i))

    def _order_key(
        self,
        p: ProgramState,
        job: Job,
        fs: FairShares,
        depts: dict[tuple[str, str], tuple[int, int]] | None = None,
    ) -> tuple[Rank, Rank]:
        """The department's rank, then the program's, for the GPU type the job would use
        (its first allowed type the cohort has)."""
        t = next((x for x in job.spec.gpu_types if x in fs.leaf), "")
        name = fs.parent[p.index]
        # the department's GPUs of type t and creation rank: the same for each of its
        # queues, so read once per department from ``depts`` until usage moves (a start)
        got = None if depts is None else depts.get((name, t))
        if got is None:
            dept = self.kai_admission.department_of(p)
            got = (sum(q.usage.get(t, 0) for q in dept), min(q.entity_index for q in dept))
            if depts is not None:
                depts[(name, t)] = got
        alloc, created = got
        g = job.spec.gpus
        ranks = self.ranks
        return (
            ranks.rank(alloc, g, fs.parent_node(name, t), 0, created),
            ranks.rank(p.usage.get(t, 0), g, fs.leaf_node(p, t), p.priority, p.index),
        )


def _departments(given: str | Departments | None, hierarchy: str) -> tuple[Departments | None, str]:
    """The departments and where they came from: a file's path ("" for none) or a mapping."""
    if not given:
        return None, ""
    if hierarchy == "flat":
        raise InputError(
            "policy 'kai' option 'departments' needs hierarchy 'entity' (with 'flat' there "
            "are no departments, one queue stands for the whole cohort)"
        )
    if isinstance(given, str):
        return read_departments(given), given
    return given, "(Python mapping)"


def _fleet_names(snap: Snapshot) -> tuple[set[str], set[str]]:
    """The entities and GPU types the policy can see at its first decision: those of every
    cohort that has GPUs or a pending job."""
    cohorts = set(snap.capacity.by_cohort_type) | {c.name for c in snap.dirty_cohorts()}
    entities = {p.entity for c in cohorts for p in snap.cohort(c).programs}
    types = {t for by_type in snap.capacity.by_cohort_type.values() for t in by_type}
    return entities, types

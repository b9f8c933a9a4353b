"""KAI's reclaim: a queue below its fair share takes GPUs back from queues over theirs.

Sources, NVIDIA/KAI-Scheduler ``pkg/scheduler``:

- **who may reclaim** (``plugins/proportion/reclaimable/reclaimable.go``,
  ``CanReclaimResources``): the reclaimer's queue, with the job, stays at or below its fair
  share; a non-preemptible job also keeps its queue's non-preemptible GPUs within the
  deserved quota (checked here by :class:`~gpufleet.policies.kai.queues.KaiAdmission`);
- **from whom** (``reclaimResourcesFromReclaimees`` with ``strategies/strategies.go``): the
  reclaimer and a victim's queue are compared at the level where their paths part (two
  programs of one department: the programs; of two departments: the departments,
  ``getLeveledQueues``). Each victim, in victim order, is checked against what its queue
  holds *before* it is taken: it may go if that queue is over its allocatable share
  ``min(limit, max(deserved, fair))`` (``MaintainFairShareStrategy``), or if the reclaimer's
  queue stays within its deserved quota and the victim's queue is over its deserved quota
  (``GuaranteeDeservedQuotaStrategy``). The eviction may take the victim's queue below its
  share: only the state before each victim counts. So a queue at or below its deserved
  quota, and at or below its fair share, is never reclaimed from;
- **within bounds** (``reclaimingQueuesRemainWithinBoundaries``,
  ``isFairShareSaturationLowerPerResource``): at every level of the reclaimer's path, for
  every sibling that loses GPUs, with ``s = (alloc + job) / fair`` of the reclaimer's queue
  and ``s'`` the sibling's ratio after the evictions, the reclaim fails when ``s > 1``,
  the sibling's fair share is above 0 and ``s * m >= s'`` (``m``:
  ``reclaimerUtilizationMultiplier``, option ``reclaim_multiplier``);
- **victim order** (``actions/reclaim/reclaim.go``, ``getOrderedVictimsQueue``, and
  ``actions/utils/job_order_by_queue.go``): queues in the reverse of KAI's queue order
  (:mod:`.order`): queues over their fair share first, then over their deserved quota,
  then lower queue priority, then higher dominant share, then the newer queue (program
  order stands for creation order); departments first, then their programs; re-ranked
  after each victim. Inside a queue the reverse of the job order
  (``framework/session_plugins.go``, ``JobOrderFn``; ``plugins/priority``): lower job
  priority first, then the newest submitted, then the higher id. Non-preemptible jobs are
  never victims (``FilterNonPreemptible``).

A candidate whose eviction would break the rules is passed over and the next one tried
(KAI's solver validates only the victims a placement needed, ``by_pod_solver.go``); the
evictions are kept only if the job then fits.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import Decision
from gpufleet.policies.kai.order import RankMemo
from gpufleet.policies.kai.queues import FairShares, KaiAdmission, Node, ratio
from gpufleet.policies.placement import BestFit
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

# a queue of the tree: ("leaf", program index) or ("dept", department name)
Key = tuple[str, int | str]
_NO_NODE = Node(Fraction(0), 0, 0)  # a program without a share of the type (frozen: shared)


class _Tally:
    """GPUs of type t per queue at the start of one reclaim, and the tree's nodes."""

    def __init__(self, shares: FairShares, programs: list[ProgramState], t: str) -> None:
        self.shares, self.t = shares, t
        self.alloc: dict[Key, int] = {}
        for p in programs:
            u = p.usage.get(t, 0)
            self.alloc[("leaf", p.index)] = u
            dept: Key = ("dept", shares.parent[p.index])
            self.alloc[dept] = self.alloc.get(dept, 0) + u

    def node(self, k: Key) -> Node:
        kind, name = k
        if kind == "leaf":
            assert isinstance(name, int)
            return self.shares.leaf.get(self.t, {}).get(name, _NO_NODE)
        return self.shares.parent_node(str(name), self.t)


class KaiReclaim:
    """The rules of the module docstring. ``shares`` and ``programs`` are set per cohort by
    the policy before its allocation loop; ``flat`` says the only parent is the cohort."""

    def __init__(
        self,
        admission: KaiAdmission,
        multiplier: float = 1.0,
        flat: bool = False,
        ranks: RankMemo | None = None,
    ):
        self.admission = admission
        self.placement = BestFit()
        self.multiplier = Fraction(max(1.0, multiplier))
        self.flat = flat
        self.shares = FairShares()
        self.programs: list[ProgramState] = []
        self.ranks = RankMemo() if ranks is None else ranks
        # per GPU type, each program's victim candidates in job order, found once per
        # cohort's cycle (running jobs do not change within one): see _victims
        self._index: dict[str, dict[int, list[Job]]] = {}

    def begin(self, shares: FairShares, programs: list[ProgramState]) -> None:
        """A cohort's cycle begins: its shares and programs, and no candidates found yet."""
        self.shares, self.programs = shares, programs
        self.ranks.follow(shares)
        self._index = {}

    def make_room(self, snap: Snapshot, job: Job, decision: Decision) -> Placement | None:
        for t in job.spec.gpu_types:
            if self.admission.check(snap, job, t) is not None:
                continue
            got = self._reclaim_on(snap, job, t, decision)
            if got is not None:
                return got
        return None

    def _reclaim_on(self, snap: Snapshot, job: Job, t: str, decision: Decision) -> Placement | None:
        p = job.program
        fair = self.shares.leaf.get(t, {}).get(p.index, _NO_NODE).fair  # tally.node(me)
        if p.usage.get(t, 0) + job.spec.gpus > fair:  # CanReclaimResources
            return None
        tally = _Tally(self.shares, self.programs, t)
        mark = snap.mark()
        chosen: list[Job] = []
        kept: dict[Key, int] = {}  # _take(tally, job, chosen), carried victim by victim
        refused: set[int] = set()  # programs whose queue may give up nothing now
        for v in self._victims(snap, job, t, refused):
            after = self._take_one(tally, job, kept, v)
            if after is None:
                # judged on its queue's holding alone, which only a victim taken changes:
                # every later candidate of that queue would be refused too until then
                refused.add(v.program.index)
                continue
            if not self._within_bounds(tally, job, after):
                continue
            kept = after
            snap.assume_stop(v)
            chosen.append(v)
            got = self.placement.place(snap, job, _OnlyType(self.admission, t))
            if isinstance(got, Placement):
                decision.preempt.extend(chosen)
                return got
        snap.undo_to(mark)
        return None

    # --- victim order -------------------------------------------------------------------
    def _victims(
        self, snap: Snapshot, job: Job, t: str, refused: set[int] | None = None
    ) -> Iterator[Job]:
        """Next candidate each time: the first queue in victim order, re-ranked on the
        snapshot's current usage (so after each victim taken), and its next job.

        Each program's candidates are sorted once per cycle (:meth:`_candidates`); a
        search skips those already stopped in the cycle. Only a search's own victims are
        stopped while it runs, and it has passed them, so a queue is in the running
        exactly while it has a candidate not stopped, as when each search sorted anew.
        Ranks read only usage, which only a victim taken changes: until one is, the first
        queue stays first and is not ranked again. A program the caller adds to
        ``refused`` after a candidate is dropped with the rest of its candidates (the
        caller says they would all be refused)."""
        index = self._index.get(t)
        if index is None:
            index = self._index[t] = self._candidates(snap, t)
        stopped = snap.stopped
        queues: dict[int, list[Job]] = {}
        at: dict[int, int] = {}  # each queue's next candidate
        for p in self.programs:
            mine = index.get(p.index)
            if p is job.program or not mine:
                continue
            n = _next_free(mine, 0, stopped)
            if n < len(mine):
                queues[p.index], at[p.index] = mine, n
        by_index = {p.index: p for p in self.programs}
        i: int | None = None  # the first queue, while no victim is taken since its ranking
        while queues:
            if i is None or i not in queues:
                # a department's rank is the same for each of its queues: once per department
                depts: dict[str, tuple[object, ...]] = {}
                i = min(queues, key=lambda k: self._queue_key(by_index[k], t, depts))
            mine = queues[i]
            v = mine[at[i]]
            at[i] = _next_free(mine, at[i] + 1, stopped)
            if at[i] == len(mine):
                del queues[i]
            yield v
            if v.spec.id in stopped:  # taken: usage moved, rank again
                i = None
            elif refused and i in refused:
                queues.pop(i, None)

    def _candidates(self, snap: Snapshot, t: str) -> dict[int, list[Job]]:
        """Per program, its running preemptible jobs on type ``t`` in victim order."""
        out: dict[int, list[Job]] = {}
        for p in self.programs:
            mine = [v for v in p.running.values() if self._candidate(snap, v, t)]
            if mine:
                out[p.index] = sorted(mine, key=_job_key)
        return out

    @staticmethod
    def _candidate(snap: Snapshot, v: Job, t: str) -> bool:
        """Preemptible and on type ``t`` (whether the cycle stopped it is asked later)."""
        return v.spec.preemptible and v.placement is not None and snap.gpu_type_of(v.placement) == t

    def _queue_key(
        self, p: ProgramState, t: str, depts: dict[str, tuple[object, ...]]
    ) -> tuple[object, ...]:
        """The department's victim rank (read from ``depts``, the ranks already taken on
        the same usage, or added to it), then the program's."""
        fs = self.shares
        name = fs.parent[p.index]
        top = depts.get(name)
        if top is None:
            dept = [q for q in self.programs if fs.parent[q.index] == name]
            dept_alloc = sum(q.usage.get(t, 0) for q in dept)
            dept_rank = min(q.entity_index for q in dept)
            node = fs.parent_node(name, t)
            top = depts[name] = self.ranks.victim_rank(dept_alloc, node, 0, dept_rank)
        leaf = fs.leaf_node(p, t)
        return (top, self.ranks.victim_rank(p.usage.get(t, 0), leaf, p.priority, p.index))

    # --- the checks ---------------------------------------------------------------------
    def _valid(self, tally: _Tally, job: Job, victims: list[Job]) -> bool:
        remaining = self._take(tally, job, victims)
        return remaining is not None and self._within_bounds(tally, job, remaining)

    def _levels(self, a: ProgramState, b: ProgramState) -> tuple[Key, Key]:
        """``getLeveledQueues``: the two queues where the paths of ``a`` and ``b`` part."""
        da, db = self.shares.parent[a.index], self.shares.parent[b.index]
        if da == db:
            return ("leaf", a.index), ("leaf", b.index)
        return ("dept", da), ("dept", db)

    def _take(self, tally: _Tally, job: Job, victims: list[Job]) -> dict[Key, int] | None:
        """Each victim against its queue's holding before it; what every queue keeps."""
        remaining: dict[Key, int] | None = {}
        for v in victims:
            assert remaining is not None
            remaining = self._take_one(tally, job, remaining, v)
            if remaining is None:
                return None
        return remaining

    def _take_one(
        self, tally: _Tally, job: Job, remaining: dict[Key, int], v: Job
    ) -> dict[Key, int] | None:
        """One more victim after those that left ``remaining`` (left as it is): what every
        queue keeps then, or None if ``v``'s queue may not give it up. A victim is judged on
        the holdings before it only, so a list of victims is judged one by one."""
        mine, theirs = self._levels(job.program, v.program)
        held = remaining.get(theirs, tally.alloc[theirs])
        node = tally.node(theirs)
        maintain = held > node.allocatable
        g = job.spec.gpus
        guarantee = tally.alloc[mine] + g <= tally.node(mine).deserved and held > node.deserved
        if not (maintain or guarantee):
            return None
        after = dict(remaining)
        for k in (("leaf", v.program.index), ("dept", self.shares.parent[v.program.index])):
            after[k] = after.get(k, tally.alloc[k]) - v.spec.gpus
        return after

    def _within_bounds(self, tally: _Tally, job: Job, remaining: dict[Key, int]) -> bool:
        p = job.program
        dept = self.shares.parent[p.index]
        levels: list[Key] = [("leaf", p.index)]
        if not self.flat:
            levels.append(("dept", dept))
        for level in levels:
            mine = remaining.get(level, tally.alloc[level]) + job.spec.gpus
            s = ratio(mine, tally.node(level).fair)
            for sib, kept in remaining.items():
                if sib == level or sib[0] != level[0]:
                    continue
                if sib[0] == "leaf" and self.shares.parent[int(sib[1])] != dept:
                    continue
                fair = tally.node(sib).fair
                if s > 1 and fair > 0 and s * self.multiplier >= ratio(kept, fair):
                    return False
        return True


def _next_free(jobs: list[Job], n: int, stopped: set[int]) -> int:
    """The first position from ``n`` whose job the cycle has not stopped (or the end)."""
    while n < len(jobs) and jobs[n].spec.id in stopped:
        n += 1
    return n


def _job_key(v: Job) -> tuple[int, float, int]:
    """Inside a queue, the job order reversed: lower priority, newer, higher id first."""
    return (v.spec.priority, -v.spec.submit_s, -v.spec.id)


class _OnlyType:
    """Admission restricted to one GPU type: reclaim frees GPUs of that type only."""

    def __init__(self, inner: KaiAdmission, gpu_type: str) -> None:
        self.inner = inner
        self.gpu_type = gpu_type

    def check(self, snap: Snapshot, job: Job, gpu_type: str) -> Reason | None:
        if gpu_type != self.gpu_type:
            return Reason.CAPACITY
        return self.inner.check(snap, job, gpu_type)

"""Tiresias's preemption candidates kept between cycles: moved only when a job starts,
leaves, or crosses into a lower queue.

Tiresias's victims are a cohort's preemptible running jobs in a strictly lower queue than
the blocked job, lowest queue first, then the latest submitted, then the highest id: the
key ``(-queue, -submit_s, -id)``. Rebuilding it at every cycle that looks for victims
computes every running job's queue, O(R) calls, while between two cycles only a few jobs
start, leave or cross a threshold.

What changes a running job's key: only its queue, and only upwards in level (its
attained service ``a = base + gpus * (now - start_s)`` grows while it runs; ``base``, the
service of its earlier runs less that at its last promotion, is fixed while it runs: a
promotion happens to waiting jobs only). Its next threshold ``th`` is crossed at about
``start_s + (th - base) / gpus``. So each held job is checked again at that instant (a
little before it, ``margin``, for rounding and ``queue_of``'s tolerance) by a heap, and
its queue recomputed with the policy's own ``queue_of`` at each cycle from then until it
has moved: between checks its queue is the one computed at the last check, which is what
``queue_of`` would give.

Jobs that start or leave are found as in :mod:`gpufleet.policies.kept_victims`: id set
differences per program, and the admits the policy reports (a restart keeps the id).
Per question: O(T log R) for T allowed types, plus the stopped jobs of the cycle and the
victims taken. tests/policies/test_victim_cache.py compares every question of seeded
runs with a full rebuild.

The same instants answer Tiresias's wake-up question (the first instant a held job at a
level at or below a given one reaches the threshold below its level): per level, a heap of
each held job's lower bound on that instant (``LevelRule.reach``), with lazy deletion (an
entry is dropped when read if its job has left, restarted or moved on). Only the entries
whose bound is not above the best instant found so far are timed again with the policy's
own expression (``first_reach``), so the answer is that expression's float to the bit.
tests/policies/test_tiresias_wake.py compares it with the plain scan at every cycle.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, islice
from operator import itemgetter

from gpufleet.policies.kept_cohorts import KeptPerCohort
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

Key = tuple[float, ...]  # (-queue, -submit_s, -id)
_Where = tuple[str, Key]  # a held job's GPU type and key
_Reach = tuple[float, int, int, Job]  # (lower bound on the instant, job id, token, job)
_KEY = itemgetter(0)
_MARGIN = 1e-6  # relative, on the crossing instant: far above rounding and _TOL


class _Ordered:
    """One GPU type's candidates as ``(key, job)`` sorted by key, with GPU prefix sums
    rebuilt when the list changed."""

    __slots__ = ("_cum", "entries", "gpus")

    def __init__(self) -> None:
        self.entries: list[tuple[Key, Job]] = []
        self.gpus: list[int] = []
        self._cum: list[int] | None = None

    def add(self, k: Key, v: Job) -> None:
        i = bisect_left(self.entries, (k,))
        self.entries.insert(i, (k, v))
        self.gpus.insert(i, v.spec.gpus)
        self._cum = None

    def remove(self, k: Key) -> None:
        i = bisect_left(self.entries, (k,))
        del self.entries[i], self.gpus[i]
        self._cum = None

    def cum(self) -> list[int]:
        if self._cum is None:
            self._cum = list(accumulate(self.gpus, initial=0))
        return self._cum


class LevelRule:
    """What the index needs of the policy: a job's queue at an instant (0 highest), and
    the instant its attained service reaches the threshold below that queue (None in the
    lowest queue)."""

    def __init__(
        self,
        queue_of: Callable[[Job, float], int],
        crossing: Callable[[Job, int], float | None],
        reach: Callable[[Job, int], float | None] | None = None,
    ) -> None:
        self.queue_of = queue_of
        self.crossing = crossing
        # a lower bound on the instant a running job in a queue reaches the threshold
        # below it, whatever cycle asks (None in the lowest; no bound kept if no rule)
        self.reach = reach


class _CohortLevels:
    __slots__ = ("at", "by_type", "checks", "cohort", "held", "reaches", "rule", "seen")

    def __init__(self, cohort: CohortState, rule: LevelRule) -> None:
        self.cohort = cohort  # another run's cohort of the same name starts afresh
        self.rule = rule
        self.by_type: dict[str, _Ordered] = {}
        self.held: dict[str, dict[int, _Where]] = {}  # program -> job id -> where
        self.at: dict[int, _Where] = {}  # the same for the whole cohort
        self.checks: list[tuple[float, int, int]] = []  # (when, job id, its run's token)
        self.reaches: dict[int, list[_Reach]] = {}  # level -> heap of its jobs' bounds
        self.seen: dict[str, int] = {}  # program -> its running_changes when last synced

    # --- following the running jobs ------------------------------------------------------
    def sync(self, snap: Snapshot, stale: set[int]) -> None:
        seen = self.seen
        for p in self.cohort.programs:
            # no start or stop since the last look: the same runs (a restart is a start)
            if seen.get(p.name) != p.running_changes:
                self._sync_program(snap, p, stale)
                seen[p.name] = p.running_changes
        self._move_crossed(snap.now_s)

    def _sync_program(self, snap: Snapshot, p: ProgramState, stale: set[int]) -> None:
        held, running = self.held.setdefault(p.name, {}), p.running
        for jid in [j for j in stale if j in held]:
            self._drop(jid, held)
        for jid in held.keys() - running.keys():
            self._drop(jid, held)
        now = snap.now_s
        for jid in running.keys() - held.keys():
            v = running[jid]
            if v.spec.preemptible and v.placement is not None:
                held[jid] = self._hold(v, snap.gpu_type_of(v.placement), now)

    def _hold(self, v: Job, t: str, now: float) -> _Where:
        lvl = self.rule.queue_of(v, now)
        k: Key = (-lvl, -v.spec.submit_s, -v.spec.id)
        order = self.by_type.get(t)
        if order is None:
            order = self.by_type[t] = _Ordered()
        order.add(k, v)
        self.at[v.spec.id] = (t, k)
        self._schedule(v, lvl)
        return (t, k)

    def _schedule(self, v: Job, lvl: int) -> None:
        when = self.rule.crossing(v, lvl)
        if when is not None:
            when -= _MARGIN * (abs(when) + 1.0)
            heapq.heappush(self.checks, (when, v.spec.id, v.token))
        reach = self.rule.reach
        if reach is not None:
            low = reach(v, lvl)
            if low is not None:
                heap = self.reaches.get(lvl)
                if heap is None:
                    heap = self.reaches[lvl] = []
                heapq.heappush(heap, (low, v.spec.id, v.token, v))

    def _drop(self, jid: int, held: dict[int, _Where]) -> None:
        t, k = held.pop(jid)
        del self.at[jid]
        self.by_type[t].remove(k)

    def _move_crossed(self, now: float) -> None:
        """Recompute the queue of each held job due for a check; move those that crossed."""
        checks, again = self.checks, []
        while checks and checks[0][0] <= now:
            _, jid, token = heapq.heappop(checks)
            where = self.at.get(jid)
            if where is None:
                continue  # left since
            t, k = where
            order = self.by_type[t]
            v = order.entries[bisect_left(order.entries, (k,))][1]
            if v.token != token:
                continue  # an entry of an earlier run
            lvl = self.rule.queue_of(v, now)
            if lvl == -k[0]:
                again.append((now, jid, token))  # near the threshold: look at every cycle
                continue
            order.remove(k)
            nk: Key = (-lvl, k[1], k[2])
            order.add(nk, v)
            self.at[jid] = self.held[v.program.name][jid] = (t, nk)
            self._schedule(v, lvl)
        for c in again:
            heapq.heappush(checks, c)

    # --- answering ------------------------------------------------------------------------
    def above(
        self, snap: Snapshot, allowed: Iterable[str], rank: float
    ) -> tuple[Iterator[Job], int]:
        """Victims in a queue strictly below ``rank`` (a higher level) on the ``allowed``
        types, not stopped this cycle, in victim order (lazily), and the sum of their GPUs."""
        cut: dict[str, int] = {}
        bound = 0
        for t in set(allowed):
            order = self.by_type.get(t)
            if order is None:
                continue
            n = bisect_left(order.entries, ((-rank,),))  # keys [0, n): level > rank
            if n:
                cut[t] = n
                bound += order.cum()[n]
        if not cut:
            return iter(()), 0
        stopped = snap.stopped
        for jid in stopped:  # GPUs of jobs stopped earlier this cycle are not there
            where = self.at.get(jid)
            if where is not None and where[0] in cut and -where[1][0] > rank:
                order = self.by_type[where[0]]
                bound -= order.gpus[bisect_left(order.entries, (where[1],))]
        streams = [islice(self.by_type[t].entries, n) for t, n in sorted(cut.items())]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_KEY)
        return (v for _, v in merged if v.spec.id not in stopped), bound

    def first_reach(
        self,
        top: int,
        stopped: set[int],
        exact: Callable[[Job, int], float],
        after: float,
    ) -> float:
        """The least ``exact(job, level)`` above ``after`` and finite, over the held jobs
        not in ``stopped`` whose level is ``top`` or lower (inf if none): the index must
        be synced at this instant, so that a held job's level is its queue now.

        Per level, entries are read from the heap in bound order until the next bound is
        above the best instant found (every later entry's instant is at least its bound);
        those of jobs that left, restarted or moved on are dropped, the others put back."""
        best = math.inf
        at = self.at
        for lvl, heap in self.reaches.items():
            if lvl < top:
                continue
            keep: list[_Reach] = []
            while heap and heap[0][0] <= best:
                e = heapq.heappop(heap)
                _, jid, token, v = e
                where = at.get(jid)
                if where is None or v.token != token or -where[1][0] != lvl:
                    continue  # left, restarted or moved to a lower queue since: dropped
                keep.append(e)
                if jid in stopped:
                    continue
                t = exact(v, lvl)
                if after < t < best and math.isfinite(t):
                    best = t
            for e in keep:
                heapq.heappush(heap, e)
        return best


class KeptLevels(KeptPerCohort[_CohortLevels]):
    """Per cohort, Tiresias's candidates kept between cycles (see the module docstring)."""

    __slots__ = ()

    def __init__(self, rule: LevelRule) -> None:
        super().__init__(lambda cohort: _CohortLevels(cohort, rule))

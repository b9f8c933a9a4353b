"""One cycle's preemption candidates of a cohort, sorted once, asked many times.

Tiresias and SRTF look for victims for every blocked head of a cycle (up to ``depth`` of
them). Scanning and sorting the cohort's running jobs for each head costs
O(heads x R log R) for R running jobs. Within one cycle nothing a victim order reads
changes: the running set is the live state's (tentative starts are not running jobs, and
tentative stops are filtered at each question through ``Snapshot.stopped``), and a running
job's queue or remaining work depends only on ``now``. So each cohort's candidates are
sorted once per cycle, per GPU type, and each head takes:

- the victims whose ``rank`` is strictly above its own (``rank`` is what the policy
  compares: a queue level, remaining work), a prefix of each type's list found by
  bisection, merged lazily across the head's allowed types in the policy's order;
- the exact sum of their GPUs (``evict_until_fits``'s bound), from prefix sums less the
  GPUs of those stopped earlier in the cycle.

Per head: O(T log R + S) for T allowed types and S jobs stopped so far this cycle, plus
the victims actually taken. The order and the set are those of the full scan, so the
decisions are the same (tests/policies/test_victim_cache.py compares both on seeded workloads).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, islice
from operator import itemgetter

from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot

# a victim's place in the policy's order: first element -rank, unique (ends with -id)
VictimKey = tuple[float, ...]
_KEY = itemgetter(0)


class _TypeList:
    """One GPU type's candidates in victim order, with ``-rank`` ascending and GPU prefix
    sums (``cum[i]``: GPUs of the first ``i``)."""

    __slots__ = ("cum", "entries", "neg_rank")

    def __init__(self, entries: list[tuple[VictimKey, Job]]) -> None:
        entries.sort(key=_KEY)
        self.entries = entries
        self.neg_rank = [k[0] for k, _ in entries]
        self.cum = list(accumulate((v.spec.gpus for _, v in entries), initial=0))


class VictimIndex:
    """A cohort's preemptible running jobs of one cycle, per GPU type, in victim order."""

    __slots__ = ("_at", "_by_type")

    def __init__(self, entries: Iterable[tuple[VictimKey, str, Job]]) -> None:
        grouped: dict[str, list[tuple[VictimKey, Job]]] = {}
        for key, gtype, v in entries:
            grouped.setdefault(gtype, []).append((key, v))
        self._by_type = {t: _TypeList(es) for t, es in grouped.items()}
        # job id -> (its type, its position in that type's list)
        self._at: dict[int, tuple[str, int]] = {
            v.spec.id: (t, i)
            for t, tl in self._by_type.items()
            for i, (_, v) in enumerate(tl.entries)
        }

    def above(
        self, snap: Snapshot, allowed: Iterable[str], rank: float
    ) -> tuple[Iterator[Job], int]:
        """Victims with rank strictly above ``rank`` on the ``allowed`` types, not stopped
        this cycle, in victim order (lazily), and the sum of their GPUs."""
        cut: dict[str, int] = {}
        bound = 0
        for t in set(allowed):
            tl = self._by_type.get(t)
            if tl is None:
                continue
            n = bisect_left(tl.neg_rank, -rank)  # entries [0, n) have rank > ``rank``
            if n:
                cut[t] = n
                bound += tl.cum[n]
        if not cut:
            return iter(()), 0
        stopped = snap.stopped
        for jid in stopped:  # GPUs of jobs stopped earlier this cycle are not there
            where = self._at.get(jid)
            if where is not None and where[1] < cut.get(where[0], 0):
                bound -= self._by_type[where[0]].entries[where[1]][1].spec.gpus
        return self._merge(cut, stopped), bound

    def _merge(self, cut: dict[str, int], stopped: set[int]) -> Iterator[Job]:
        streams = [islice(self._by_type[t].entries, n) for t, n in sorted(cut.items())]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_KEY)
        for _, v in merged:
            if v.spec.id not in stopped:
                yield v


class VictimCache:
    """Per-cycle :class:`VictimIndex` per cohort. ``clear`` at the start of every cycle
    (the policy's ``decide``); an index is also rebuilt if asked at another instant."""

    __slots__ = ("_at_s", "_index", "_key")

    def __init__(self, key: Callable[[Snapshot, list[Job]], list[VictimKey]]) -> None:
        """``key(snap, jobs)``: each job's victim key, in order (one call per index: a
        comprehension in the policy costs less than a call per running job)."""
        self._key = key
        self._index: dict[str, VictimIndex] = {}
        self._at_s: float | None = None

    def clear(self) -> None:
        self._index.clear()
        self._at_s = None

    def of(self, snap: Snapshot, cohort: CohortState) -> VictimIndex:
        if self._at_s != snap.now_s:
            self._index.clear()
            self._at_s = snap.now_s
        idx = self._index.get(cohort.name)
        if idx is None:
            jobs = [
                v
                for p in cohort.programs
                for v in p.running.values()
                if v.spec.preemptible and v.placement is not None
            ]
            type_of = snap.gpu_type_of
            types = [type_of(v.placement) for v in jobs]  # type: ignore[arg-type]
            idx = VictimIndex(zip(self._key(snap, jobs), types, jobs, strict=True))
            self._index[cohort.name] = idx
        return idx

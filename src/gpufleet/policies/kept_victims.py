"""SRTF's preemption candidates kept between cycles, following only the jobs that changed.

SRTF's victims are a cohort's preemptible running jobs with strictly more work left than
the blocked job, most work left first, then the highest id. A running job's work left at
``now`` is ``left(v) = remaining_s - (now - start_s) * speed`` (``remaining_s`` and
``start_s`` as of its last start). Rebuilding that order at every cycle that looks for
victims costs O(R log R) for R running jobs, while between two cycles only the jobs that
started, stopped or ended change.

Why one order serves every instant: on one GPU type every job runs at that type's speed
``s``, so ``left(v) = E(v) - now * s`` with ``E(v) = remaining_s + start_s * s`` fixed for
the run: the order by ``E`` descending is the order by work left at any ``now``, in exact
arithmetic. So each cohort keeps, per GPU type, its candidates sorted by ``(-E, -id)``,
with an insertion or a removal (by bisection) for each job that started or left since the
last look, found by comparing job ids (the interpreter's set differences, in C), and the
jobs the policy admitted (a job stopped and restarted between two looks keeps its id; it
starts only by the policy's decision, which calls :meth:`KeptVictims.started`).

Why the results are those of the exact formula: floating point rounds ``left`` and ``E``
differently, so near ties may compare otherwise. Every comparison that decides is done on
``left`` itself, computed as the scan computes it; ``E`` only narrows where to look. With
``tol`` far above the rounding error (1e-9 relative, against about 1e-16):

- entries with ``E - now*s > mine + tol`` have ``left > mine`` for sure, those with
  ``E - now*s <= mine - tol`` have ``left <= mine`` for sure; the band between is decided
  entry by entry on ``left``;
- consecutive entries whose ``E`` differ by more than ``tol`` are in ``left`` order for sure;
  a run of entries closer than that is sorted by ``(-left, -id)`` before it is given out.

Per question: O(T log R) for T allowed types, plus the band, the stopped jobs of the cycle
and the victims taken. tests/policies/test_victim_cache.py compares every cycle's
decisions with a full scan on seeded workloads.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from itertools import accumulate

from gpufleet.policies.kept_cohorts import KeptPerCohort
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot

_REL_TOL = 1e-9  # relative; float rounding of ``left`` and ``E`` is about 1e-16
# a candidate as given out: (-left, -id, job), compared on the first two
_Out = tuple[float, int, Job]


def left_s(v: Job, now: float) -> float:
    """The work a running job has left at ``now``, as the full scan computes it."""
    return v.remaining_s - (now - v.start_s) * v.speed


def _out_key(e: _Out) -> tuple[float, int]:
    return (e[0], e[1])


class _TypeOrder:
    """One GPU type's candidates sorted by ``(-E, -id)``, with their GPUs and (rebuilt when
    the list changed) GPU prefix sums."""

    __slots__ = ("_cum", "gpus", "jobs", "keys", "scale", "speed")

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.keys: list[tuple[float, int]] = []
        self.jobs: list[Job] = []
        self.gpus: list[int] = []
        self._cum: list[int] | None = None
        self.scale = 1.0  # the largest |E| held (never lowered: only widens ``tol``)

    def add(self, v: Job) -> tuple[float, int]:
        e = v.remaining_s + v.start_s * v.speed
        k = (-e, -v.spec.id)
        i = bisect_left(self.keys, k)
        self.keys.insert(i, k)
        self.jobs.insert(i, v)
        self.gpus.insert(i, v.spec.gpus)
        self._cum = None
        self.scale = max(self.scale, abs(e))
        return k

    def remove(self, k: tuple[float, int]) -> None:
        i = bisect_left(self.keys, k)
        del self.keys[i], self.jobs[i], self.gpus[i]
        self._cum = None

    def cum(self) -> list[int]:
        if self._cum is None:
            self._cum = list(accumulate(self.gpus, initial=0))
        return self._cum

    def cut(self, now: float, mine: float) -> tuple[int, int, float]:
        """``(sure, end, tol)``: entries ``[0, sure)`` have more work left than ``mine``
        for sure, those from ``end`` on do not; ``[sure, end)`` is the band to check."""
        t = mine + now * self.speed  # left > mine  <=>  E > t, in exact arithmetic
        tol = _REL_TOL * (self.scale + abs(t) + abs(mine) + 1.0)
        sure = bisect_left(self.keys, (-(t + tol),))  # first with -E >= -(t + tol)
        end = bisect_left(self.keys, (-(t - tol),))
        return sure, end, tol

    def stream(self, n: int, now: float, mine: float, tol: float) -> Iterator[_Out]:
        """The first ``n`` entries with more work left than ``mine``, by ``(-left, -id)``."""
        keys, jobs = self.keys, self.jobs
        i = 0
        while i < n:
            j = i + 1
            while j < n and keys[j][0] - keys[j - 1][0] <= tol:
                j += 1
            run = [(-left_s(v, now), -v.spec.id, v) for v in jobs[i:j]]
            if j - i > 1:
                run.sort(key=_out_key)
            for e in run:
                if -e[0] > mine:
                    yield e
            i = j


class _CohortVictims:
    """One cohort's candidates per GPU type, and where each job is held."""

    __slots__ = ("at", "by_type", "cohort", "held")

    def __init__(self, cohort: CohortState) -> None:
        self.cohort = cohort  # another run's cohort of the same name starts afresh
        self.by_type: dict[str, _TypeOrder] = {}
        # program name -> {job id: (its type, its key)} for the jobs held (compared with the
        # program's running jobs), and the same for the whole cohort
        self.held: dict[str, dict[int, tuple[str, tuple[float, int]]]] = {}
        self.at: dict[int, tuple[str, tuple[float, int]]] = {}

    def drop(self, jid: int, held: dict[int, tuple[str, tuple[float, int]]]) -> None:
        t, k = held.pop(jid)
        del self.at[jid]
        self.by_type[t].remove(k)

    def sync(self, snap: Snapshot, stale: set[int]) -> None:
        for p in self.cohort.programs:
            self._sync_program(snap, p, stale)

    def _sync_program(self, snap: Snapshot, p: ProgramState, stale: set[int]) -> None:
        held = self.held.setdefault(p.name, {})
        running = p.running
        for jid in [j for j in stale if j in held]:
            self.drop(jid, held)
        for jid in held.keys() - running.keys():
            self.drop(jid, held)
        for jid in running.keys() - held.keys():
            v = running[jid]
            if not v.spec.preemptible or v.placement is None:
                continue
            t = snap.gpu_type_of(v.placement)
            order = self.by_type.get(t)
            if order is None:
                order = self.by_type[t] = _TypeOrder(v.speed)
            held[jid] = self.at[jid] = (t, order.add(v))

    def above(
        self, snap: Snapshot, allowed: Iterable[str], mine: float
    ) -> tuple[Iterator[Job], int]:
        """Victims with strictly more work left than ``mine`` on the ``allowed`` types,
        not stopped this cycle, most left first (lazily), and the sum of their GPUs."""
        now = snap.now_s
        stopped = snap.stopped
        streams: list[Iterator[_Out]] = []
        types: set[str] = set()
        bound = 0
        for t in sorted(set(allowed)):
            order = self.by_type.get(t)
            if order is None:
                continue
            sure, end, tol = order.cut(now, mine)
            if not end:
                continue
            bound += order.cum()[sure]
            jobs = order.jobs
            for v in jobs[sure:end]:
                if left_s(v, now) > mine:
                    bound += v.spec.gpus
            streams.append(order.stream(end, now, mine, tol))
            types.add(t)
        if not streams:
            return iter(()), 0
        bound -= self._stopped_gpus(stopped, types, now, mine)
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_out_key)
        return (v for _, _, v in merged if v.spec.id not in stopped), bound

    def _stopped_gpus(self, stopped: set[int], types: set[str], now: float, mine: float) -> int:
        """GPUs of the jobs stopped earlier in the cycle among those counted (held under
        one of ``types`` with more work left than ``mine``): they are not there any more."""
        gone = 0
        at = self.at
        for jid in stopped:
            where = at.get(jid)
            if where is not None and where[0] in types:
                order = self.by_type[where[0]]
                v = order.jobs[bisect_left(order.keys, where[1])]
                if left_s(v, now) > mine:
                    gone += v.spec.gpus
        return gone


class KeptVictims(KeptPerCohort[_CohortVictims]):
    """Per cohort, SRTF's candidates kept between cycles (see the module docstring)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_CohortVictims)

"""A cohort's pending jobs kept in a policy's order across cycles, sorted once per job.

SRTF and Tiresias try the ``depth`` first pending jobs of a cohort at each cycle, in an
order whose key stays fixed while a job waits: its remaining work (SRTF) or its queue
(Tiresias, without the starvation guard) changes only when it runs. Computing every
pending job's key and selecting the first ``depth`` at each cycle costs O(P) Python steps
per cycle for P pending jobs, while between two cycles only a few jobs join or leave.

So the order is kept: per cohort, a list of ``(key, job)`` sorted by key, with the key
computed once, when the job is first seen pending. At each cycle the queue is compared
with what the order holds (two set differences of job ids, done by the interpreter's C
code), the jobs that left are taken out and those that joined are put in by bisection.

Why comparing ids is enough: a job leaves a queue only by starting, and a job starts
only by a policy's decision (``Engine.apply``; the timeline's ``resume`` starts jobs
before any cycle), so the policy calls :meth:`forget` for each job it admits and a job
that starts, runs and is requeued between two looks comes back as a new job with a new
key. The key must end with the job's id (so no two are equal and the order is the one a
sort of every key gives); :meth:`first` is then ``heapq.nsmallest(n, queue, key)``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Mapping
from itertools import islice

from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job

# a pending job's place in the order: compared element-wise, unique (ends with the id)
OrderKey = tuple[float, ...]


def joined(queue: dict[int, Job], known: Mapping[int, object]) -> list[int] | None:
    """The ids of ``queue`` not in ``known``, found at its two ends: a submitted job joins
    at the back, a requeued one at the front (``ClusterState.enqueue``), so they are read
    from each end until a known id, O(jobs that joined), not O(queue). None when the
    lengths do not add up (some known job left without :meth:`PendingOrder.forget`, or
    nothing is known yet): the caller then compares the id sets. ``Slurm``'s
    ``SortedQueues.sync`` reads its queue the same way."""
    if not known:
        return None
    new: list[int] = []
    for jid in reversed(queue):
        if jid in known:
            break
        new.append(jid)
    for jid in queue:
        if jid in known:
            break
        new.append(jid)
    return new if len(queue) == len(known) + len(new) else None


class _Order:
    __slots__ = ("cohort", "entries", "keys")

    def __init__(self, cohort: CohortState) -> None:
        self.cohort = cohort  # whose queue: another run's cohort of the same name starts afresh
        self.entries: list[tuple[OrderKey, Job]] = []
        self.keys: dict[int, OrderKey] = {}


class PendingOrder:
    """Per cohort, its pending jobs sorted by ``key`` (fixed while a job waits)."""

    __slots__ = ("_by_cohort", "_key")

    def __init__(self, key: Callable[[Job], OrderKey]) -> None:
        self._key = key
        self._by_cohort: dict[str, _Order] = {}

    def sync(self, cohort: CohortState) -> list[tuple[OrderKey, Job]]:
        """Bring ``cohort``'s order up to its queue; returns the sorted ``(key, job)``
        entries (the policy's to read, not to change)."""
        o = self._by_cohort.get(cohort.name)
        if o is None or o.cohort is not cohort:  # (one policy object, several simulations)
            o = self._by_cohort[cohort.name] = _Order(cohort)
        queue, keys, entries = cohort.queue, o.keys, o.entries
        new = joined(queue, keys)
        if new is None:  # not as ``joined`` expects: set differences
            for jid in keys.keys() - queue.keys():
                entries.pop(bisect_left(entries, (keys.pop(jid),)))
            new = [jid for jid in queue if jid not in keys]
        for jid in new:
            job = queue[jid]
            k = keys[jid] = self._key(job)
            insort(entries, (k, job))
        return entries

    def first(self, cohort: CohortState, n: int) -> list[tuple[OrderKey, Job]]:
        """The ``n`` first entries of ``cohort``'s order, after :meth:`sync`."""
        return list(islice(self.sync(cohort), n))

    def forget(self, job: Job) -> None:
        """``job`` starts: out of the order (a later wait is a new entry, a new key)."""
        o = self._by_cohort.get(job.cohort)
        if o is None:
            return
        k = o.keys.pop(job.spec.id, None)
        if k is not None:
            o.entries.pop(bisect_left(o.entries, (k,)))

"""The pending queue kept sorted between priority recalculations.

Slurm sets a pending job's priority when it is submitted and again only at each
``PriorityCalcPeriod`` pass (:class:`~gpufleet.policies.slurm.priority.Recalculation`), so
between two passes a job's sort key does not change while it waits: the order of a
cohort's queue changes only when jobs arrive or leave. :class:`SortedQueues` keeps, per
cohort, the keys of its pending jobs in a sorted list, updated by insertion and removal
(``bisect``), and sorts anew only at a new pass (a new ``generation``) or when more jobs
changed than an insertion each would pay for. The order is the one ``sorted`` gives on the
same keys: a key ends with the job id, so no two jobs tie.

Cost per cycle: O(n) set differences in C over the queue's ids, O(c x n) memory moves for c
changed jobs (small constants), and the key function only on jobs not seen before.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job

Key = tuple[int, float, float, int]  # (-level, -priority, queued since, job id)


class _Sorted:
    __slots__ = ("by_id", "generation", "keys")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.keys: list[Key] = []
        self.by_id: dict[int, Key] = {}


class SortedQueues:
    """Each cohort's pending jobs in key order, kept across cycles of one generation."""

    def __init__(self) -> None:
        self._cohorts: dict[str, _Sorted] = {}

    def ordered(self, cohort: CohortState, key: Callable[[Job], Key], generation: int) -> list[Job]:
        """The cohort's pending jobs sorted by ``key``, which must be fixed for a waiting
        job within one ``generation`` and end with the job id."""
        queue = cohort.queue
        held = self._cohorts.get(cohort.name)
        if held is None or held.generation != generation:
            held = self._cohorts[cohort.name] = _Sorted(generation)
        by_id, keys = held.by_id, held.keys
        gone = by_id.keys() - queue.keys()
        new = queue.keys() - by_id.keys()
        if len(gone) + len(new) > len(keys) // 4 + 16:  # many changed: one sort
            for jid in gone:
                del by_id[jid]
            for jid in new:
                by_id[jid] = key(queue[jid])
            held.keys = keys = sorted(by_id.values())
        else:
            for jid in gone:
                del keys[bisect.bisect_left(keys, by_id.pop(jid))]
            for jid in new:
                k = by_id[jid] = key(queue[jid])
                bisect.insort(keys, k)
        return [queue[k[3]] for k in keys]

    def forget(self, cohort: str, job_id: int) -> None:
        """The job left the queue (started): its key goes, so if it comes back (requeued)
        it is keyed anew."""
        held = self._cohorts.get(cohort)
        if held is not None:
            k = held.by_id.pop(job_id, None)
            if k is not None:
                del held.keys[bisect.bisect_left(held.keys, k)]

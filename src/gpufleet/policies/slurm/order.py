"""The pending queue kept in priority order between and across priority recalculations.

Slurm sets a pending job's priority when it is submitted and again only at each
``PriorityCalcPeriod`` pass (:class:`~gpufleet.policies.slurm.priority.Recalculation`), so
between two passes a job's sort key ``(-level, -priority, queued since, id)`` does not
change while it waits. At a pass every job queued since before the pass instant ``at`` gets
``priority = W_age * age + (the other weighted factors)``, with ``age = min(1, (at -
since) / max age)``; the other factors depend only on the job's GPUs, QOS and program (its
*group*). Within a group the priority is therefore a non-increasing function of ``since``
(IEEE rounding of ``x * w`` with ``w >= 0`` and of ``x + c`` is monotone), so ordering a
group's jobs by ``(since, id)`` is ordering them by the full key: it needs no sort when
the priorities change, only a merge of the groups by the key of each one's first job.

:class:`SortedQueues` keeps, per cohort:

- each group's jobs as a sorted list of ``(since, id)``, kept across passes (a pass only
  re-weighs each group: one function per group, from the pass's factors);
- the *loose* jobs, those whose priority is not a pass's group formula (queued after the
  pass instant, or arrived after the pass's first ordering), with their full keys in a
  sorted list (``bisect``), re-keyed at the next pass;
- the order itself as a lazy k-way merge (a heap of each group's first key): a pass that
  stops at its first refusal reads a few keys, not the whole queue.

Which jobs arrived or left is found without a scan: a cohort's queue is an ordered dict
where jobs arrive at the back (submitted) or the front (requeued) and leave only when
started, which the policy reports (:meth:`SortedQueues.forget`); a count check falls back
to set differences when that does not hold. The order is the one ``sorted`` gives on the
same keys, which tests/policies/test_slurm_incremental_order.py checks against the full
sort at every cycle.

Cost per cycle: O(a log n) for a arrivals, O(g) for g groups with a new first job, and
O(log g) per job read; per pass O(g + loose jobs) to re-weigh.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Hashable, Iterator
from typing import Protocol, cast

from gpufleet.domain.reasons import Reason
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job

Key = tuple[int, float, float, int]  # (-level, -priority, queued since, job id)
_Entry = tuple[Key, Hashable, int]  # a run's key at a position, the run, the position
_LOOSE = ("loose",)  # the run of loose jobs
_GONE_MAX = 256  # gone jobs read past before arrivals force a compaction
Like = tuple[int, int, tuple[str, ...], str, str]  # what a limit looks at in a job
PassOver = tuple[set[Like], list[tuple[Job, Reason]]]


def like(job: Job) -> Like:
    """Program, GPUs, allowed GPU types, Slurm user and QOS: jobs alike in these are alike
    to every limit (an association's, a user's association's, a QOS's)."""
    s = job.spec
    return (job.program.index, s.gpus, s.gpu_types, s.user, s.qos)


class Keying(Protocol):
    """How the policy keys its jobs in one cycle of one pass."""

    at_s: float  # the pass instant

    def since(self, job: Job) -> float:
        """When the job entered the queue (fixed while it waits)."""
        ...

    def group(self, job: Job) -> Hashable:
        """Jobs of one group have the same factors but the age."""
        ...

    def weigh(self, job: Job) -> Callable[[float], float]:
        """The priority at the pass instant of a job of ``job``'s group queued since s."""
        ...

    def key(self, job: Job) -> Key:
        """The job's full key, as the reference sort takes it."""
        ...


class _Group:
    __slots__ = ("members", "rep", "weigh")

    def __init__(self, rep: Job) -> None:
        self.rep = rep
        self.members: list[tuple[float, int]] = []  # (since, id), sorted
        self.weigh: Callable[[float], float] | None = None


class _Held:
    __slots__ = (
        "cache",
        "entry",
        "fresh",
        "frontier",
        "generation",
        "gone",
        "groups",
        "keying",
        "loose",
        "prefix",
        "qos",
        "queue",
    )

    def __init__(self, queue: object) -> None:
        self.queue = queue
        self.generation = -1
        # job id -> (its group, or None when loose; queued since; QOS priority)
        self.entry: dict[int, tuple[Hashable | None, float, int]] = {}
        self.groups: dict[Hashable, _Group] = {}
        self.keying: Keying | None = None  # of the pass's first ordering
        self.loose: list[Key] = []
        self.fresh: list[Job] = []  # arrived, not keyed yet
        self.cache: dict[int, Key] = {}  # keys in this pass (loose jobs and group members)
        # left the queue, still in a group's list or the loose list until the next compaction
        self.gone: dict[int, tuple[Hashable | None, float]] = {}
        # the order as read so far in this pass (gone jobs included), and the merge's heap
        # after it (None: to be rebuilt)
        self.prefix: list[tuple[int, Job, Like]] = []
        self.frontier: list[_Entry] | None = None
        self.qos: dict[int, int] = {}  # QOS priority -> queued jobs with it


class SortedQueues:
    """Each cohort's pending jobs in key order, kept across cycles and passes."""

    def __init__(self) -> None:
        self._cohorts: dict[str, _Held] = {}

    # --- arrivals and departures ---------------------------------------------------------
    def sync(self, cohort: CohortState, since: Callable[[Job], float]) -> None:
        """Take in the jobs that arrived in (and out those that left) the cohort's queue
        since the last call; ``since`` is read once per arrival."""
        q = cohort.queue
        held = self._cohorts.get(cohort.name)
        if held is None or held.queue is not q:
            held = self._cohorts[cohort.name] = _Held(q)
        entry = held.entry
        new: list[int] = []
        if entry:
            for jid in reversed(q):  # submitted: at the back
                if jid in entry:
                    break
                new.append(jid)
            for jid in q:  # requeued: at the front
                if jid in entry:
                    break
                new.append(jid)
        if not entry or len(q) != len(entry) + len(new):  # not as above: set differences
            for jid in entry.keys() - q.keys():
                self._drop(held, jid)
            new = [jid for jid in q if jid not in entry]
        for jid in new:
            job = q[jid]
            p = job.spec.priority
            entry[jid] = (None, since(job), p)
            held.fresh.append(job)
            held.qos[p] = held.qos.get(p, 0) + 1

    def top_qos(self, cohort: str) -> int:
        """The highest QOS priority of the cohort's queued jobs as of the last sync (0 if
        none is positive)."""
        held = self._cohorts.get(cohort)
        return max(0, max(held.qos, default=0)) if held is not None else 0

    def forget(self, cohort: str, job_id: int) -> None:
        """The job left the queue (started): if it comes back (requeued) it is keyed anew."""
        held = self._cohorts.get(cohort)
        if held is not None and job_id in held.entry:
            self._drop(held, job_id)

    def _drop(self, held: _Held, jid: int) -> None:
        gid, since, qos = held.entry.pop(jid)
        if gid is None and jid not in held.cache:  # not keyed yet
            held.fresh = [j for j in held.fresh if j.spec.id != jid]
        else:  # read past from now on, taken out of its list at the next compaction
            held.gone[jid] = (gid, since)
        n = held.qos[qos] - 1
        if n:
            held.qos[qos] = n
        else:
            del held.qos[qos]

    def _compact(self, held: _Held) -> None:
        """Gone jobs out of their lists; the order is read anew from the lists."""
        for jid, (gid, since) in held.gone.items():
            if gid is None:
                k = held.cache.pop(jid)
                del held.loose[bisect.bisect_left(held.loose, k)]
            else:
                members = held.groups[gid].members
                del members[bisect.bisect_left(members, (since, jid))]
                held.cache.pop(jid, None)
        held.gone.clear()
        held.prefix = []
        held.frontier = None

    # --- the order -----------------------------------------------------------------------
    def ordered(
        self,
        cohort: CohortState,
        keying: Keying,
        generation: int,
        pass_over: PassOver | None = None,
    ) -> Iterator[Job]:
        """The cohort's pending jobs (as of the last :meth:`sync`) in key order, lazily;
        ``generation`` counts the passes: a new one re-weighs every group. With
        ``pass_over`` = (alike, blocked), a job :func:`like` one in ``alike`` (a set the
        caller fills as it reads) is not handed out but added to ``blocked`` as held by a
        limit (``Reason.QUOTA``), in its place in the order."""
        held = self._cohorts[cohort.name]
        if held.generation != generation:
            self._compact(held)
            self._new_pass(held, keying, generation)
        if held.fresh:  # arrivals: keyed as the full sort keys them, into the loose list
            if not self._append(held, keying):
                self._compact(held)
                for job in held.fresh:
                    k = held.cache[job.spec.id] = keying.key(job)
                    bisect.insort(held.loose, k)
            held.fresh = []
        if held.frontier is None:
            heads = [(h, gid, 0) for gid in held.groups if (h := self._key(held, gid, 0))]
            if held.loose:
                heads.append((held.loose[0], _LOOSE, 0))
            heapq.heapify(heads)
            held.frontier = heads
        alike, blocked = pass_over if pass_over is not None else (set(), [])
        return self._read(held, cast(dict[int, Job], held.queue), alike, blocked)

    def _append(self, held: _Held, keying: Keying) -> bool:
        """Arrivals whose keys all come after every key read so far and after the loose
        list's last (submitted jobs, when keys follow submit time): appended to the loose
        list, the order read so far and the merge kept as they are (the loose run put back
        into the merge if it was read to its end). False, nothing changed, otherwise or
        when many gone jobs wait for a compaction."""
        gone = held.gone
        if len(gone) > _GONE_MAX or any(job.spec.id in gone for job in held.fresh):
            return False  # (a job back in the queue must leave ``gone`` first)
        keys = sorted(keying.key(job) for job in held.fresh)
        loose, prefix = held.loose, held.prefix
        if loose and keys[0] <= loose[-1]:
            return False
        if prefix and keys[0] <= held.cache[prefix[-1][0]]:
            return False
        heap = held.frontier
        if heap is not None and not any(gid is _LOOSE for _, gid, _ in heap):
            heapq.heappush(heap, (keys[0], _LOOSE, len(loose)))
        for k in keys:
            held.cache[k[3]] = k
        loose += keys
        return True

    def _new_pass(self, held: _Held, keying: Keying, generation: int) -> None:
        held.generation = generation
        at = keying.at_s
        queue = cast(dict[int, Job], held.queue)
        loose = [queue[k[3]] for k in held.loose]
        held.loose, held.cache = [], {}
        fresh: list[Job] = []
        for job in [*loose, *held.fresh]:
            jid = job.spec.id
            _, since, qos = held.entry[jid]
            if since > at:
                fresh.append(job)
                continue
            gid = keying.group(job)
            g = held.groups.get(gid)
            if g is None:
                g = held.groups[gid] = _Group(job)
            bisect.insort(g.members, (since, jid))
            held.entry[jid] = (gid, since, qos)
        held.fresh = fresh
        held.keying = keying
        for g in held.groups.values():
            g.weigh = None  # made when the group is first read in this pass

    def _key(self, held: _Held, gid: Hashable, pos: int) -> Key | None:
        if gid is _LOOSE:
            return held.loose[pos] if pos < len(held.loose) else None
        members = held.groups[gid].members
        if pos >= len(members):
            return None
        since, jid = members[pos]
        k = held.cache.get(jid)
        if k is None:
            g = held.groups[gid]
            if g.weigh is None:
                assert held.keying is not None
                g.weigh = held.keying.weigh(g.rep)
            k = held.cache[jid] = (0, -g.weigh(since), since, jid)
        return k

    def _read(
        self,
        held: _Held,
        queue: dict[int, Job],
        alike: set[Like],
        blocked: list[tuple[Job, Reason]],
    ) -> Iterator[Job]:
        """The order read so far (less the gone jobs), then further by the merge, each job
        read being added to what is read so far before it is handed out."""
        prefix, gone, quota = held.prefix, held.gone, Reason.QUOTA
        for jid, job, lk in prefix:  # only this reader appends, after this loop
            if jid in gone:
                continue
            if lk in alike:
                blocked.append((job, quota))
                continue
            yield job
        heap = held.frontier
        assert heap is not None
        while heap:
            k, gid, pos = heap[0]
            nxt = self._key(held, gid, pos + 1)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt, gid, pos + 1))
            jid = k[3]
            if jid in gone:
                continue
            job = queue[jid]
            lk = like(job)
            prefix.append((jid, job, lk))
            if lk in alike:
                blocked.append((job, quota))
                continue
            yield job

"""EASY backfill over Slurm's multifactor order (``slurm-backfill-easy``).

Sources: slurm.schedmd.com/sched_config.html ("Backfill") and slurm.conf's
``SchedulerParameters`` (``bf_max_job_test``, default 500 jobs). Slurm reserves for
many jobs (:mod:`gpufleet.policies.slurm.plan`, the ``slurm-backfill`` policy); this is the
EASY variant, with a reservation for the top job only, at every cycle. A job an association
limit holds is passed over, as in Slurm (:mod:`gpufleet.policies.slurm.limits`).

Rule, per cohort and cycle:

1. Jobs start in multifactor order until the first one, J, cannot start.
2. **Reservation.** Every running job (and every job started this cycle) is estimated to
   end at ``start + limit``, where ``limit`` is its ``time_limit_s`` or, without one, its
   run time at the slowest GPU type it allows (``remaining work / slowest throughput``).
   Going through those ends in time order and freeing each job's GPUs, the shadow time
   T is the first end at which J would fit (the placement rule of
   :mod:`gpufleet.state.capacity`, on J's allowed (type, site) groups). If J never fits,
   there is no reservation and later jobs start whenever they fit.
3. **Backfill.** Each of the next ``bf_max_job_test`` jobs K, in order, starts now iff it
   fits now (best fit) and J still fits at T once every job estimated to end by T has
   left, K and earlier backfilled jobs included. That is: K ends (by its limit) by T, or
   the GPUs K takes are not ones J needs at T. K's placement is the best-fit one; a K whose
   best-fit placement would delay J is skipped even if another placement would not; its
   reason is ``HELD_FOR_BACKFILL``. J keeps the reason it could not start for
   (``CAPACITY``, ...); its reserved start is :meth:`SlurmBackfill.reserved_start_s`.
   With QOS preemption on (:mod:`gpufleet.policies.slurm.preempt`), a K that does not fit
   may preempt as in phase 1, and starts only if J still fits at T with K's victims gone
   (a victim gone now leaves J's GPUs at T as they were, unless it would have ended by T).
   J's shadow time counts running jobs' ends only, not what J could preempt later.

The reservation keeps, per node, ``delta = free at T - free now``; a K started now that
ends by T adds its GPUs to ``delta`` (they are free again at T), one that runs past T
leaves ``delta`` as it is (both sides lose them).

So, with accurate limits, a backfilled job never delays J's reserved start. Cost: when J
waits, the running jobs' ends kept in time order (:class:`_KeptEnds`: O(R) set operations
in C and O(log R) per job started or stopped since the last reservation, a rebuild in
O(R log R) when a job stopped and started again in between) read up to T, then
O(bf_max_job_test) reads of
the order; without preemption a placement and a fit test at T only per kind of candidate
(:func:`~gpufleet.policies.slurm.order.like`) between two starts, the other candidates of
that kind getting the same answer (:meth:`SlurmBackfillEasy._backfill_alike`).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import itemgetter
from typing import Any, ClassVar

from gpufleet.domain.gpus import default_catalog
from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import Decision, ReservedStart
from gpufleet.policies.options import POSITIVE_INT, Options
from gpufleet.policies.slurm.keptruns import KeptRuns, Run
from gpufleet.policies.slurm.order import Like, like
from gpufleet.policies.slurm.priority import SlurmMultifactor
from gpufleet.state.capacity import CapacityIndex, Placement, Slots
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


@dataclass
class Reservation:
    """J's reserved start ``start_s`` on its allowed ``groups``; ``delta`` is, per node,
    GPUs free at ``start_s`` minus GPUs free now."""

    job: Job
    start_s: float
    groups: list[int]
    delta: dict[int, int] = field(default_factory=dict)

    def add(self, slots: Slots, sign: int) -> None:
        for node, n in slots:
            self.delta[node] = self.delta.get(node, 0) + sign * n


def fits_later(cap: CapacityIndex, groups: list[int], delta: dict[int, int], gpus: int) -> bool:
    """Whether ``gpus`` GPUs could be placed on one of ``groups`` if each node's free count
    were ``node_free + delta`` (the existence test of ``CapacityIndex.fit``: up to a node's
    size on one node, more on the group's total)."""
    for gi in groups:
        g = cap.groups[gi]
        mine = [(n, cap.node_free[n] + dv) for n, dv in delta.items() if cap.node_group[n] == gi]
        if gpus > g.max_gpus:
            if g.free_total + sum(f - cap.node_free[n] for n, f in mine) >= gpus:
                return True
            continue
        if any(f >= gpus for _, f in mine):
            return True
        for k in range(gpus, g.max_gpus + 1):
            if any(n not in delta for n in g.buckets[k]):
                return True
    return False


class _Shadow:
    """:func:`fits_later` for a ``delta`` that only grows, with the free counts fixed (the
    search for the shadow time): per group, the sum of its nodes' deltas (the gang test)
    and whether one of its nodes has reached ``gpus`` (the one-node test) are kept as
    GPUs are added, instead of going over every node added so far at each end."""

    def __init__(self, cap: CapacityIndex, groups: list[int], gpus: int) -> None:
        self.cap, self.groups, self.gpus = cap, groups, gpus
        self.sum = dict.fromkeys(groups, 0)
        self.hit: set[int] = set()

    def added(self, slots: Slots, delta: dict[int, int]) -> None:
        cap = self.cap
        for node, n in slots:
            gi = cap.node_group[node]
            if gi in self.sum:
                self.sum[gi] += n
                if cap.node_free[node] + delta[node] >= self.gpus:
                    self.hit.add(gi)

    def fits(self, delta: dict[int, int]) -> bool:
        cap, gpus = self.cap, self.gpus
        for gi in self.groups:
            g = cap.groups[gi]
            if gpus > g.max_gpus:
                if g.free_total + self.sum[gi] >= gpus:
                    return True
                continue
            if gi in self.hit:
                return True
            for k in range(gpus, g.max_gpus + 1):
                if any(n not in delta for n in g.buckets[k]):
                    return True
        return False


class _KeptEnds(KeptRuns):
    """A cohort's running jobs' estimated ends (``start + limit``) in time order, kept
    from one reservation to the next (:class:`~gpufleet.policies.slurm.keptruns.KeptRuns`:
    the jobs started and stopped since the last are added and removed) instead of taking
    and sorting every end anew (at 5,000 running jobs, half of EASY's time)."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[tuple[float, int]] = []  # (end, job id), sorted

    @classmethod
    def of(cls, programs: list[ProgramState], limit_s: Callable[[Job], float]) -> _KeptEnds:
        kept = cls()
        kept.fill(programs, limit_s)
        kept.order = sorted((run[0], jid) for jid, run in kept.runs.items())
        return kept

    def _taken(self, jid: int, run: Run) -> None:
        bisect.insort(self.order, (run[0], jid))

    def _dropped(self, jid: int, run: Run) -> None:
        del self.order[bisect.bisect_left(self.order, (run[0], jid))]

    def read(
        self, now: float, wanted: set[int], stopped: set[int]
    ) -> Iterator[tuple[float, int, Slots]]:
        """The ends on the wanted groups in time order, ``max(now, end)``, less the jobs
        this cycle stopped tentatively; lazily, as the shadow time is usually near."""
        runs = self.runs
        for end, jid in self.order:
            _, slots, group = runs[jid]
            if group in wanted and jid not in stopped:
                yield (end if end > now else now, jid, slots)


class SlurmBackfillEasy(SlurmMultifactor):
    """EASY backfill on the multifactor order; the rule is in the module docstring. Slurm's
    own planning backfill is :class:`gpufleet.policies.slurm.plan.SlurmBackfill`."""

    name: ClassVar[str] = "slurm-backfill-easy"
    summary: ClassVar[str] = "Slurm multifactor order with EASY backfill (top-job reservation)"
    options: ClassVar[Options] = {"bf_max_job_test": POSITIVE_INT, **SlurmMultifactor.options}

    def __init__(
        self,
        bf_max_job_test: int | None = None,
        speeds: Mapping[str, float] | None = None,
        **multifactor: Any,  # SlurmMultifactor's keywords
    ) -> None:
        super().__init__(**multifactor)
        depth = bf_max_job_test or (self.setup.bf_max_job_test if self.setup else None)
        self.depth = depth or 500
        self.speeds = dict(speeds or {t.name: t.throughput for t in default_catalog()})
        # cohort -> (id of the job holding the reservation, its reserved start), as of the
        # cohort's last cycle
        self.reservations: dict[str, tuple[int, float]] = {}
        # cohort -> running job id -> (its start, work left at its start, estimated end)
        self._run_ends: dict[str, dict[int, tuple[float, float, float]]] = {}
        self._kept: dict[str, _KeptEnds] = {}  # cohort -> its running jobs' ends, in order
        self._slowest: dict[tuple[str, ...], float] = {}  # allowed types -> slowest speed

    def reservation(self, cohort: str) -> ReservedStart | None:
        held = self.reservations.get(cohort)
        return None if held is None else ReservedStart(*held)

    def reserved_start_s(self, job: Job) -> float | None:
        """The reserved start of ``job`` if it is its cohort's top job and holds one."""
        held = self.reservations.get(job.cohort)
        return held[1] if held is not None and held[0] == job.spec.id else None

    def limit_s(self, job: Job) -> float:
        """The job's time limit, or its run time at the slowest GPU type it allows."""
        if job.spec.time_limit_s is not None:
            return job.spec.time_limit_s
        types = job.spec.gpu_types
        slowest = self._slowest.get(types)
        if slowest is None:  # per set of allowed types, once
            slowest = min((self.speeds.get(t, 1.0) for t in types), default=1.0)
            self._slowest[types] = slowest
        return job.remaining_s / slowest

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        if not self.main_now:  # EASY's pass is the main scheduler's (timing.py)
            return
        self.reservations.pop(cohort, None)
        mark = len(d.admit)
        job, queue = self.main_pass(snap, snap.cohort(cohort), d)  # limits: passed over
        if job is None:
            return
        started = d.admit[mark:]  # what the main pass started, one entry per job
        res = self.reserve(snap, job, started)
        if res is not None:
            self.reservations[cohort] = (job.spec.id, res.start_s)
        self.backfill(snap, res, list(islice(queue, self.depth)), d)

    def reserve(
        self, snap: Snapshot, top: Job, started: list[tuple[Job, Placement]]
    ) -> Reservation | None:
        """Phase 2: the shadow time of ``top`` and the free GPUs it will find then. The
        running jobs' ends come from the cohort's :class:`_KeptEnds` (with
        ``incremental_order``; else every running job's end is taken and sorted anew, the
        reference), and are read only up to the shadow time."""
        cap, now = snap.capacity, snap.now_s
        by_type = cap.by_cohort_type.get(top.cohort, {})
        groups = [gi for t in top.spec.gpu_types for gi in by_type.get(t, [])]
        wanted = set(groups)
        fresh = sorted(  # started by this cycle's main pass
            (now + self.limit_s(j), j.spec.id, pl.slots) for j, pl in started if pl.group in wanted
        )
        ends: Iterable[tuple[float, int, Slots]]
        if self.incremental_order:
            running = self._kept_ends(snap, top.cohort).read(now, wanted, snap.stopped)
            ends = heapq.merge(running, fresh, key=itemgetter(0))
        else:
            ends = sorted([*self._running_ends(snap, top.cohort, wanted), *fresh])
        res = Reservation(top, now, groups)
        # the test kept as the ends are added (False: fits_later anew, the reference)
        shadow = _Shadow(cap, groups, top.spec.gpus) if self.incremental_order else None
        at: float | None = None  # the time of the ends added so far and not yet tested
        for t, _, slots in chain(ends, [(math.inf, 0, ())]):  # lazily: stops at T
            if at is not None and t != at and self._fits_at_shadow(res, shadow, snap):
                res.start_s = at
                return res
            if t == math.inf:
                break
            at = t
            res.add(slots, +1)
            if shadow is not None:
                shadow.added(slots, res.delta)
        return None

    @staticmethod
    def _fits_at_shadow(res: Reservation, shadow: _Shadow | None, snap: Snapshot) -> bool:
        """Whether the top job fits once the ends added so far have freed their GPUs."""
        if shadow is not None:
            return shadow.fits(res.delta)
        return fits_later(snap.capacity, res.groups, res.delta, res.job.spec.gpus)

    def _running_ends(
        self, snap: Snapshot, cohort: str, wanted: set[int]
    ) -> list[tuple[float, int, Slots]]:
        """Every running job's estimated end on the wanted groups (``max(now, end)``), taken
        anew: the reference of :class:`_KeptEnds`."""
        now = snap.now_s
        ends: list[tuple[float, int, Slots]] = []
        # a running job's estimated end is fixed for its run: kept per cohort, keyed by
        # the run (its start and the work it started with), instead of taken anew
        kept = self._run_ends.setdefault(cohort, {})
        for j in snap.running(snap.cohort(cohort)):
            pl = j.placement
            if pl is not None and pl.group in wanted:
                jid, start, left = j.spec.id, j.start_s, j.remaining_s
                run = kept.get(jid)
                if run is None or run[0] != start or run[1] != left:
                    run = kept[jid] = (start, left, start + self.limit_s(j))
                end = run[2]
                ends.append((end if end > now else now, jid, pl.slots))  # max(now, end)
        if len(kept) > 2 * len(ends) + 64:  # forget the runs that ended
            seen = {e[1] for e in ends}
            self._run_ends[cohort] = {jid: r for jid, r in kept.items() if jid in seen}
        return ends

    def _kept_ends(self, snap: Snapshot, cohort: str) -> _KeptEnds:
        """The cohort's running jobs' ends in time order, brought up to date."""
        programs = snap.cohort(cohort).programs
        kept = self._kept.get(cohort)
        if kept is None or not kept.update(programs, self.limit_s):
            kept = self._kept[cohort] = _KeptEnds.of(programs, self.limit_s)
        return kept

    def backfill(
        self, snap: Snapshot, res: Reservation | None, candidates: list[Job], d: Decision
    ) -> None:
        """Phase 3: start the candidates that fit now and leave the reservation intact.
        Without preemption (and with ``incremental_order``, else the reference below asks
        every candidate) :meth:`_backfill_alike` asks each kind of candidate once."""
        if self.preemption is None and self.incremental_order:
            self._backfill_alike(snap, res, candidates, d)
            return
        for job in candidates:  # the reference: every candidate asked anew
            got = self.placement.place(snap, job, self.admission)
            if isinstance(got, Placement):
                if res is not None and not self._keeps(snap, res, job, got):
                    d.blocked.append((job, Reason.HELD_FOR_BACKFILL))
                    continue
                self._start(snap, res, job, got, d)
            else:
                why = self._preempt_for(snap, res, job, d, got)
                if why is not None:
                    d.blocked.append((job, why))

    def _backfill_alike(
        self, snap: Snapshot, res: Reservation | None, candidates: list[Job], d: Decision
    ) -> None:
        """Phase 3 without preemption, each kind of candidate asked once between starts.

        Nothing but a start changes the snapshot or the reservation here, and a
        candidate's placement and limits depend only on its cohort and :func:`like`
        (SlurmLimits reads no more), so until the next start a candidate like one already
        asked gets the same answer: its placement (or the reason there is none) and, if it
        would run past T on J's GPUs, whether J still fits. A limit's refusal outlives
        starts (they only bring limits nearer), as in :meth:`main_pass`."""
        blocked, quota = d.blocked, Reason.QUOTA
        alike: set[Like] = set()
        placed: dict[Like, Placement | Reason] = {}
        keeps: dict[Like, bool] = {}
        for job in candidates:
            lk = like(job)
            if lk in alike:
                blocked.append((job, quota))
                continue
            got = placed.get(lk)
            if got is None:
                got = placed[lk] = self.placement.place(snap, job, self.admission)
            if not isinstance(got, Placement):
                blocked.append((job, got))
                if got is quota:
                    alike.add(lk)
                continue
            if res is not None and got.group in res.groups and not self._ends_by(snap, res, job):
                ok = keeps.get(lk)
                if ok is None:
                    ok = keeps[lk] = self._fits_with(snap, res, got)
                if not ok:
                    blocked.append((job, Reason.HELD_FOR_BACKFILL))
                    continue
            self._start(snap, res, job, got, d)
            placed.clear()
            keeps.clear()

    def _preempt_for(
        self, snap: Snapshot, res: Reservation | None, job: Job, d: Decision, why: Reason
    ) -> Reason | None:
        """A candidate that does not fit (for reason ``why``) preempts as in phase 1 if
        that keeps the reservation. None once started; else the reason it waits:
        ``HELD_FOR_BACKFILL`` if its victims and GPUs would delay J, ``why`` if there is no
        preemption or it cannot make room."""
        if self.preemption is None:
            return why
        mark, first = snap.mark(), len(d.preempt)
        saved = dict(res.delta) if res is not None else {}
        pl = self.preemption.make_room(snap, job, d)
        if pl is None:
            return why
        if res is not None:
            for v in d.preempt[first:]:
                self._gone_now(snap, res, v)
            if not self._keeps(snap, res, job, pl):
                snap.undo_to(mark)
                del d.preempt[first:]
                res.delta = saved
                return Reason.HELD_FOR_BACKFILL
        self._start(snap, res, job, pl, d)
        return None

    def _ends_by(self, snap: Snapshot, res: Reservation, job: Job) -> bool:
        return snap.now_s + self.limit_s(job) <= res.start_s

    def _keeps(self, snap: Snapshot, res: Reservation, job: Job, pl: Placement) -> bool:
        """Whether J still fits at its shadow time with ``job`` started now on ``pl``."""
        if pl.group not in res.groups or self._ends_by(snap, res, job):
            return True  # on GPUs J cannot use, or gone by T (its GPUs come back by then)
        return self._fits_with(snap, res, pl)

    @staticmethod
    def _fits_with(snap: Snapshot, res: Reservation, pl: Placement) -> bool:
        """Whether J fits at T with ``pl``'s GPUs taken now and still taken at T."""
        res.add(pl.slots, -1)
        ok = fits_later(snap.capacity, res.groups, res.delta, res.job.spec.gpus)
        res.add(pl.slots, +1)
        return ok

    def _start(
        self, snap: Snapshot, res: Reservation | None, job: Job, pl: Placement, d: Decision
    ) -> None:
        """Start ``job`` on ``pl``; free now drops by its GPUs, free at T only if it runs
        past T, so ``delta`` grows by them when it ends by T."""
        snap.assume_start(job, pl)
        d.admit.append((job, pl))
        if res is not None and pl.group in res.groups and self._ends_by(snap, res, job):
            res.add(pl.slots, +1)

    def _gone_now(self, snap: Snapshot, res: Reservation, v: Job) -> None:
        """A victim stopped now: free now grows by its GPUs, free at T only if it would
        have run past T (as :meth:`reserve` estimated its end)."""
        pl = v.placement
        if pl is None or pl.group not in res.groups:
            return
        if max(snap.now_s, v.start_s + self.limit_s(v)) <= res.start_s:
            res.add(pl.slots, -1)

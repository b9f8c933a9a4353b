"""Slurm's ``sched/backfill`` as it plans: a start time for every job it examines.

Sources: slurm.schedmd.com/sched_config.html ("Backfill": "Slurm ... will start lower
priority jobs if doing so does not delay the expected start time of any higher priority
jobs"), slurm.conf.html (``SchedulerParameters``: ``bf_interval`` default 30 s,
``bf_max_job_test`` default 500, ``bf_resolution`` default 60 s, ``bf_window`` default
1440 minutes) and src/plugins/sched/backfill/backfill.c (slurm-22-05-9-1),
``_attempt_backfill``.

Rule, per cohort (Slurm's partition):

1. **Main scheduler**, at its passes (every cycle by default, or every ``sched_interval``
   only: :mod:`gpufleet.policies.slurm.timing`; src/slurmctld/job_scheduler.c, ``_schedule``):
   pending jobs in multifactor order start while they fit; a job an association limit
   holds is passed over; the first that does not fit ends the pass.
2. **Backfill pass**, at most once per ``bf_interval_s`` (the first cycle, or with
   ``bf_phase_s`` the rhythm's first pass at or after it, then the first cycle at least
   ``bf_interval_s`` after the previous pass; a waiting cohort asks to be woken then;
   :mod:`gpufleet.policies.slurm.timing`). At a cycle the main scheduler does not run at
   (its periodic passes only, ``sched_at_events`` false) only this pass can start jobs.
   The free GPUs per node over time (:class:`~gpufleet.policies.slurm.nodespace.
   NodeSpace`) start from now and the running jobs' expected ends (start plus
   time limit, rounded down to ``bf_resolution_s``). Up to ``bf_max_job_test`` pending
   jobs are examined in priority order: each gets the earliest start at which its allowed
   GPUs are free for its whole time limit in that plan, within ``bf_window_s``. If that
   start is now the job starts (it holds its GPUs over its limit in the plan); otherwise
   that start is reserved and the job waits. A reservation holds its **nodes whole** over
   the job's limit, as Slurm's ``node_space`` keeps node bitmaps, not GPU counts
   (``_add_reservation`` clears the job's nodes from ``avail_bitmap`` over the window; a
   job tried later may use only the nodes free of reservations through its whole window),
   so a one-GPU job is not backfilled onto a node a planned job will take part of, while
   the running jobs' GPUs are counted one by one (the select plugin's will-run test);
   ``bf_whole_nodes`` false holds only the planned job's GPUs. A job limits hold is
   passed over, as in the main scheduler. So a job never starts where it would take GPUs
   planned for a job examined before it: no higher-priority job's planned start is
   delayed.
3. **Reasons.** The main pass's blocked job keeps its reason; a later job that would fit
   now but whose window clashes with a planned job is ``HELD_FOR_BACKFILL``; one that
   does not fit now keeps the placement's reason (``CAPACITY``, ...).

The first reservation of the pass is the cohort's :meth:`reservation`; every planned start
is :meth:`reserved_start_s`. Not modelled: ``bf_continue`` (the pass here is instant),
``bf_max_job_user``/``_part``/``_assoc``, preemption in the backfill pass (QOS preemption
acts in the main pass only), and backfill of the jobs behind a blocked one at cycles
between passes.

Cost per pass: the plan from the R running jobs read from their ends kept between passes
(:mod:`~gpufleet.policies.slurm.keptgrid`: O(S x N) numpy copies for S distinct ends and N
nodes, plus one column per job started or stopped since; ``kept_base = False``: O(R) to
sum them anew, the reference), then per examined job O(N) for
the N nodes of its groups plus O(U) for the U runs of free GPUs of the D nodes planned jobs
have touched, and O(I) for I intervals to read again the node the last planned job
touched (:mod:`~gpufleet.policies.slurm.cleannodes`; a job larger than a node: O(I x W x
N), W intervals in its window). Limits and placement are asked once per kind of job
(:func:`~gpufleet.policies.slurm.order.like`) between two starts. A job's plan from the
last pass is carried without the search where it provably holds
(:mod:`~gpufleet.policies.slurm.carried`: O(C) for the C nodes whose plan changed since,
read once per pass and size; ``carry = False`` searches every job). The pass stops examining
once no job left could start now (:mod:`~gpufleet.policies.slurm.planexit`): the rest get
their reasons, and their planned starts are made only when
:meth:`SlurmBackfill.reserved_start_s` asks. All are exact: ``exit = sparse = carry = False`` is
the reference, every examined job planned by the dense search and every job asked anew
(tests/policies/test_slurm_plan_exit.py, test_slurm_kept_grid.py and test_slurm_carried.py
compare them;
tests/live/test_forecast_digest.py pins a seeded live state's starts).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from gpufleet.domain.reasons import Reason
from gpufleet.policies.base import Decision, ReservedStart
from gpufleet.policies.options import FLAG, NON_NEGATIVE, POSITIVE_INT, Options
from gpufleet.policies.slurm.backfill import SlurmBackfillEasy
from gpufleet.policies.slurm.carried import CarriedPlans, Walk
from gpufleet.policies.slurm.keptgrid import KeptGrid
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.policies.slurm.order import Like, like
from gpufleet.policies.slurm.planexit import Rest, Soon
from gpufleet.policies.slurm.timing import Ticks
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job
from gpufleet.state.snapshot import Snapshot


class SlurmBackfill(SlurmBackfillEasy):
    """Slurm's planning backfill on the multifactor order; rule in the module docstring."""

    name: ClassVar[str] = "slurm-backfill"
    summary: ClassVar[str] = (
        "Slurm multifactor order with sched/backfill: a planned start for every job examined"
    )
    options: ClassVar[Options] = {
        **SlurmBackfillEasy.options,
        "bf_interval_s": NON_NEGATIVE,
        "bf_resolution_s": NON_NEGATIVE,
        "bf_window_min": POSITIVE_INT,
        "bf_phase_s": NON_NEGATIVE,
        "bf_whole_nodes": FLAG,
    }

    def __init__(
        self,
        bf_interval_s: float | None = None,
        bf_resolution_s: float | None = None,
        bf_window_min: int | None = None,
        bf_phase_s: float | None = None,
        bf_whole_nodes: bool = True,
        **easy: Any,  # SlurmBackfillEasy's keywords
    ) -> None:
        super().__init__(**easy)
        cfg = self.setup
        self.bf_interval_s = _pick(bf_interval_s, cfg.bf_interval_s if cfg else None, 30.0)
        res = _pick(bf_resolution_s, cfg.bf_resolution_s if cfg else None, 60.0)
        self.bf_resolution_s = res or 1.0  # 0 given: plan to the second
        window = None if bf_window_min is None else bf_window_min * 60.0
        self.bf_window_s = _pick(window, cfg.bf_window_s if cfg else None, 1440 * 60.0)
        # the backfill passes' phase (timing.py): None, the run's first cycle
        self.bf_phase_s = bf_phase_s if bf_phase_s is not None or not cfg else cfg.bf_phase_s
        # a planned job holds its nodes whole (Slurm's node_space), False: only its GPUs
        self.bf_whole_nodes = bf_whole_nodes
        self._bf_last_s: float | None = None
        self._bf_now = False
        # cohort -> job id -> planned start, from the cohort's last backfill pass
        self.planned: dict[str, dict[int, float]] = {}
        # cohort -> the jobs of its last pass after the exact early exit, not yet planned
        self.unplanned: dict[str, Rest] = {}
        # the exact early exit of a pass (False: every examined job planned, the reference)
        self.exit = True
        self.exits = 0  # passes that exited early
        # the one-node search by clean nodes (cleannodes.py; False: the dense one)
        self.sparse = True
        # the running jobs' ends kept between passes (keptgrid.py; False: taken anew)
        self.kept_base = True
        self._grids: dict[str, KeptGrid] = {}  # cohort -> its kept ends
        # the plans carried from pass to pass where they provably hold (carried.py;
        # False: every examined job searched, the reference); needs kept_base
        self.carry = True
        self._carried: dict[str, CarriedPlans] = {}
        self.carried = 0  # searches spared by carried plans

    def decide(self, snap: Snapshot) -> Decision:
        now = snap.now_s
        if self._bf_last_s is None and self.bf_phase_s is not None:  # one before the next
            ticks = Ticks(self.bf_interval_s, self.bf_phase_s)
            self._bf_last_s = ticks.at_or_after(now) - self.bf_interval_s
        last = self._bf_last_s
        self._bf_now = last is None or now >= last + self.bf_interval_s
        d = super().decide(snap)
        if self._bf_now:
            self._bf_last_s = now
        return d

    def reserved_start_s(self, job: Job) -> float | None:
        """The start the cohort's last backfill pass planned for ``job``, if any."""
        planned = self.planned.get(job.cohort, {})
        rest = self.unplanned.get(job.cohort)
        if job.spec.id not in planned and rest is not None:
            rest.plan_to(job.spec.id, planned)
        return planned.get(job.spec.id)

    def reservation(self, cohort: str) -> ReservedStart | None:
        held = self.reservations.get(cohort)
        return None if held is None else ReservedStart(*held)

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        if self.main_now:
            blocked, queue = self.main_pass(snap, snap.cohort(cohort), d)  # 1. main scheduler
        else:  # no main pass at this instant (timing.py): the queue as it stands waits
            queue = self.iter_ordered(snap, snap.cohort(cohort))
            blocked = next(queue, None)
        if blocked is None:
            self.reservations.pop(cohort, None)
            return
        waiting = [blocked]  # and the rest of the queue, read only if the pass examines it
        if not self._bf_now:  # 2. backfill waits for its interval
            assert self._bf_last_s is not None
            due = self._bf_last_s + self.bf_interval_s
            d.wake_at = due if d.wake_at is None else min(d.wake_at, due)
            return
        self.reservations.pop(cohort, None)
        self.planned[cohort] = {}
        self.unplanned.pop(cohort, None)
        waiting += islice(queue, self.depth - 1)  # the pass examines bf_max_job_test jobs
        self.backfill_pass(snap, cohort, waiting, d)

    def backfill_pass(self, snap: Snapshot, cohort: str, waiting: list[Job], d: Decision) -> None:
        """Phase 2 of the module docstring over ``waiting`` (the first is already blocked)."""
        cap, now = snap.capacity, snap.now_s
        by_type = cap.by_cohort_type.get(cohort, {})
        space = NodeSpace(
            cap, [g for gs in by_type.values() for g in gs], now, self.bf_resolution_s
        )
        space.sparse = self.sparse
        space.whole_nodes = self.bf_whole_nodes
        fresh = [(self.limit_s(j), pl.slots) for j, pl in d.admit if j.cohort == cohort]
        walk: Walk | None = None
        if self.kept_base:  # the running jobs' ends kept since the last pass
            self._kept_grid(snap, cohort, space.nodes).load(space, fresh, snap.stopped)
            moved = self._grids[cohort].take_moved()
            if self.carry:
                carried = self._carried.setdefault(cohort, CarriedPlans())
                walk = carried.walk(space, cap.layout, moved)
        else:  # the reference: every running job's end taken anew
            ends = [
                (space.rounded(j.start_s + self.limit_s(j)), j.placement.slots)
                for j in snap.running(snap.cohort(cohort))
                if j.placement is not None
            ]
            ends += [(space.rounded(now + limit), slots) for limit, slots in fresh]
            space.release_all(ends)
        examined = waiting[: self.depth]
        hope = _hope(examined, min((space.top[g] for g in space.top), default=0))
        soon = Soon(examined, [self.limit_s(j) for j in examined], space) if self.exit else None
        verdicts = _Verdicts(self, snap, by_type, memo=self.exit)
        for i, job in enumerate(examined):
            if not hope(i, *space.now_free()):
                break  # no job from here on can start now: their plans would change nothing
            if soon is not None and cohort in self.reservations and not soon.any_from(i):
                self._rest(examined[i:], hope, i, space, verdicts, cohort, d)
                break  # the rest start nothing now: reasons now, plans when asked (Rest)
            first = job is waiting[0] and self.main_now  # its reason came from the main pass
            groups = verdicts.groups(job)
            if not groups:
                if walk is not None:
                    walk.passed(job.spec.id)
                if not first:
                    d.blocked.append((job, Reason.QUOTA))
                continue  # held by a limit: passed over
            limit = self.limit_s(job)
            if walk is not None:
                got = walk.earliest(job.spec.id, groups, job.spec.gpus, limit, self.bf_window_s)
            else:
                got = space.earliest(groups, job.spec.gpus, limit, self.bf_window_s)
            if got is None:
                if not first:
                    d.blocked.append((job, verdicts.why_not_now(job)))
                continue
            start, slots = got
            end = space.rounded(start + limit)
            if start == now:
                gi = cap.node_group[slots[0][0]]
                pl = Placement(gi, slots)
                snap.assume_start(job, pl)
                d.admit.append((job, pl))
                space.take(slots, now, end)
                verdicts.started()
                continue
            space.reserve(slots, start, end)
            self.planned[cohort][job.spec.id] = start
            if cohort not in self.reservations:
                self.reservations[cohort] = (job.spec.id, start)
            if not first:
                d.blocked.append((job, verdicts.why_not_now(job)))
        if walk is not None:
            self._carried[cohort].keep(walk)
            self.carried += walk.carried

    def _kept_grid(self, snap: Snapshot, cohort: str, nodes: list[int]) -> KeptGrid:
        """The cohort's running jobs' ends, brought up to date, in columns for ``nodes``
        (the plan's; built anew when those change, as when a node goes down)."""
        programs = snap.cohort(cohort).programs
        kept = self._grids.get(cohort)
        if kept is None or kept.order != nodes or not kept.update(programs, self.limit_s):
            kept = KeptGrid.of(programs, self.limit_s, self.bf_resolution_s, nodes)
            self._grids[cohort] = kept
        return kept

    def _rest(
        self,
        rest: list[Job],
        hope: Callable[[int, int, int], bool],
        first: int,
        space: NodeSpace,
        verdicts: _Verdicts,
        cohort: str,
        d: Decision,
    ) -> None:
        """The jobs of a pass from the one where :class:`Soon` finds none that could start
        now: each gets the reason the full pass gives it (its limits' QUOTA, else
        :meth:`_why_not_now`, neither of which reads the plan), up to where ``_hope``
        ends the full pass; their plans are made only if :meth:`reserved_start_s` asks."""
        self.exits += 1
        one_node, total = space.now_free()
        todo: list[tuple[Job, list[int], float]] = []
        for k, job in enumerate(rest):
            if not hope(first + k, one_node, total):
                break
            groups = verdicts.groups(job)
            if not groups:
                d.blocked.append((job, Reason.QUOTA))
                continue
            d.blocked.append((job, verdicts.why_not_now(job)))
            todo.append((job, groups, self.limit_s(job)))
        if todo:
            self.unplanned[cohort] = Rest(space, todo, self.bf_window_s)

    def _why_not_now(self, snap: Snapshot, job: Job) -> Reason:
        got = self.placement.place(snap, job, self.admission)
        return Reason.HELD_FOR_BACKFILL if isinstance(got, Placement) else got


class _Verdicts:
    """What limits and placement say of a job in a pass: the groups of the GPU types its
    limits let it use now, and why it cannot start now (``HELD_FOR_BACKFILL`` where the
    placement rule finds it room, else the placement's reason). Both read only what
    :func:`~gpufleet.policies.slurm.order.like` keeps of a job (program, GPUs, allowed
    types, user, QOS; the cohort is the pass's) and the GPUs and limits in use, which in a
    backfill pass only a start changes (planned jobs take no GPUs now). So they are kept
    per like-key until the pass starts a job; with ``memo`` False every job is asked anew
    (the reference the tests compare with)."""

    def __init__(
        self, policy: SlurmBackfill, snap: Snapshot, by_type: dict[str, list[int]], memo: bool
    ) -> None:
        self.policy, self.snap, self.by_type, self.memo = policy, snap, by_type, memo
        self._groups: dict[Like, list[int]] = {}
        self._why: dict[Like, Reason] = {}

    def groups(self, job: Job) -> list[int]:
        key = like(job) if self.memo else None
        got = self._groups.get(key) if key is not None else None
        if got is None:
            check, snap = self.policy.admission.check, self.snap
            got = [
                gi
                for t in job.spec.gpu_types
                if check(snap, job, t) is None
                for gi in self.by_type.get(t, [])
            ]
            if key is not None:
                self._groups[key] = got
        return got

    def why_not_now(self, job: Job) -> Reason:
        key = like(job) if self.memo else None
        got = self._why.get(key) if key is not None else None
        if got is None:
            got = self.policy._why_not_now(self.snap, job)
            if key is not None:
                self._why[key] = got
        return got

    def started(self) -> None:
        """A job started: GPUs and limits in use changed."""
        self._groups.clear()
        self._why.clear()


def _hope(jobs: list[Job], node_size: int) -> Callable[[int, int, int], bool]:
    """Whether some job from the i-th on could start now, given the most GPUs free on one
    node and in all: a job of at most ``node_size`` GPUs needs them on one node, a larger
    one in all (the suffix minima of both kinds, computed once)."""
    inf = 1 << 30
    gpus = np.fromiter((j.spec.gpus for j in jobs), dtype=np.int64, count=len(jobs))
    one = gpus <= node_size
    small = _suffix_min(np.where(one, gpus, inf), inf)
    large = _suffix_min(np.where(one, inf, gpus), inf)
    return lambda i, one_node, total: small[i] <= one_node or large[i] <= total


def _suffix_min(values: npt.NDArray[np.int64], last: int) -> list[int]:
    """Each suffix's minimum of ``values``, and ``last`` for the empty one."""
    mins: list[int] = np.minimum.accumulate(np.append(values, last)[::-1])[::-1].tolist()
    return mins


def _pick(given: float | None, configured: float | None, default: float) -> float:
    if given is not None:
        return float(given)
    return float(configured) if configured is not None else default

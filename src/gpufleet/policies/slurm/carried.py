"""The planning backfill's plans, carried from one pass to the next where nothing that
decides them changed.

In a forecast, jobs run to their time limits, so the running jobs end where the plan put
them and most passes plan most jobs exactly as the pass before did (at 10,000 pending and
5,000 running jobs, over the first simulated hour, 99.7% of the jobs planned in two passes
in a row kept their start).
Each search (:meth:`~gpufleet.policies.slurm.nodespace.NodeSpace.earliest`) still cost
most of a pass. :class:`Walk` gives a job its last plan without the search when that plan
is provably what the search would find.

**The changed nodes.** A pass sees, for each job it examines, the running jobs' ends
(the base) plus the plans of the jobs it examined before. The nodes whose columns may
differ, from now on, from what the last pass saw at the same job are kept in a set C:

- every node a job started or stopped on since the last pass, or whose end the base
  places otherwise than at its rounded end (overdue ends, this cycle's main-pass starts,
  tentative stops: :class:`~gpufleet.policies.slurm.keptgrid.KeptGrid` reports them);
- the nodes of a job whose result differs from its last one (old and new), of a job the
  last pass planned before this one that this pass has not (it started, left, is held by
  a limit or moved down the order), and of a job new to the plan.

Any change to which nodes are usable (``CapacityIndex.layout``), or a kept grid rebuilt,
carries nothing over for that pass.

**The certificate.** A job of one node, examined in the same order relative to the jobs
before it, asking the same GPUs, limit and groups, whose last planned start ``s`` is
still after now, on a node not in C, gets ``s`` and that node again if no node of C
fits it at a start before ``s``, nor at ``s`` better by the search's tie-break (first
group, then fewest GPUs left over the window, then the placement's order). Why: a node
not in C has, from now on, the column it had, so it fits where it fitted; one that fits
now fitted at the start of the interval now lies in (its window loses only the past),
which the last search tried and rejected as it found ``s`` later; the planned node still
fits at ``s`` with the same GPUs left; the placement's order of the nodes not in C is as
it was (a node changes place only as its free GPUs change, which puts it in C). The
nodes of C are read anew (:class:`_Runs`: per node and size, the spans over which it keeps
that many GPUs free, read once per pass).

A start now, a job larger than a node, a job that held no plan, or a plan on a node of C
is searched as before. The search's memo of lower bounds is kept as the search would
(:meth:`NodeSpace.noted`). tests/policies/test_slurm_carried.py compares every pass with
the searches run for every job (``SlurmBackfill.carry = False``, the reference).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.policies.slurm.cleannodes import read_runs
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.state.capacity import Slots

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Planned:
    """What a pass did with one job: started or reserved ``slots`` from ``start``."""

    start: float
    slots: Slots
    pos: int  # its place among the jobs of its pass that changed the plan
    groups: tuple[int, ...]
    gpus: int
    limit: float
    group: int  # the index in groups of its node's group; -1: not a one-node job
    low: int  # the least free GPUs of its node over its window, before it was planned


class CarriedPlans:
    """A cohort's plans from its last backfill pass."""

    def __init__(self) -> None:
        self.plans: dict[int, Planned] = {}  # job id -> its plan
        self.order: list[tuple[int, Slots]] = []  # (job id, slots), in the pass's order
        self.layout = -1

    def walk(self, space: NodeSpace, layout: int, moved: set[int] | None) -> Walk:
        """The pass about to plan on ``space``; ``moved``: the nodes whose base changed
        since the last pass (None: not known, nothing is carried)."""
        known = moved is not None and layout == self.layout
        self.layout = layout
        if not known:
            return Walk(space, {}, [], set())
        assert moved is not None
        return Walk(space, self.plans, self.order, moved)

    def keep(self, walk: Walk) -> None:
        """The plans of the pass just walked, for the next."""
        self.plans, self.order = walk.plans, walk.order


class Walk:
    """One pass over a cohort's examined jobs, in order (module docstring)."""

    def __init__(
        self,
        space: NodeSpace,
        old: dict[int, Planned],
        old_order: list[tuple[int, Slots]],
        moved: set[int],
    ) -> None:
        self.space = space
        self.old, self.old_order = old, old_order
        self.next = 0  # the place in the old order the walk has reached
        self.changed: set[int] = set()  # C, by node
        self.cols: list[int] = []  # C, by local position in the space, sorted
        self.runs = _Runs(space)  # the changed nodes' runs, per size asked
        for node in moved:
            self._touch_node(node)
        self.plans: dict[int, Planned] = {}
        self.order: list[tuple[int, Slots]] = []
        self.carried = 0  # searches spared

    def earliest(
        self, jid: int, groups: list[int], gpus: int, limit_s: float, window_s: float
    ) -> tuple[float, Slots] | None:
        """:meth:`NodeSpace.earliest`'s answer for the job, carried where it holds."""
        old = self.old.get(jid)
        in_order = self._reach(old)
        sp = self.space
        if old is not None and in_order and self._holds(old, groups, gpus, limit_s):
            sp.noted(groups, gpus, limit_s, old.start)
            self.carried += 1
            self._keep(jid, old.start, old.slots, old.groups, gpus, limit_s, old.group, old.low)
            return old.start, old.slots
        got = sp.earliest(groups, gpus, limit_s, window_s)
        if got is not None:
            self.runs.stale(got[1])  # it is planned there next
        same = (
            got is not None
            and old is not None
            and in_order
            and got[0] == old.start
            and got[1] == old.slots
        )
        if not same:
            if old is not None:
                self._touch(old.slots)
            if got is not None:
                self._touch(got[1])
        if got is not None:
            group, low = self._where(got, groups, gpus, limit_s)
            self._keep(jid, got[0], got[1], tuple(groups), gpus, limit_s, group, low)
        return got

    def passed(self, jid: int) -> None:
        """A job examined that plans nothing (a limit holds it)."""
        old = self.old.get(jid)
        self._reach(old)
        if old is not None:
            self._touch(old.slots)

    # --- the changed nodes -----------------------------------------------------------
    def _reach(self, old: Planned | None) -> bool:
        """Move the walk to ``old``'s place in the last pass: the jobs planned between
        that this pass has not reached are changes. False if the job moved up the order
        (or is new): it is searched."""
        if old is None or old.pos < self.next:
            return False
        for _, slots in self.old_order[self.next : old.pos]:
            self._touch(slots)
        self.next = old.pos + 1
        return True

    def _touch(self, slots: Slots) -> None:
        for node, _ in slots:
            self._touch_node(node)

    def _touch_node(self, node: int) -> None:
        if node in self.changed:
            return
        self.changed.add(node)
        k = self.space.pos.get(node)
        if k is not None:
            bisect.insort(self.cols, k)
            self.runs.add(k)

    def _keep(
        self,
        jid: int,
        start: float,
        slots: Slots,
        groups: tuple[int, ...],
        gpus: int,
        limit_s: float,
        group: int,
        low: int,
    ) -> None:
        self.plans[jid] = Planned(start, slots, len(self.order), groups, gpus, limit_s, group, low)
        self.order.append((jid, slots))

    # --- the certificate -------------------------------------------------------------
    def _holds(self, old: Planned, groups: list[int], gpus: int, limit_s: float) -> bool:
        sp = self.space
        if old.group < 0 or old.start <= sp.now_s or limit_s <= 0:
            return False
        if old.gpus != gpus or old.limit != limit_s or old.groups != tuple(groups):
            return False
        node = old.slots[0][0]
        k = sp.pos.get(node)
        if k is None or node in self.changed:
            return False
        row = bisect.bisect_left(sp.times, old.start)
        if row == len(sp.times) or sp.times[row] != old.start:
            return False
        for gidx, gi in enumerate(groups):
            span = sp.span[gi]
            a = bisect.bisect_left(self.cols, span.start)
            b = bisect.bisect_left(self.cols, span.stop)
            if a < b and self.runs.beaten(span, gpus, limit_s, old, (gidx, k)):
                return False
        return True

    def _where(
        self, got: tuple[float, Slots], groups: list[int], gpus: int, limit_s: float
    ) -> tuple[int, int]:
        """The group index and the GPUs left over the window of a one-node answer, as the
        plan stands before it is entered; (-1, 0) for any other answer."""
        start, slots = got
        sp = self.space
        if len(slots) != 1 or slots[0][1] != gpus or limit_s <= 0:
            return -1, 0
        k = sp.pos.get(slots[0][0])
        if k is None or any(gpus > sp.top.get(gi, 0) for gi in groups):
            return -1, 0
        spans = [sp.span[gi] for gi in groups]
        group = next((i for i, span in enumerate(spans) if span.start <= k < span.stop), -1)
        row = bisect.bisect_left(sp.times, start)
        end = bisect.bisect_right(sp.times, start + limit_s)
        return group, int(sp.free[row:end, k].min())


class _Runs:
    """Per size asked, the runs of each changed node: the maximal spans ``[a, b)`` of
    interval starts over which it keeps that many GPUs free (``b`` the start of its next
    interval with fewer; :mod:`~gpufleet.policies.slurm.cleannodes` reads them alike). A
    job of g GPUs and limit L fits on the node at the start ``t`` of an interval iff t lies
    in a run with ``b > t + L`` (its window takes the intervals beginning up to t + L).
    Read once per node and size in a pass, and again after a job is planned on the node
    (runs read before only overstate where it fits, as a pass only takes GPUs: the check
    would refuse more plans, never carry a wrong one). Kept per size as flat arrays
    sorted by node, so that a check reads a group's nodes as one slice."""

    def __init__(self, space: NodeSpace) -> None:
        self.space = space
        self.nodes: list[int] = []  # C, by local position
        self._runs: dict[int, dict[int, tuple[Floats, Floats]]] = {}  # size -> node -> runs
        self._todo: dict[int, set[int]] = {}  # size -> the nodes of C to read (again)
        self._flat: dict[int, tuple[Ints, Floats, Floats]] = {}  # size -> node, a, b

    def add(self, k: int) -> None:
        """Node ``k`` joins C."""
        self.nodes.append(k)
        for todo in self._todo.values():
            todo.add(k)

    def stale(self, slots: Slots) -> None:
        """A job is planned or started on these nodes: their columns change."""
        for node, _ in slots:
            k = self.space.pos.get(node)
            for gpus, runs in self._runs.items():
                if k in runs:
                    self._todo[gpus].add(k)

    def beaten(
        self, span: slice, gpus: int, limit_s: float, old: Planned, held: tuple[int, int]
    ) -> bool:
        """Whether a node of C in ``span`` (the positions of the group of index
        ``held[0]``) fits the job at a start before ``old.start``, or at it with fewer GPUs
        left over the window than ``old.low``, or as few and before position ``held[1]``
        in the placement's order (``rank``) when ``held[0]`` is the old plan's group
        (which ranks before a later group and after an earlier one on ties)."""
        sp, start = self.space, old.start
        per = self._runs.get(gpus)
        if per is None:
            per = self._runs[gpus] = {}
            self._todo[gpus] = set(self.nodes)
        todo = self._todo[gpus]
        if todo:
            self._read(per, sorted(todo), gpus)
            todo.clear()
            self._flat.pop(gpus, None)
        flat = self._flat.get(gpus)
        if flat is None:
            flat = self._flat[gpus] = _flatten(per)
        at, a, b = flat
        lo, hi = np.searchsorted(at, (span.start, span.stop))
        at, a, b = at[lo:hi], a[lo:hi], b[lo:hi]  # the runs of the group's nodes of C
        if bool(((a < start) & (b > a + limit_s)).any()):
            return True  # one fits earlier
        fit = (a <= start) & (b > start + limit_s)
        if not bool(fit.any()):
            return False
        gidx, pos = held
        if gidx != old.group:  # the same start in another group: the first group wins
            return gidx < old.group
        tie = at[fit].tolist()
        row = bisect.bisect_left(sp.times, start)
        end = bisect.bisect_right(sp.times, start + limit_s)
        low = sp.free[row:end, tie].min(axis=0).tolist()
        rank = sp.rank
        mine = (old.low, int(rank[pos]))
        return any((int(lo), int(rank[k])) < mine for k, lo in zip(tie, low, strict=True))

    def _read(self, per: dict[int, tuple[Floats, Floats]], cols: list[int], gpus: int) -> None:
        which, a, b = read_runs(self.space, np.asarray(cols, dtype=np.intp), gpus)
        bounds = np.searchsorted(which, np.arange(len(cols) + 1))
        for i, k in enumerate(cols):
            per[k] = (a[bounds[i] : bounds[i + 1]], b[bounds[i] : bounds[i + 1]])


def _flatten(per: dict[int, tuple[Floats, Floats]]) -> tuple[Ints, Floats, Floats]:
    """The runs of every node read, as (node, a, b) arrays sorted by node."""
    nodes = sorted(per)
    at = np.repeat(np.asarray(nodes, dtype=np.intp), [len(per[k][0]) for k in nodes])
    if not nodes:
        return at, np.empty(0), np.empty(0)
    a = np.concatenate([per[k][0] for k in nodes])
    b = np.concatenate([per[k][1] for k in nodes])
    return at, a, b

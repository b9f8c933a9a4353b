"""The one-node search of :class:`~gpufleet.policies.slurm.nodespace.NodeSpace` without
reading every node's rows: most nodes of a backfill plan hold no planned job.

A node no job of the pass has been planned on or started on ("clean") has, from now on,
only the running jobs' ends in its column, so its free GPUs never drop: a job of g GPUs
fits on it at any interval start from the first one at which it has g free (``first``,
found once per pass and g, one read of the plan), for any limit, and the least free GPUs
over the job's window are those at its start. Only the nodes a planned or started job
has touched ("dirty", usually a few: one per job examined so far) need more: per size g
asked, each dirty node's runs, the maximal spans ``[a, b)`` of interval starts over which it
keeps g free (``b`` the start of its next interval with fewer, infinity if none). A job of
g GPUs and limit L fits on the node at start ``s`` iff s lies in a run with ``b >= s + L``
(the rows of its window are those starting before s + L), so the node's first start at or
after ``lo`` is ``max(a, lo)`` over the first run where that holds. A node's runs change
only when a job is planned or started on it (:meth:`CleanNodes.touched`): splitting an
interval adds a start inside a run, never moves a run's ends. So the runs are read from the
plan once per node and size, and again only for the node just touched, instead of every
dirty node's rows at every search. A reservation, the usual touch, leaves its node no free
GPU over its window [t0, t1), so its runs need no read at all: a dirty node's runs are cut
there (:func:`_cut`), and a clean node's one run per size, from its ``first`` on (when that
size's ``first`` is known), is cut likewise; only a started job's node is read again.

The answer is the dense search's (:meth:`NodeSpace._one_node`): the first start at or
after ``lo`` (before ``hi``) at which a node of one of the groups keeps ``gpus`` free
over the whole window; the first group on ties; in it, the node left with the fewest
free GPUs over the window, the first in the placement's order on ties (``rank``).
tests/policies/test_slurm_backfill_plan.py compares the two on random plans.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gpufleet.state.capacity import Slots


class NodeSpace(Protocol):
    """What this module reads of :class:`gpufleet.policies.slurm.nodespace.NodeSpace`
    (which imports this module)."""

    free: npt.NDArray[np.int32]
    times: list[float]

    def times_array(self) -> npt.NDArray[np.float64]: ...

    nodes: list[int]
    group_nodes: dict[int, npt.NDArray[np.intp]]
    span: dict[int, slice]

    def least(self, values: npt.NDArray[Any], local: npt.NDArray[np.intp]) -> int: ...


class CleanNodes:
    """The clean nodes of ``space`` and, per size asked, when each first has that many
    free (infinity for a dirty node or one that never does)."""

    def __init__(self, space: NodeSpace) -> None:
        self.space = space
        self.dirty: list[int] = []  # local positions, sorted
        self._first: dict[int, npt.NDArray[np.float64]] = {}
        # per size, the runs of the dirty nodes read so far (module docstring)
        self._runs: dict[int, _Runs] = {}

    def touched(self, k: int, emptied: tuple[float, float] | None = None) -> None:
        """A planned or started job changed node ``k``'s column; ``emptied``: a
        reservation left it no free GPU from the first time to the second. Then its runs
        are cut there instead of read again: a clean node's one run per size, from
        :meth:`first` on, where that size's ``first`` is known (module docstring)."""
        at = bisect.bisect_left(self.dirty, k)
        new = not (at < len(self.dirty) and self.dirty[at] == k)
        for g, runs in self._runs.items():
            if emptied is None or g < 1:  # (no GPU free is fewer than g only for g >= 1)
                runs.stale.add(k)
            elif not new:
                runs.cut(k, emptied)
            elif (first := self._first.get(g)) is not None:
                f = float(first[k])
                runs.seed(k, _cut([(f, math.inf)], emptied) if f != math.inf else [])
        if not new:
            return
        self.dirty.insert(at, k)
        for first in self._first.values():
            first[k] = math.inf

    def first(self, gpus: int) -> npt.NDArray[np.float64]:
        """Per node, the first interval start at which a clean node has ``gpus`` free."""
        got = self._first.get(gpus)
        if got is None:
            sp = self.space
            # a clean node's free GPUs never drop, so the rows before its first with
            # enough are those with too few: a count down the rows (a dirty node's is
            # replaced below), cheaper than the first True's position per column
            short = np.add.reduce(sp.free < gpus, axis=0, dtype=np.int32)
            got = np.append(sp.times_array(), math.inf)[short]  # every row short: never
            got[self.dirty] = math.inf
            self._first[gpus] = got
        return got

    def one_node(
        self,
        groups: list[int],
        gpus: int,
        limit_s: float,
        ends: npt.NDArray[np.intp],
        lo: int,
        hi: int,
    ) -> tuple[float, Slots] | None:
        """The first start in rows ``[lo, hi)`` at which a node of ``groups`` keeps
        ``gpus`` free over ``limit_s`` (> 0; ``ends``: each start's first row past it), and
        the node (module docstring)."""
        sp = self.space
        if lo >= hi:
            return None
        first = self.first(gpus)
        best: tuple[int, int, npt.NDArray[np.float64]] | None = None  # row, group, low
        for gi in groups:
            local = sp.group_nodes.get(gi)
            if local is None or not len(local):
                continue
            span = sp.span[gi]
            stop = hi if best is None else min(hi, best[0] + 1)  # a later row cannot win
            found = self._group(span, gpus, limit_s, first, ends, lo, stop)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], gi, found[1])
        if best is None:
            return None
        i, gi, low = best
        node = sp.least(low, sp.group_nodes[gi])  # the fewest left, the first on ties
        return sp.times[i], ((node, gpus),)

    def _group(
        self,
        span: slice,
        gpus: int,
        limit_s: float,
        first: npt.NDArray[np.float64],
        ends: npt.NDArray[np.intp],
        lo: int,
        stop: int,
    ) -> tuple[int, npt.NDArray[np.float64]] | None:
        """The first start row in ``[lo, stop)`` at which a node of ``span`` fits, and per
        node of the span the least free GPUs over the window from it (infinity where it
        does not fit)."""
        sp = self.space
        times = sp.times
        soonest = float(first[span].min())
        clean = stop  # the clean nodes' first fitting row, stop if none before it
        if soonest != math.inf:
            clean = min(stop, max(lo, bisect.bisect_left(times, soonest)))
        row = clean
        picked: npt.NDArray[np.intp] | None = None  # the dirty nodes that fit at row
        end = clean + 1 if clean < stop else stop  # starts lo .. end - 1 to try
        if self.dirty and lo < end:
            cols, a, b = self.runs(gpus)
            mine = (cols >= span.start) & (cols < span.stop)
            start = np.maximum(a[mine], times[lo])  # each run's first start from lo
            # the window of a start t reaches the interval beginning at t + limit (nodespace
            # earliest: backfill.c takes node_space records with begin_time <= end_time),
            # so a run ending there is too short
            ok = (start <= times[end - 1]) & (b[mine] > start + limit_s)
            if ok.any():
                t = float(start[ok].min())
                row = bisect.bisect_left(times, t)  # t is an interval start
                picked = cols[mine][ok & (start == t)]
        if row >= stop:
            return None
        n = span.stop - span.start
        low = np.full(n, math.inf)
        t = times[row]
        ok_clean = first[span] <= t
        low[ok_clean] = sp.free[row, span][ok_clean]
        if picked is not None:
            low[picked - span.start] = sp.free[row : int(ends[row])][:, picked].min(axis=0)
        return row, low

    def runs(
        self, gpus: int
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The runs of every dirty node for ``gpus``: node (local position), ``a``, ``b``
        (module docstring), one entry per run; the nodes touched since they were last read
        are read again."""
        runs = self._runs.get(gpus)
        if runs is None:
            runs = self._runs[gpus] = _Runs()
        redo = runs.stale | (set(self.dirty) - runs.read)
        runs.apply_cuts(redo)
        if redo:
            runs.refresh(self.space, gpus, sorted(redo))
        return runs.cols, runs.a, runs.b


class _Runs:
    """The runs of the dirty nodes read for one size, as three flat arrays, with the
    runs of nodes seeded or cut since the last read kept aside until the next."""

    def __init__(self) -> None:
        self.cols: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
        self.a: npt.NDArray[np.float64] = np.empty(0)
        self.b: npt.NDArray[np.float64] = np.empty(0)
        self.read: set[int] = set()
        self.stale: set[int] = set()
        # node -> the spans reservations emptied since its runs were last brought up to date
        self.cuts: dict[int, list[tuple[float, float]]] = {}
        # node -> its runs, known but not yet in the flat arrays
        self.pending: dict[int, list[tuple[float, float]]] = {}

    def seed(self, k: int, runs: list[tuple[float, float]]) -> None:
        """Node ``k``, not read before, has ``runs``."""
        self.pending[k] = runs
        self.read.add(k)

    def cut(self, k: int, emptied: tuple[float, float]) -> None:
        """Node ``k`` has no free GPU from ``emptied[0]`` to ``emptied[1]`` (both
        interval starts): its runs are cut at the next read, unless they are read again
        anyway (stale or never read)."""
        if k in self.stale or k not in self.read:
            return
        if k in self.pending:
            self.pending[k] = _cut(self.pending[k], emptied)
        else:
            self.cuts.setdefault(k, []).append(emptied)

    def apply_cuts(self, redo: set[int]) -> None:
        """Bring the flat arrays up to the seeds and cuts kept for nodes not in ``redo``
        (those are read again)."""
        cuts, pending = self.cuts, self.pending
        self.cuts, self.pending = {}, {}
        add = {k: r for k, r in pending.items() if k not in redo}
        cuts = {k: c for k, c in cuts.items() if k not in redo}
        if cuts:
            keep = np.ones(len(self.cols), dtype=bool)
            for k, spans in cuts.items():
                mine = self.cols == k
                keep &= ~mine
                runs = list(zip(self.a[mine].tolist(), self.b[mine].tolist(), strict=True))
                for span in spans:
                    runs = _cut(runs, span)
                add[k] = runs
            self.cols, self.a, self.b = self.cols[keep], self.a[keep], self.b[keep]
        if add:
            flat = [(k, a, b) for k, runs in add.items() for a, b in runs]
            self.cols = np.concatenate([self.cols, np.array([r[0] for r in flat], np.intp)])
            self.a = np.concatenate([self.a, np.array([r[1] for r in flat], np.float64)])
            self.b = np.concatenate([self.b, np.array([r[2] for r in flat], np.float64)])

    def refresh(self, sp: NodeSpace, gpus: int, redo: list[int]) -> None:
        """Drop the runs of the nodes ``redo`` and read theirs anew from the plan."""
        if self.read & set(redo):  # (redo is a few nodes: a comparison each)
            keep = self.cols != redo[0]
            for k in redo[1:]:
                keep &= self.cols != k
            self.cols, self.a, self.b = self.cols[keep], self.a[keep], self.b[keep]
        idx = np.asarray(redo, dtype=np.intp)
        which, a, b = read_runs(sp, idx, gpus)
        self.cols = np.concatenate([self.cols, idx[which]])
        self.a = np.concatenate([self.a, a])
        self.b = np.concatenate([self.b, b])
        self.read.update(redo)
        self.stale.clear()


def read_runs(
    sp: NodeSpace, cols: npt.NDArray[np.intp], gpus: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The runs of the nodes ``cols`` for ``gpus`` read from the plan (module docstring):
    for each run, the index in ``cols`` of its node, ``a`` and ``b``; by node, then time."""
    enough = (sp.free[:, cols] >= gpus).T  # a row per node
    edge = np.zeros((len(cols), enough.shape[1] + 2), dtype=np.int8)
    edge[:, 1:-1] = enough
    step = edge[:, 1:] - edge[:, :-1]  # +1 where a run starts, -1 one past its end
    which, first = np.nonzero(step == 1)  # by node, then row: the runs in order
    last = np.nonzero(step == -1)[1]
    times = sp.times_array()
    past = np.append(times, math.inf)  # one past the last row: never short again
    return which, times[first], past[last]


Run = tuple[float, float]


def _cut(runs: list[Run], emptied: Run) -> list[Run]:
    """``runs`` of a node that has no free GPU from ``t0`` to ``t1`` (interval starts):
    a run [a, b) keeps [a, min(b, t0)) where a < t0 (the interval at t0 is now short)
    and [max(a, t1), b) where that is not empty (the interval at t1 was in the run, so
    it still has enough)."""
    t0, t1 = emptied
    out: list[Run] = []
    for a, b in runs:
        if a < t0:
            out.append((a, min(b, t0)))
        if max(a, t1) < b:
            out.append((max(a, t1), b))
    return out

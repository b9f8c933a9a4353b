"""The one-node search of :class:`~gpufleet.policies.slurm.nodespace.NodeSpace` without
reading every node's rows: most nodes of a backfill plan hold no planned job.

A node no job of the pass has been planned on or started on ("clean") has, from now on,
only the running jobs' ends in its column, so its free GPUs never drop: a job of g GPUs
fits on it at any interval start from the first one at which it has g free (``first``,
found once per pass and g, one read of the plan), for any limit, and the least free GPUs
over the job's window are those at its start. Only the nodes a planned or started job
has touched ("dirty", usually a few: one per job examined so far) need their rows read,
and only up to the clean nodes' earliest start.

The answer is the dense search's (:meth:`NodeSpace._one_node`): the first start at or
after ``lo`` (before ``hi``) at which a node of one of the groups keeps ``gpus`` free
over the whole window; the first group on ties; in it, the node left with the fewest
free GPUs over the window, the first in the group's order on ties.
tests/policies/test_slurm_backfill_plan.py compares the two on random plans.
"""

from __future__ import annotations

import bisect
import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gpufleet.state.capacity import Slots


class NodeSpace(Protocol):
    """What this module reads of :class:`gpufleet.policies.slurm.nodespace.NodeSpace`
    (which imports this module)."""

    free: npt.NDArray[np.int32]
    times: list[float]
    nodes: list[int]
    group_nodes: dict[int, npt.NDArray[np.intp]]
    span: dict[int, slice]


class CleanNodes:
    """The clean nodes of ``space`` and, per size asked, when each first has that many
    free (infinity for a dirty node or one that never does)."""

    def __init__(self, space: NodeSpace) -> None:
        self.space = space
        self.dirty: list[int] = []  # local positions, sorted
        self._first: dict[int, npt.NDArray[np.float64]] = {}
        # per size, when each node (dirty too) first had that many free as last read: a
        # planned job only takes GPUs, so no node fits such a job earlier
        self._since: dict[int, npt.NDArray[np.float64]] = {}

    def touched(self, k: int) -> None:
        """A planned or started job changed node ``k``'s column."""
        at = bisect.bisect_left(self.dirty, k)
        if at < len(self.dirty) and self.dirty[at] == k:
            return
        self.dirty.insert(at, k)
        for first in self._first.values():
            first[k] = math.inf

    def first(self, gpus: int) -> npt.NDArray[np.float64]:
        """Per node, the first interval start at which a clean node has ``gpus`` free."""
        got = self._first.get(gpus)
        if got is None:
            sp = self.space
            enough = sp.free >= gpus
            row = enough.argmax(axis=0)
            since = np.asarray(sp.times, dtype=np.float64)[row]
            since[~enough.any(axis=0)] = math.inf
            self._since[gpus] = since
            got = since.copy()
            got[self.dirty] = math.inf
            self._first[gpus] = got
        return got

    def one_node(
        self, groups: list[int], gpus: int, ends: npt.NDArray[np.intp], lo: int, hi: int
    ) -> tuple[float, Slots] | None:
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
            found = self._group(span, gpus, first, ends, lo, stop)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], gi, found[1])
        if best is None:
            return None
        i, gi, low = best
        k = int(np.argmin(low))  # the fewest left over the window, the first on ties
        return sp.times[i], ((sp.nodes[int(sp.group_nodes[gi][k])], gpus),)

    def _group(
        self,
        span: slice,
        gpus: int,
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
        a, b = bisect.bisect_left(self.dirty, span.start), bisect.bisect_left(self.dirty, span.stop)
        row = clean
        fits_d: npt.NDArray[np.bool_] | None = None
        end = clean + 1 if clean < stop else stop  # starts lo .. end - 1 to try
        cols = np.asarray(self.dirty[a:b], dtype=np.intp)
        if len(cols) and lo < end:  # only the dirty nodes that had enough free by then
            since = self._since[gpus][cols]
            keep = since <= times[end - 1]
            cols = cols[keep]
            if len(cols):
                lo = max(lo, bisect.bisect_left(times, float(since[keep].min())))
        if len(cols) and lo < end:
            last = int(ends[end - 1])  # ends only grow with the start
            idx = np.arange(lo, last, dtype=np.int32)[:, None]
            short = np.where(sp.free[lo:last][:, cols] >= gpus, last, idx)
            next_short = np.minimum.accumulate(short[::-1], axis=0)[::-1]
            ok = next_short[: end - lo] >= ends[lo:end, None]
            any_row = ok.any(axis=1)
            if any_row.any():
                row = lo + int(np.argmax(any_row))
                fits_d = ok[row - lo]
        if row >= stop:
            return None
        n = span.stop - span.start
        low = np.full(n, math.inf)
        t = times[row]
        ok_clean = first[span] <= t
        low[ok_clean] = sp.free[row, span][ok_clean]
        if fits_d is not None and fits_d.any():
            picked = cols[fits_d]
            low[picked - span.start] = sp.free[row : int(ends[row])][:, picked].min(axis=0)
        return row, low

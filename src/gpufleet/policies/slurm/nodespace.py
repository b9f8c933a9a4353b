"""Free GPUs per node over time, as Slurm's backfill scheduler plans them (``node_space``).

Source: src/plugins/sched/backfill/backfill.c (slurm-22-05-9-1): ``_attempt_backfill``
builds a table of intervals, each with the nodes free through it, from the running jobs'
expected ends; each job it examines either starts now or gets a reservation added to the
table (``_add_reservation``), so later jobs are planned around it. The table holds node
bitmaps: a reservation takes its nodes whole over its window (:meth:`NodeSpace.reserve`),
while the running jobs and those started by the pass hold only their GPUs (the select
plugin's will-run test counts them; ``_bf_reserve_running`` enters only whole-node or
licensed running jobs in the table). Times are rounded down to ``bf_resolution``
(``end_time = (end_time / backfill_resolution) * backfill_resolution``).

Here an interval keeps a list of free GPUs per node of one cohort (``free[i][k]`` for the
cohort's k-th node from ``times[i]`` to ``times[i + 1]``). A job of g GPUs and time limit L
fits at ``times[i]`` if, for the minimum over ``[times[i], times[i] + L)`` of each node's
free GPUs, the gang placement rule of :mod:`gpufleet.state.capacity` finds room on one of
its allowed groups: g on one node when g is at most the largest node, else the nodes'
free GPUs taken largest first with the remainder best fit.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from gpufleet.policies.slurm.cleannodes import CleanNodes
from gpufleet.state.capacity import CapacityIndex, Slots

Row = npt.NDArray[np.int32]
Grid = npt.NDArray[np.int32]  # intervals x nodes (32 bits: half the memory to read)


class NodeSpace:
    """The plan of one cohort's backfill pass; ``times[0]`` is now."""

    def __init__(
        self, cap: CapacityIndex, groups: Iterable[int], now_s: float, resolution_s: float
    ) -> None:
        self.now_s = now_s
        self.res = resolution_s
        self.nodes: list[int] = []
        self.group_nodes: dict[int, npt.NDArray[np.intp]] = {}  # group -> local positions
        self.span: dict[int, slice] = {}
        self.top: dict[int, int] = {}
        placing: list[int] = []  # the nodes in the placement's order
        for gi in groups:
            g = cap.groups[gi]
            first = len(self.nodes)
            members = [n for bucket in g.buckets for n in bucket]
            placing += members
            self.nodes += sorted(members)
            self.group_nodes[gi] = np.arange(first, len(self.nodes), dtype=np.intp)
            self.span[gi] = slice(first, len(self.nodes))  # the same, as a slice
            self.top[gi] = g.max_gpus
        self.pos = {n: k for k, n in enumerate(self.nodes)}
        # rank[k]: the k-th node's place in the placement's order (fewest free GPUs now
        # first, then the longest so: CapacityIndex's buckets), which breaks ties between
        # nodes; the columns themselves are in node order within each group, an order
        # that changes only with the nodes, so the kept grid's columns are the plan's
        self.rank = np.empty(len(self.nodes), dtype=np.intp)
        self.rank[[self.pos[n] for n in placing]] = np.arange(len(placing), dtype=np.intp)
        self.times: list[float] = [now_s]
        self._times: npt.NDArray[np.float64] | None = None  # times as an array, when read
        self._tbuf: npt.NDArray[np.float64] = np.empty(0)  # its buffer (as _buf for free)
        # free[i, k]: free GPUs of the k-th node from times[i] to times[i + 1]; the first
        # rows of a buffer with room to insert rows in place (_split)
        self.free: Grid = np.array([[cap.node_free[n] for n in self.nodes]], dtype=np.int32)
        self._buf: Grid = self.free
        # (kind, *groups) -> (GPUs, limit) -> the latest earliest start found for the jobs
        # planned so far that asked them, kind 1 for jobs that fit one node of every group,
        # 2 for jobs larger than any: within a kind a job fits where one asking more GPUs
        # for longer fits, and the plan only loses free GPUs once the running jobs are
        # entered, so a job asking at least as many GPUs for at least as long cannot start
        # earlier (inf: it fitted nowhere)
        self.memo: dict[tuple[int, ...], dict[tuple[int, float], float]] = {}
        # the one-node search by clean nodes (False: the dense search, the reference)
        self.sparse = True
        self.clean = CleanNodes(self)
        # a planned job holds whole nodes (Slurm's node_space), False: only its GPUs
        self.whole_nodes = True
        # the nodes (local positions) each change touched, each with the time from which a
        # reservation left it no free GPU (None for a started job's change)
        self.changed: list[tuple[int, float | None]] = []
        self._now: tuple[int, int] | None = None  # now_free(), while no change reaches now

    def rounded(self, t: float) -> float:
        """``t`` rounded down to the resolution, and after now (an overdue job's GPUs are
        planned free one resolution step from now)."""
        r = (t // self.res) * self.res
        return r if r > self.now_s else self.now_s + self.res

    def times_array(self) -> npt.NDArray[np.float64]:
        """``times`` as an array (kept beside the list as intervals are split)."""
        if self._times is None:
            self._times = self._tbuf = np.array(self.times)
        return self._times

    def free_now(self) -> int:
        return self.now_free()[1]

    def now_free(self) -> tuple[int, int]:
        """The most GPUs free now on one node, and in all; kept until a change reaches
        now (a job started), as a pass asks before every job it examines."""
        if self._now is None:
            row = self.free[0]
            self._now = (int(row.max(initial=0)), int(row.sum()))
        return self._now

    def _split(self, t: float) -> int:
        """The index of the interval starting at ``t``, splitting one if needed."""
        i = bisect.bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            return i
        self.times.insert(i, t)
        if self._times is not None:  # the array too, in place in a buffer with room
            n, tb = len(self._times), self._tbuf
            if n == len(tb):
                tb = np.empty(2 * n + 1)
                tb[:n] = self._times
                self._tbuf = tb
            tb[i + 1 : n + 1] = tb[i:n]
            tb[i] = t
            self._times = tb[: n + 1]
        rows, buf = len(self.free), self._buf
        if rows == len(buf):  # full: a buffer twice as tall
            buf = np.empty((2 * rows, buf.shape[1]), dtype=buf.dtype)
            buf[:rows] = self.free
            self._buf = buf
        buf[i + 1 : rows + 1] = buf[i:rows]  # (numpy copies overlapping slices as if apart)
        buf[i] = buf[i - 1]
        self.free = buf[: rows + 1]
        return i

    def change(self, slots: Slots, start: float, end: float | None, sign: int) -> None:
        """Add ``sign`` times the slots' GPUs to every interval in ``[start, end)``."""
        i = self._split(start)
        j = len(self.times) if end is None else self._split(end)
        if i == 0:
            self._now = None
        for node, n in slots:
            k = self.pos.get(node)
            if k is not None:
                self.free[i:j, k] += sign * n
                self.clean.touched(k)
                self.changed.append((k, None))

    def release_all(self, ends: list[tuple[float, Slots]]) -> None:
        """The running jobs' GPUs come free at their (rounded, later than now) expected
        ends; called once, before any job is planned (the memo of :meth:`earliest`
        relies on it). Built in one step: a row per distinct end, cumulative."""
        if not ends:
            return
        stamps = sorted({t for t, _ in ends})
        at = {t: i for i, t in enumerate(stamps)}
        delta = np.zeros((len(stamps), len(self.nodes)), dtype=np.int64)
        for t, slots in ends:
            for node, n in slots:
                k = self.pos.get(node)
                if k is not None:
                    delta[at[t], k] += n
        self.times = [self.now_s, *stamps]
        self._times = None
        grid = np.vstack([self.free[:1], self.free[0] + np.cumsum(delta, axis=0)])
        self.free = self._buf = grid.astype(np.int32)
        self.clean = CleanNodes(self)

    def load(self, times: list[float], grid: Grid) -> None:
        """The plan :meth:`release_all` builds, given whole: ``times`` after now and
        ``grid`` (a row for now, then one per time; :class:`~gpufleet.policies.slurm.
        keptgrid.KeptGrid` keeps it between passes)."""
        self.times = [self.now_s, *times]
        self._times = None
        self.free = self._buf = grid
        self.clean = CleanNodes(self)

    def take(self, slots: Slots, start: float, end: float) -> None:
        """A job started now holds the slots' GPUs over ``[start, end)``."""
        self.change(slots, start, end, -1)

    def reserve(self, slots: Slots, start: float, end: float) -> None:
        """A job planned to start later holds its nodes over ``[start, end)``: every GPU of
        each node it would use, with :attr:`whole_nodes` (Slurm's rule: backfill.c
        ``_attempt_backfill`` passes the job's node bitmap to ``_add_reservation``, which
        clears those nodes from ``node_space[].avail_bitmap`` for the window, and a later
        job may only use nodes available through its whole window), else only its GPUs."""
        if not self.whole_nodes:
            self.take(slots, start, end)
            return
        i, j = self._split(start), self._split(end)
        if i == 0:
            self._now = None
        for node, _ in slots:
            k = self.pos.get(node)
            if k is not None:
                np.minimum(self.free[i:j, k], 0, out=self.free[i:j, k])
                self.clean.touched(k, (start, end))
                self.changed.append((k, start))

    def earliest(
        self, groups: list[int], gpus: int, limit_s: float, window_s: float
    ) -> tuple[float, Slots] | None:
        """The first interval start (within the window) at which the job fits for its
        whole limit, and where; None if it fits nowhere in the window. The window of a
        start t covers the intervals beginning at or before t + limit: backfill.c
        ``_attempt_backfill`` takes a ``node_space`` record into a job's nodes when
        ``node_space[j].begin_time <= end_time`` (end_time = start + time limit), so a
        job that would end just as a reservation begins does not fit there."""
        tops = [self.top.get(gi, 0) for gi in groups]
        kind = 1 if gpus <= min(tops) else 2 if gpus > max(tops) else 0
        seen = self.memo.setdefault((kind, *groups), {}) if kind else {}
        lower = max(
            (t for (g, lim), t in seen.items() if g <= gpus and lim <= limit_s),
            default=self.now_s,
        )
        got: tuple[float, Slots] | None = None
        if lower != math.inf:
            times = self.times_array()
            lo = bisect.bisect_left(self.times, lower)
            hi = bisect.bisect_right(self.times, self.now_s + window_s)
            ends = np.searchsorted(times, times + limit_s, side="right")
            if kind == 1 and self.sparse and limit_s > 0:
                got = self.clean.one_node(groups, gpus, limit_s, ends, lo, hi)
            elif kind == 1:
                got = self._one_node(groups, gpus, ends, lo, hi)
            else:
                got = self._scan(groups, gpus, ends, lo, hi)
        if kind:
            self._note(seen, gpus, limit_s, got)
        return got

    def noted(self, groups: list[int], gpus: int, limit_s: float, start: float) -> None:
        """What :meth:`earliest` keeps of a job for one node of every group that starts at
        ``start``, for a search that did not run (carried.py found its answer)."""
        self._note(self.memo.setdefault((1, *groups), {}), gpus, limit_s, (start, ()))

    @staticmethod
    def _note(
        seen: dict[tuple[int, float], float],
        gpus: int,
        limit_s: float,
        got: tuple[float, Slots] | None,
    ) -> None:
        found = math.inf if got is None else got[0]
        asked = (gpus, limit_s)
        seen[asked] = max(seen.get(asked, -math.inf), found)

    def _one_node(
        self, groups: list[int], gpus: int, ends: npt.NDArray[np.intp], lo: int, hi: int
    ) -> tuple[float, Slots] | None:
        """A job for one node: per node, the first start from which it keeps ``gpus`` free
        until the job's end, all nodes of a group at once; the earliest start wins, the
        first group on ties, then the node left with the fewest free GPUs over the window
        (the first in the placement's order, :attr:`rank`, on ties).
        Starts are tried in chunks of growing size, so a job that fits early reads only
        the rows its first windows cover; the first start alone first (one minimum per
        node over its window: most jobs examined either fit there or wait long)."""
        if lo < hi and int(ends[lo]) > lo:
            rows = self.free[lo : int(ends[lo])]
            for gi in groups:
                local = self.group_nodes.get(gi)
                if local is None or not len(local):
                    continue
                low = rows[:, self.span[gi]].min(axis=0)
                cand = np.flatnonzero(low >= gpus)
                if len(cand):  # the earliest start; the first group on ties
                    node = self.least(low[cand], local[cand])
                    return self.times[lo], ((node, gpus),)
            lo += 1
        size = 16
        while lo < hi:
            stop = min(hi, lo + size)
            got = self._one_node_rows(groups, gpus, ends, lo, stop)
            if got is not None:
                return got
            lo, size = stop, size * 2
        return None

    def _one_node_rows(
        self, groups: list[int], gpus: int, ends: npt.NDArray[np.intp], lo: int, hi: int
    ) -> tuple[float, Slots] | None:
        """:meth:`_one_node` for starts ``lo .. hi - 1``: the rows up to the last of their
        ends, each row's next too-small row by a reversed running minimum."""
        last = int(ends[lo:hi].max())
        idx = np.arange(lo, last, dtype=np.int32)[:, None]
        best: tuple[int, npt.NDArray[np.intp], npt.NDArray[np.bool_]] | None = None
        for gi in groups:
            local = self.group_nodes.get(gi)
            if local is None or not len(local):
                continue
            short = np.where(self.free[lo:last, self.span[gi]] >= gpus, last, idx)
            next_short = np.minimum.accumulate(short[::-1], axis=0)[::-1]
            ok = next_short[: hi - lo] >= ends[lo:hi, None]
            any_row = ok.any(axis=1)
            if not any_row.any():
                continue
            i = lo + int(np.argmax(any_row))
            if best is None or i < best[0]:
                best = (i, local, ok[i - lo])
        if best is None:
            return None
        i, local, fits = best
        low = self.free[i : int(ends[i]), local[0] : local[-1] + 1].min(axis=0)
        cand = np.flatnonzero(fits)
        return self.times[i], ((self.least(low[cand], local[cand]), gpus),)

    def _scan(
        self, groups: list[int], gpus: int, ends: npt.NDArray[np.intp], lo: int, hi: int
    ) -> tuple[float, Slots] | None:
        """A job larger than some node: each start in turn, the nodes' least free GPUs
        over the job's window, then the gang rule."""
        for i in range(lo, hi):
            if i > 0 and not bool((self.free[i] > self.free[i - 1]).any()):
                continue  # nothing came free here: it fits no better than before
            low = self.free[i : int(ends[i])].min(axis=0)
            for gi in groups:
                local = self.group_nodes.get(gi)
                if local is None or not len(local):
                    continue
                slots = self._fit(low[local], local, gpus, self.top[gi])
                if slots is not None:
                    return self.times[i], slots
        return None

    def _fit(self, avail: Row, local: npt.NDArray[np.intp], gpus: int, top: int) -> Slots | None:
        if gpus <= top:
            ok = np.flatnonzero(avail >= gpus)
            if not len(ok):
                return None
            return ((self.least(avail[ok], local[ok]), gpus),)
        if int(avail.sum()) < gpus:
            return None
        order = np.argsort(self.rank[local], kind="stable")  # the placement's order
        ranked = zip(local[order].tolist(), avail[order].tolist(), strict=True)
        pairs = [(self.nodes[n], f) for n, f in ranked]
        return fit(pairs, gpus, top)

    def least(self, values: npt.NDArray[Any], local: npt.NDArray[np.intp]) -> int:
        """The node (not its position) of ``local`` with the least of ``values``, the
        first in the placement's order (:attr:`rank`) on ties."""
        tied = local[values == values.min()]
        k = tied[0] if len(tied) == 1 else tied[int(np.argmin(self.rank[tied]))]
        return self.nodes[int(k)]


def fit(avail: list[tuple[int, int]], gpus: int, top: int) -> Slots | None:
    """Gang slots for ``gpus`` on nodes with ``avail`` free GPUs: on one node (the one left
    with the fewest, earliest on ties) when ``gpus <= top``, else the largest first and the
    remainder best fit (the rule of ``CapacityIndex.fit``)."""
    if gpus <= top:
        best: tuple[int, int] | None = None
        for node, f in avail:
            if f >= gpus and (best is None or f < best[1]):
                best = (node, f)
        return None if best is None else ((best[0], gpus),)
    if sum(f for _, f in avail) < gpus:
        return None
    order = sorted((x for x in avail if x[1] > 0), key=lambda x: -x[1])
    chosen: list[tuple[int, int]] = []
    rem = gpus
    for k, (node, f) in enumerate(order):
        if rem <= f:
            rest = [x for x in order[k:] if x[1] >= rem]
            pick = min(rest, key=lambda x: x[1])
            chosen.append((pick[0], rem))
            return tuple(chosen)
        chosen.append((node, f))
        rem -= f
    return None

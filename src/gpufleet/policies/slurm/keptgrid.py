"""The planning backfill's starting plan, kept from one pass to the next.

Each pass of :class:`gpufleet.policies.slurm.plan.SlurmBackfill` starts from the free GPUs
per node over time that the running jobs leave: their GPUs come free at their expected
ends rounded down to ``bf_resolution`` (:meth:`NodeSpace.release_all`, the reference).
Taking every running job's end anew and summing them into a grid cost most of a pass at
5,000 running jobs (bench/forecast_bench.py at 10,000 pending: 90 of 170 ms). Here the
sums are kept instead: :class:`KeptGrid` holds, per rounded end (a *stamp*) and per node,
the GPUs that the running jobs ending at or before it give back, and brings them up to
date with the jobs started and stopped since the last pass
(:class:`~gpufleet.policies.slurm.keptruns.KeptRuns`), one column per start or stop.

A pass then reads its plan from the kept sums (:meth:`KeptGrid.load`): for each stamp
after now, the GPUs free now plus what the jobs ending after now and by that stamp give
back, in the pass's node order; then the few ends the kept sums place otherwise than the
reference, each one column:

- a running job whose rounded end is not after now (overdue by less than the resolution)
  comes free at ``now + resolution`` (:meth:`NodeSpace.rounded`);
- a job the pass's main scheduler started this cycle comes free at its rounded end;
- a job this cycle stopped tentatively (QOS preemption) is free already: its end is taken
  back, and a stamp only such jobs held is no row of the plan.

So the plan is the reference's, row for row (tests/policies/test_slurm_kept_grid.py
compares them at every pass of seeded runs).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gpufleet.policies.slurm.keptruns import KeptRuns, LimitOf, Run
from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.state.capacity import Slots
from gpufleet.state.jobs import ProgramState

Grid = npt.NDArray[np.int32]


class KeptGrid(KeptRuns):
    """Cumulative GPUs given back per stamp and node by a cohort's running jobs."""

    def __init__(self, resolution_s: float) -> None:
        super().__init__()
        self.res = resolution_s
        self.stamps: list[float] = []  # sorted, each the rounded end of some running job
        self.at: dict[float, set[int]] = {}  # stamp -> the running jobs ending at it
        self.col: dict[int, int] = {}  # node -> column
        self.order: list[int] = []  # the nodes of the first columns, in order
        # rows: the first len(stamps) rows of a buffer with room to insert rows; row i,
        # column c: GPUs of node c given back by the running jobs with stamps <= stamps[i]
        self._buf: Grid = np.zeros((0, 0), dtype=np.int32)
        # the nodes whose ends changed since the last pass read them (take_moved): jobs
        # started or stopped, ends load placed otherwise; None: since a build, not known
        self.moved: set[int] | None = None

    @classmethod
    def of(
        cls,
        programs: list[ProgramState],
        limit_s: LimitOf,
        resolution_s: float,
        order: list[int] | None = None,
    ) -> KeptGrid:
        """Built from the programs' running jobs, with a column per node of ``order``
        first, in that order (the plan's: a pass then reads its rows whole)."""
        kept = cls(resolution_s)
        kept.order = list(order or ())
        kept.col = {node: c for c, node in enumerate(kept.order)}
        kept.fill(programs, limit_s)
        kept._build()
        return kept

    @property
    def sums(self) -> Grid:
        return self._buf[: len(self.stamps)]

    def stamp(self, end: float) -> float:
        """``end`` rounded down to the resolution (not yet moved after now)."""
        return (end // self.res) * self.res

    # --- kept up to date -------------------------------------------------------------
    def _build(self) -> None:
        for jid, (end, slots, _) in self.runs.items():
            self.at.setdefault(self.stamp(end), set()).add(jid)
            for node, _n in slots:
                self.col.setdefault(node, len(self.col))
        self.stamps = sorted(self.at)
        row = {t: i for i, t in enumerate(self.stamps)}
        rows, cols, gpus = [], [], []
        for end, slots, _ in self.runs.values():
            for node, n in slots:
                rows.append(row[self.stamp(end)])
                cols.append(self.col[node])
                gpus.append(n)
        delta = np.zeros((len(self.stamps), len(self.col)), dtype=np.int32)
        np.add.at(delta, (np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)), gpus)
        self._buf = np.cumsum(delta, axis=0, dtype=np.int32)

    def take_moved(self) -> set[int] | None:
        """The nodes whose ends changed since the last call (None: the grid was built
        since, so it cannot say); carried.py reads them once per pass."""
        moved, self.moved = self.moved, set()
        return moved

    def _moved(self, slots: Slots) -> None:
        if self.moved is not None:
            self.moved.update(node for node, _ in slots)

    def _taken(self, jid: int, run: Run) -> None:
        self._moved(run[1])
        t = self.stamp(run[0])
        i = bisect.bisect_left(self.stamps, t)
        if i == len(self.stamps) or self.stamps[i] != t:
            self._insert(i, t)
        self.at[t].add(jid)
        self._add(run[1], i, +1)

    def _dropped(self, jid: int, run: Run) -> None:
        self._moved(run[1])
        t = self.stamp(run[0])
        i = bisect.bisect_left(self.stamps, t)
        self._add(run[1], i, -1)
        jobs = self.at[t]
        jobs.discard(jid)
        if not jobs:  # its row now equals the one before: no stamp any more
            del self.at[t]
            self._delete(i)

    def _add(self, slots: Slots, i: int, sign: int) -> None:
        for node, n in slots:
            c = self.col.get(node)
            if c is None:
                c = self._column(node)
            self._buf[i : len(self.stamps), c] += sign * n

    def _column(self, node: int) -> int:
        self._columns([node])
        return self.col[node]

    def _columns(self, nodes: list[int]) -> None:
        """Columns of zeros for ``nodes``, all in one widening."""
        buf, c = self._buf, len(self.col)
        for node in nodes:
            self.col[node] = len(self.col)
        wider = np.zeros((buf.shape[0], len(self.col)), dtype=np.int32)
        wider[:, :c] = buf
        self._buf = wider

    def _insert(self, i: int, t: float) -> None:
        rows, buf = len(self.stamps), self._buf
        if rows == buf.shape[0]:  # full: a buffer twice as tall
            buf = np.zeros((2 * rows + 1, buf.shape[1]), dtype=np.int32)
            buf[:rows] = self._buf[:rows]
            self._buf = buf
        buf[i + 1 : rows + 1] = buf[i:rows]  # (numpy copies overlapping slices as if apart)
        buf[i] = buf[i - 1] if i > 0 else 0
        self.stamps.insert(i, t)
        self.at[t] = set()

    def _delete(self, i: int) -> None:
        rows, buf = len(self.stamps), self._buf
        buf[i : rows - 1] = buf[i + 1 : rows]
        del self.stamps[i]

    # --- read by a pass --------------------------------------------------------------
    def load(
        self,
        space: NodeSpace,
        limit_of_fresh: Sequence[tuple[float, Slots]],
        stopped: set[int],
    ) -> None:
        """Set ``space``'s plan to the running jobs' ends (the module docstring): the kept
        runs, less ``stopped``, plus ``limit_of_fresh`` (the limit and slots of each job
        this cycle's main pass started, ending at ``now + limit``)."""
        now, res = space.now_s, self.res
        stamps = self.stamps
        a = bisect.bisect_right(stamps, now)  # stamps[:a]: overdue runs' ends
        fix: list[tuple[float, Slots, int]] = []  # (rounded end, slots, +1 or -1)
        held = stamps[a:]
        for t in stamps[:a]:
            for jid in self.at[t]:
                if jid not in stopped:
                    fix.append((now + res, self.runs[jid][1], +1))
        for limit, slots in limit_of_fresh:
            fix.append((space.rounded(now + limit), slots, +1))
        gone = stopped & self.runs.keys()
        if gone:
            for jid in gone:
                end, slots, _ = self.runs[jid]
                if self.stamp(end) > now:
                    fix.append((self.stamp(end), slots, -1))
            held = [t for t in held if not self.at[t] <= gone]  # a stamp only they held
        for _, slots, _ in fix:
            self._moved(slots)
        times = sorted({*held, *(t for t, _, sign in fix if sign > 0)})
        if not times:
            return
        missing = [n for n in space.nodes if n not in self.col]
        if missing:  # nodes no running job has held yet: nothing comes back to them
            self._columns(missing)
        src = np.searchsorted(np.array(stamps), np.array(times), side="right") - 1
        none_yet = src < 0  # times before every stamp: nothing given back by then
        src[none_yet] = 0
        sums = self.sums
        grid = np.empty((len(times) + 1, len(space.nodes)), dtype=np.int32)
        grid[0] = space.free[0]
        if len(sums):
            # row i: free now, plus what came back by times[i - 1], less what came back
            # by now (overdue ends: fixed below)
            before = sums[a - 1] if a > 0 else np.zeros(sums.shape[1], dtype=np.int32)
            if self.order == space.nodes:  # the columns are the plan's: rows read whole
                np.take(sums[:, : len(self.order)], src, axis=0, out=grid[1:])
                offset = grid[0] - before[: len(self.order)]
            else:  # each column moved to the plan's
                col = self.col
                cols = np.fromiter(
                    (col[n] for n in space.nodes), dtype=np.intp, count=len(space.nodes)
                )
                np.take(sums.take(src, axis=0), cols, axis=1, out=grid[1:])
                offset = grid[0] - before[cols]
            grid[1:] += offset
            if none_yet.any():
                grid[1:][none_yet] = grid[0]
        else:  # no running job: only this cycle's starts
            grid[1:] = grid[0]
        for t, slots, sign in fix:
            i = 1 + bisect.bisect_left(times, t)
            for node, n in slots:
                k = space.pos.get(node)
                if k is not None:
                    grid[i:, k] += sign * n
        space.load(times, grid)

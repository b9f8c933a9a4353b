"""The exact early exit of Slurm's planning backfill pass (:mod:`gpufleet.policies.slurm.plan`).

A pass has three kinds of effect: the jobs it starts now, the reasons it gives, and the
start it plans for every other job it examines (``reserved_start_s``; the cohort's first
planned start is its reservation, shown by ``explain``). The plan (a
:class:`~gpufleet.policies.slurm.nodespace.NodeSpace`) only ever loses free GPUs while the
pass goes on: each job planned or started takes GPUs over its window, none are given back.
So a job that does not fit now in the plan as it stands at job i cannot fit now later in
the pass either. :class:`Soon` says whether any job from the i-th on could still fit now;
when none can, the pass starts nothing more, and the rest of its work is:

- reasons, which do not read the plan (a job's limits, else whether the placement rule
  finds it room now: ``HELD_FOR_BACKFILL`` or the placement's reason), given at once;
- plans, which no start depends on any more: :class:`Rest` makes them, in the pass's
  order on the pass's own plan, only when one is asked for.

The test is a necessary condition of fitting now, so it may answer "could" for a job that
cannot (the pass then goes on as before), never the reverse: a job of g GPUs on one node
fits now only if some node keeps g GPUs free from now until now + its limit, one larger
than a node (a gang) only if the free GPUs now add up to g. The shortest limit among the
remaining jobs of each size is kept as a suffix minimum. Per size, each node's first
interval start with fewer than g free (its "short" time) is read from the plan once per
pass, and then only for the nodes a change touched (:attr:`NodeSpace.changed`): a planned
or started job only lowers a node's free GPUs, splitting an interval moves no node's short
time, so the test costs one maximum over the nodes per distinct size. A reservation (most
changes) leaves its node no free GPU from its start t on, so that node's short time becomes
the earlier of its own and t, with no read of the plan (a t past ``until`` reads as
infinity would: no job tested ends after ``until``); only a started job's node is read again.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
import numpy.typing as npt

from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.state.jobs import Job


class Soon:
    """Whether some job of ``jobs`` from the i-th on could still start now in ``space``."""

    def __init__(self, jobs: list[Job], limits: list[float], space: NodeSpace) -> None:
        self.space = space
        self.min_top = min(space.top.values(), default=0)
        n = len(jobs)
        # size -> suffix minimum of the limits of the jobs of that size (one more: inf)
        self.shortest: dict[int, list[float]] = {}
        sizes = np.fromiter((j.spec.gpus for j in jobs), dtype=np.int64, count=n)
        lim = np.asarray(limits, dtype=np.float64)
        for g in np.unique(sizes).tolist():
            mine = np.append(np.where(sizes == g, lim, math.inf), math.inf)
            self.shortest[g] = np.minimum.accumulate(mine[::-1])[::-1].tolist()
        self.longest = max(limits, default=0.0)
        self.until = space.now_s + self.longest
        # size -> per node, its short time (module docstring): now for a node without g
        # free now, infinity for one that keeps them through the interval after ``until``
        self._short: dict[int, npt.NDArray[np.float64]] = {}
        # size -> the latest short time over the nodes and a node that has it (short
        # times only drop, so the maximum holds until a change reaches that node)
        self._best: dict[int, tuple[float, int]] = {}
        self._read = len(space.changed)  # the changes already taken into account

    def any_from(self, i: int) -> bool:
        space = self.space
        now = space.now_s
        total = -1
        self._catch_up()
        for g, run in self.shortest.items():
            limit = run[i]
            if limit == math.inf:
                continue
            if limit <= 0:
                return True  # an empty window: left to the full search
            if g > self.min_top:  # a gang on some group: the free GPUs now must add up
                if total < 0:
                    total = space.free_now()
                if total >= g:
                    return True
            # a one-node job of limit L fits now on a node only if its short time is at
            # least now + L (its window's rows are those starting before now + L)
            if now + limit <= self._latest(g):
                return True
        return False

    def _latest(self, g: int) -> float:
        """The latest short time of size ``g`` over the nodes (now if there are none)."""
        best = self._best.get(g)
        if best is None:
            short = self._short_times(g)
            if not len(short):
                return self.space.now_s
            k = int(short.argmax())
            best = self._best[g] = (float(short[k]), k)
        return best[0]

    def _short_times(self, g: int) -> npt.NDArray[np.float64]:
        got = self._short.get(g)
        if got is None:
            got = self._short[g] = np.full(len(self.space.nodes), float(self.space.now_s))
            cols = np.flatnonzero(self.space.free[0] >= g)
            if len(cols):
                got[cols] = self._read_short(g, cols)
        return got

    def _catch_up(self) -> None:
        """Bring the short times up to the changes since the last test: a node a
        reservation emptied from t on is short from t at the latest (``min``), one a
        started job changed is read again from the plan."""
        changed = self.space.changed
        if self._read == len(changed) or not self._short:
            self._read = len(changed)
            return
        new = changed[self._read :]
        self._read = len(changed)
        reread = {k for k, at in new if at is None}
        emptied: dict[int, float] = {}
        for k, at in new:
            if at is not None and k not in reread:
                emptied[k] = min(at, emptied.get(k, math.inf))
        best = self._best
        if emptied:
            ks = np.fromiter(emptied.keys(), dtype=np.intp, count=len(emptied))
            for g, short in self._short.items():
                if g >= 1:  # no GPU free is fewer than g
                    for k, at in emptied.items():
                        if at < short[k]:
                            short[k] = at
                else:
                    short[ks] = self._read_short(g, ks)
                if g in best and best[g][1] in emptied:
                    del best[g]
        if reread:
            cols = np.fromiter(reread, dtype=np.intp, count=len(reread))
            for g, short in self._short.items():
                short[cols] = self._read_short(g, cols)
                if g in best and best[g][1] in reread:
                    del best[g]

    def _read_short(self, g: int, cols: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """The short times of nodes ``cols`` for size ``g``, from the plan's rows up to the
        first interval starting after ``until`` (a later short time reads as infinity: no
        job tested here ends after ``until``)."""
        space = self.space
        times = space.times
        rows = min(len(times), bisect.bisect_right(times, self.until) + 1)
        short = space.free[:rows, cols] < g
        first = short.argmax(axis=0)
        out: npt.NDArray[np.float64] = space.times_array()[first]
        out[~short.any(axis=0)] = math.inf
        return out


class Rest:
    """The jobs a pass left unplanned at its early exit, each with its allowed groups and
    limit, planned in the pass's order on its plan as :meth:`plan_to` asks."""

    def __init__(
        self, space: NodeSpace, todo: list[tuple[Job, list[int], float]], window_s: float
    ) -> None:
        self.space, self.todo, self.window_s = space, todo, window_s
        self.done = 0

    def plan_to(self, job_id: int, planned: dict[int, float]) -> None:
        """Plan the jobs up to ``job_id`` (all if it is not among them) into ``planned``."""
        space = self.space
        while self.done < len(self.todo):
            job, groups, limit = self.todo[self.done]
            self.done += 1
            got = space.earliest(groups, job.spec.gpus, limit, self.window_s)
            if got is not None:
                start, slots = got
                assert start != space.now_s, "the early exit let a job that fits now go"
                space.reserve(slots, start, space.rounded(start + limit))
                planned[job.spec.id] = start
            if job.spec.id == job_id:
                return

"""Themis's waiting jobs as columns, kept between cycles: rho for all of them in one pass.

Themis ranks every pending job by its finish-time fairness rho at each cycle, and rho
moves with time (``now`` is in it), so no order can be kept from one cycle to the next.
What does stay fixed while a job waits is everything else in the formula: its submit
time, remaining work, fastest allowed speed and ``T_independent``. So those are kept per
cohort in NumPy columns (a job's row written once, when it is first seen waiting, and
dropped when it leaves: swap-remove), and each cycle computes rho for all rows and sorts
them in compiled code, instead of a Python step per pending job.

The arithmetic is the formula's, in the same order, on float64 (IEEE, as Python's float):
``((now - submit) + remaining / s_max) / t_ind`` with ``t_ind = work / s_max``, and inf
where ``t_ind`` is 0; so the rho, and the order by ``(-rho, submit, id)``, are those of the
per-job loop. Rows stay valid while a job waits for the reason :mod:`PendingOrder
<gpufleet.policies.pending_order>` gives: the policy drops each job it admits, so a job
that starts and is requeued between two looks comes back as a new row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from gpufleet.policies.pending_order import joined
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job

_Floats = npt.NDArray[np.float64]
_Ints = npt.NDArray[np.int64]


class RhoColumns:
    """One cohort's waiting jobs: rows ``0 .. n-1`` of the columns, ``jobs[i]`` row i's."""

    __slots__ = ("ids", "jobs", "n", "remaining", "row", "s_max", "submit", "t_ind")

    def __init__(self, capacity: int = 64) -> None:
        self.n = 0
        self.submit: _Floats = np.empty(capacity)
        self.remaining: _Floats = np.empty(capacity)
        self.s_max: _Floats = np.empty(capacity)
        self.t_ind: _Floats = np.empty(capacity)
        self.ids: _Ints = np.empty(capacity, dtype=np.int64)
        self.jobs: list[Job] = []
        self.row: dict[int, int] = {}

    def sync(self, cohort: CohortState, fastest: Callable[[Job], float]) -> None:
        """Rows for the jobs that joined ``cohort``'s queue, none for those that left."""
        queue, row = cohort.queue, self.row
        new = joined(queue, row)
        if new is None:  # not as ``joined`` expects: set differences
            for jid in row.keys() - queue.keys():
                self.drop(jid)
            new = [jid for jid in queue if jid not in row]
        for jid in new:
            job = queue[jid]
            self._add(job, fastest(job))

    def _add(self, job: Job, s_max: float) -> None:
        i = self.n
        if i == len(self.ids):
            self._grow()
        s = job.spec
        self.submit[i] = s.submit_s
        self.remaining[i] = job.remaining_s
        self.s_max[i] = s_max
        self.t_ind[i] = s.work_s / s_max
        self.ids[i] = s.id
        self.jobs.append(job)
        self.row[s.id] = i
        self.n = i + 1

    def drop(self, jid: int) -> None:
        """The job's row out (the last row moves into its place); nothing if it has none."""
        i = self.row.pop(jid, None)
        if i is None:
            return
        last = self.n - 1
        if i != last:
            for col in (self.submit, self.remaining, self.s_max, self.t_ind, self.ids):
                col[i] = col[last]
            moved = self.jobs[i] = self.jobs[last]
            self.row[moved.spec.id] = i
        self.jobs.pop()
        self.n = last

    def _grow(self) -> None:
        cap = 2 * len(self.ids)
        for name in ("submit", "remaining", "s_max", "t_ind", "ids"):
            old = getattr(self, name)
            new = np.empty(cap, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def rho(self, now_s: float) -> _Floats:
        """Every row's rho at ``now_s`` (Themis.rho for a waiting job, row by row)."""
        n = self.n
        t_ind = self.t_ind[:n]
        t_shared = (now_s - self.submit[:n]) + self.remaining[:n] / self.s_max[:n]
        out = np.full(n, np.inf)
        np.divide(t_shared, t_ind, out=out, where=t_ind > 0)
        return out

    def by_rho(self, now_s: float) -> _Ints:
        """Rows by rho, highest first, then submit time, then id."""
        n = self.n
        order: _Ints = np.lexsort((self.ids[:n], self.submit[:n], -self.rho(now_s)))
        return order

    def by_submit(self, rows: _Ints) -> _Ints:
        """``rows`` in submit order (then id)."""
        order: _Ints = rows[np.lexsort((self.ids[rows], self.submit[rows]))]
        return order

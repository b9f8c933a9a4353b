"""An event-driven fluid simulator: between two events (an arrival or a completion) every
job runs at the constant rate ``sum_t X[j,t] * thr[j,t]`` steps/s, so completion times are
exact; the policy re-allocates at every event.

This is not how Gavel runs: Gavel realises ``X`` with 6-minute (360 s) rounds, leases and
priorities, and recomputes ``X`` only on an arrival or completion at least 1,920 s after the
last recompute, so a new job waits about 1,000 s for its first round. Differences of that
order per job are expected; the fluid model is the limit of Gavel's rounds as the round
length and the recompute gap go to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.errors import InternalError
from gpufleet.labs.gavel.lp import FloatArray
from gpufleet.labs.gavel.policies import ActiveView, AllocationPolicy
from gpufleet.labs.gavel.workload import HeteroWorkload

#: A job whose remaining work is below this share of its total is done (float round-off).
DONE_REL_TOL = 1e-9


@dataclass(frozen=True)
class FluidResult:
    """``finish_s[i]`` is NaN for jobs not finished when the run stopped."""

    finish_s: FloatArray
    jct_s: FloatArray
    allocations: int  # policy calls
    end_s: float


def simulate_fluid(
    workload: HeteroWorkload,
    policy: AllocationPolicy,
    gpus_per_type: npt.ArrayLike,
    must_finish: npt.NDArray[np.int64] | None = None,
) -> FluidResult:
    """Run ``workload`` until every job in ``must_finish`` (default: all) has finished."""
    cap = np.asarray(gpus_per_type, dtype=np.float64)
    n = workload.n_jobs
    finish = np.full(n, np.nan)
    watched = np.zeros(n, dtype=bool)
    watched[np.arange(n) if must_finish is None else must_finish] = True
    left = int(watched.sum())  # watched jobs not finished yet
    act = _Active.empty(cap.size)
    t, nxt, calls = 0.0, 0, 0
    while left > 0:
        # 1. the next event: the earliest completion at current rates, or the next arrival
        rates = (act.x * act.thr).sum(axis=1)
        to_done = np.divide(act.left, rates, out=np.full(rates.size, np.inf), where=rates > 0)
        first = int(np.argmin(to_done)) if rates.size else -1
        dt = float(to_done[first]) if rates.size else np.inf
        t_arr = float(workload.arrival_s[nxt]) if nxt < n else np.inf
        if dt == np.inf and t_arr == np.inf:
            raise InternalError(f"fluid simulation stalled at t={t:.3f} s with jobs left")
        # 2. advance: every active job runs at its rate until the event
        completion = t + dt <= t_arr
        t_next = t + dt if completion else t_arr
        act.left -= rates * (t_next - t)
        t = t_next
        # 3. completions leave, arrivals join
        done = act.left <= DONE_REL_TOL * act.total
        if completion:
            done[first] = True
        if done.any():
            gone = act.ids[done]
            finish[gone] = t
            left -= int(watched[gone].sum())
            act = act.keep(~done)
        start = nxt
        while nxt < n and workload.arrival_s[nxt] <= t:
            nxt += 1
        if nxt > start:
            act = act.join(workload, start, nxt)
        # 4. re-allocate on the new set of jobs
        if act.ids.size:
            view = ActiveView(act.cls, act.x, workload.class_thr_steps_per_s, cap)
            act.x = np.asarray(policy.allocate(view), dtype=np.float64)
            calls += 1
    return FluidResult(finish, finish - workload.arrival_s, calls, t)


@dataclass
class _Active:
    """The active jobs in arrival order, one row each (kept compact, not job-indexed)."""

    ids: npt.NDArray[np.int64]
    cls: npt.NDArray[np.int64]
    thr: FloatArray  # steps/s per GPU type
    x: FloatArray  # time fractions per GPU type
    left: FloatArray  # steps still to run
    total: FloatArray  # steps in all

    @staticmethod
    def empty(n_types: int) -> _Active:
        z = np.zeros(0)
        ids = np.zeros(0, dtype=np.int64)
        return _Active(ids, ids, np.zeros((0, n_types)), np.zeros((0, n_types)), z, z)

    def keep(self, mask: npt.NDArray[np.bool_]) -> _Active:
        return _Active(
            self.ids[mask], self.cls[mask], self.thr[mask], self.x[mask],
            self.left[mask], self.total[mask],
        )  # fmt: skip

    def join(self, wl: HeteroWorkload, start: int, stop: int) -> _Active:
        """Append jobs ``start..stop-1`` of ``wl`` (they have no allocation yet)."""
        cls = wl.job_class[start:stop]
        steps = wl.total_steps[start:stop].astype(np.float64)
        cat = np.concatenate
        return _Active(
            cat([self.ids, np.arange(start, stop)]),
            cat([self.cls, cls]),
            cat([self.thr, wl.class_thr_steps_per_s[cls]]),
            cat([self.x, np.zeros((stop - start, self.x.shape[1]))]),
            cat([self.left, steps]),
            cat([self.total, steps]),
        )

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
from gpufleet.hetero.lp import FloatArray
from gpufleet.hetero.policies import ActiveView, Policy
from gpufleet.hetero.workload import HeteroWorkload

#: A job whose remaining work is below this share of its total is done (float round-off).
DONE_REL_TOL = 1e-9


@dataclass(frozen=True)
class FluidResult:
    """``finish_s[i]`` is NaN for jobs not finished when the run stopped."""

    finish_s: FloatArray
    jct_s: FloatArray
    allocations: int  # policy calls
    end_s: float


def simulate(
    workload: HeteroWorkload,
    policy: Policy,
    gpus_per_type: npt.ArrayLike,
    must_finish: npt.NDArray[np.int64] | None = None,
) -> FluidResult:
    """Run ``workload`` until every job in ``must_finish`` (default: all) has finished."""
    cap = np.asarray(gpus_per_type, dtype=np.float64)
    n = workload.n_jobs
    thr = workload.class_thr_steps_per_s[workload.job_class]  # per job x type
    remaining = workload.total_steps.astype(np.float64).copy()
    finish = np.full(n, np.nan)
    x = np.zeros((n, cap.size))
    watch = np.arange(n) if must_finish is None else must_finish
    active = np.empty(0, dtype=np.int64)
    t, nxt, calls = 0.0, 0, 0
    while np.isnan(finish[watch]).any():
        # 1. the next event: the earliest completion at current rates, or the next arrival
        rates = (x[active] * thr[active]).sum(axis=1)
        with np.errstate(divide="ignore"):
            to_done = np.where(rates > 0, remaining[active] / rates, np.inf)
        first = int(np.argmin(to_done)) if active.size else -1
        dt = float(to_done[first]) if active.size else np.inf
        t_arr = float(workload.arrival_s[nxt]) if nxt < n else np.inf
        if dt == np.inf and t_arr == np.inf:
            raise InternalError(f"fluid simulation stalled at t={t:.3f} s with jobs left")
        # 2. advance: every active job runs at its rate until the event
        completion = t + dt <= t_arr
        t_next = t + dt if completion else t_arr
        remaining[active] -= rates * (t_next - t)
        t = t_next
        # 3. completions leave, arrivals join
        done = remaining[active] <= DONE_REL_TOL * workload.total_steps[active]
        if completion:
            done[first] = True
        finish[active[done]] = t
        x[active[done]] = 0.0
        active = active[~done]
        while nxt < n and workload.arrival_s[nxt] <= t:
            active = np.append(active, nxt)
            nxt += 1
        # 4. re-allocate on the new set of jobs
        if active.size:
            view = ActiveView(
                workload.job_class[active], x[active], workload.class_thr_steps_per_s, cap
            )
            x[active] = policy.allocate(view)
            calls += 1
    return FluidResult(finish, finish - workload.arrival_s, calls, t)

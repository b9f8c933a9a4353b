"""An event-driven fluid simulator: between two events (an arrival or a completion) every
job runs at the constant rate ``sum_t X[j,t] * thr[j,t]`` steps/s, so completion times are
exact; by default the policy re-allocates at every event.

This is not how Gavel runs: Gavel realises ``X`` with 6-minute (360 s) rounds, leases and
priorities, and recomputes ``X`` only on an arrival or completion at least 1,920 s after the
last recompute (``scheduler/scheduler.py``: ``minimum_time_between_allocation_resets``,
checked once a round), so a new job waits about 1,000 s for its first round, and a finished
job's GPUs stay idle until the next recompute. :class:`Timing` models that part: with
``recompute_gap_s`` an arrival or completion only marks the allocation stale, and it is
recomputed at the first instant ``gap`` after the previous recompute (rounded up to the
next round boundary with ``round_s``); between recomputes every job keeps its ``X``, new
jobs get nothing, and finished jobs' shares are not handed on. The default (no gap, no
rounds) is the limit of Gavel's rounds as both go to zero. What :class:`Timing` still
leaves out: a job running in whole rounds (its rate is the time average), leases, and the
priorities that decide which jobs a round serves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpufleet.errors import InternalError
from gpufleet.labs.gavel.lp import FloatArray
from gpufleet.labs.gavel.policies import ActiveView, AllocationPolicy, SharesBetweenRecomputes
from gpufleet.labs.gavel.workload import HeteroWorkload

#: A job whose remaining work is below this share of its total is done (float round-off).
DONE_REL_TOL = 1e-9


@dataclass(frozen=True)
class Timing:
    """When the policy re-allocates: ``recompute_gap_s`` after the previous recompute at
    the earliest (Gavel: 1,920 s), at a multiple of ``round_s`` (Gavel: 360 s); 0 and 0:
    at every arrival and completion."""

    recompute_gap_s: float = 0.0
    round_s: float = 0.0

    def due(self, t: float, last: float) -> float:
        """The recompute instant for a change seen at ``t``, the previous one at ``last``."""
        at = max(t, last + self.recompute_gap_s)
        if self.round_s > 0:
            at = math.ceil(at / self.round_s) * self.round_s
        return at


#: Re-allocate at every arrival and completion (the fluid limit).
EVERY_EVENT = Timing()
#: Gavel's defaults (``scheduler/scheduler.py``: ``minimum_time_between_allocation_resets``
#: 1,920 s; the driver's ``-i 360`` round), as the peer workload's runs used them.
GAVEL_TIMING = Timing(recompute_gap_s=1920.0, round_s=360.0)


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
    timing: Timing = EVERY_EVENT,
) -> FluidResult:
    """Run ``workload`` until every job in ``must_finish`` (default: all) has finished,
    re-allocating as ``timing`` says (default: at every arrival and completion)."""
    cap = np.asarray(gpus_per_type, dtype=np.float64)
    n = workload.n_jobs
    finish = np.full(n, np.nan)
    watched = np.zeros(n, dtype=bool)
    watched[np.arange(n) if must_finish is None else must_finish] = True
    left = int(watched.sum())  # watched jobs not finished yet
    act = _Active.empty(cap.size)
    t, nxt, calls = 0.0, 0, 0
    last_recompute = -math.inf
    due = math.inf  # the pending recompute's instant (inf: the allocation is current)
    while left > 0:
        # 1. the next event: the earliest completion at current rates, the next arrival,
        # or the pending recompute
        rates = (act.x * act.thr).sum(axis=1)
        to_done = np.divide(act.left, rates, out=np.full(rates.size, np.inf), where=rates > 0)
        first = int(np.argmin(to_done)) if rates.size else -1
        dt = float(to_done[first]) if rates.size else np.inf
        t_arr = float(workload.arrival_s[nxt]) if nxt < n else np.inf
        if dt == np.inf and t_arr == np.inf and due == np.inf:
            raise InternalError(f"fluid simulation stalled at t={t:.3f} s with jobs left")
        # 2. advance: every active job runs at its rate until the event
        t_next = min(t + dt, t_arr, due)
        completion = t + dt <= t_arr and t + dt <= due
        act.left -= rates * (t_next - t)
        t = t_next
        # 3. completions leave, arrivals join; either makes the allocation stale
        done = act.left <= DONE_REL_TOL * act.total
        if completion:
            done[first] = True
        changed = bool(done.any())
        if changed:
            gone = act.ids[done]
            finish[gone] = t
            left -= int(watched[gone].sum())
            act = act.keep(~done)
        start = nxt
        while nxt < n and workload.arrival_s[nxt] <= t:
            nxt += 1
        if nxt > start:
            act = act.join(workload, start, nxt)
            changed = True
        if changed and due == math.inf:
            due = timing.due(t, last_recompute)
        # 4. re-allocate on the new set of jobs, when due; before, a policy that shares a
        # type among more jobs than GPUs re-divides it as its jobs leave (GavelFifo)
        view = ActiveView(act.cls, act.x, workload.class_thr_steps_per_s, cap, act.ids)
        if t >= due:
            due = math.inf
            if act.ids.size:
                act.x = np.asarray(policy.allocate(view), dtype=np.float64)
                calls += 1
                last_recompute = t
        elif changed and act.ids.size and isinstance(policy, SharesBetweenRecomputes):
            act.x = np.asarray(policy.between(view), dtype=np.float64)
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

"""The max-min fairness linear program of Gavel, built as sparse numpy arrays and solved
by HiGHS.

Notation (Narayanan et al., "Heterogeneity-Aware Cluster Scheduling Policies for Deep
Learning Workloads", OSDI '20, section 4.1; Gavel's ``MaxMinFairnessPolicyWithPerf``):

* ``m`` rows (jobs, or classes of identical jobs), ``T`` GPU types;
* ``thr[j, t]`` steps/s of job ``j`` alone on one GPU of type ``t``;
* ``X[j, t]`` the fraction of wall time job ``j`` spends on type ``t``;
* ``w[j]`` how many identical jobs row ``j`` stands for (1 when rows are jobs);
* ``cap[t]`` GPUs of type ``t``; every job uses one GPU.

Stage 1 (Gavel's objective)::

    maximise    z
    subject to  sum_t (thr[j,t] / thr_eq[j]) X[j,t] >= z     for every j
                sum_t X[j,t] <= 1                            for every j
                sum_j w[j] X[j,t] <= cap[t]                  for every t
                0 <= X <= 1

``thr_eq[j]`` is the job's throughput under an equal time share of the cluster,
:func:`equal_share_throughput`.

Stage 2 (ours, optional, default on): keep ``z >= z*`` and maximise the total normalised
throughput ``sum_j w[j] sum_t thr[j,t] X[j,t] / thr_eq[j]``. Stage 1 alone has many optima;
HiGHS returns a vertex that can leave GPUs idle, while Gavel's interior-point solver (ECOS)
returns a point inside the optimal face and Gavel's rounds then hand leftover GPUs to jobs
with no share. Stage 2 is our stand-in for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from gpufleet.errors import InternalError

FloatArray = npt.NDArray[np.float64]

#: Stage 2 keeps every job at least this share of the stage-1 optimum (numerical slack).
STAGE2_SLACK = 1e-7


@dataclass(frozen=True)
class MaxMinSolution:
    """An optimal allocation: ``x[j, t]`` time fractions and ``z`` the max-min value."""

    x: FloatArray
    z: float


def equal_share_throughput(thr: FloatArray, cap: FloatArray, n_jobs: int) -> FloatArray:
    """Each job's steps/s under an equal share of every GPU type (Gavel's normaliser).

    Gavel normalises by ``sum_t thr[j,t] * x_eq[j,t]`` with ``x_eq`` the allocation of its
    heterogeneity-agnostic ``MaxMinFairnessPolicy`` (the same LP with every throughput 1).
    That LP's optimum gives every job ``min(1, sum(cap) / m)`` of total time; its
    split over types is not unique. We use the proportional split of Gavel's
    ``ProportionalPolicy``: ``x_eq[j,t] = cap[t] / m``, scaled so no row exceeds 1. On
    36:36:36 this is ``min(1, 108/m) / 3`` per type, the symmetric point an interior-point
    solver returns. The factor common to all jobs does not change the optimal ``X``.
    """
    share = cap / max(n_jobs, 1)
    share = share / max(float(share.sum()), 1.0)
    return thr @ share


def solve_max_min(
    norm_thr: FloatArray,
    cap: FloatArray,
    weight: FloatArray | None = None,
    fill: bool = True,
    method: str = "simplex",
) -> MaxMinSolution:
    """Solve the max-min LP for normalised throughputs ``norm_thr`` (m x T), see module.

    ``method="simplex"`` (HiGHS dual simplex, a vertex) suits small LPs such as one row per
    job class; ``method="ipm"`` (interior point, no crossover) is about 5x faster at 2,000
    jobs and, like Gavel's ECOS, returns a point inside the optimal face.
    """
    m, n_types = norm_thr.shape
    w = np.ones(m) if weight is None else np.asarray(weight, dtype=np.float64)
    h = _new_highs(method)
    _pass_lp(h, norm_thr, cap, w)
    z = _run(h, m * n_types + 1)[-1]
    if fill:
        _stage2(h, norm_thr, w, z)
        sol = _run(h, m * n_types + 1)
    else:
        sol = np.asarray(h.getSolution().col_value)
    x = np.clip(sol[:-1].reshape(m, n_types), 0.0, 1.0)
    return MaxMinSolution(x=x, z=float(z))


def _new_highs(method: str) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    if method == "ipm":
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "off")
    elif method != "simplex":
        raise InternalError(f"unknown LP method {method!r}; valid: ipm, simplex")
    return h


def _pass_lp(h: highspy.Highs, a: FloatArray, cap: FloatArray, w: FloatArray) -> None:
    """Pass the LP to ``h`` as column-wise (CSC) numpy arrays in one call: X columns
    job-major, then the column ``z``. (Building a ``HighsLp`` attribute by attribute copies
    each array through Python and took ~8 ms of a ~55 ms solve at 2,000 jobs.)"""
    m, n_types = a.shape
    n_x = m * n_types
    jobs = np.repeat(np.arange(m), n_types)
    types = np.tile(np.arange(n_types), m)
    # each X column has 3 entries: its fairness row, its time row, its capacity row
    x_rows = np.stack([jobs, m + jobs, 2 * m + types], axis=1).ravel()
    x_vals = np.stack([a.ravel(), np.ones(n_x), w[jobs]], axis=1).ravel()
    inf = highspy.kHighsInf
    cost = np.zeros(n_x + 1)
    cost[-1] = 1.0
    col_upper = np.ones(n_x + 1)
    col_upper[-1] = inf
    row_lower = np.concatenate([np.zeros(m), np.full(m + n_types, -inf)])
    row_upper = np.concatenate([np.full(m, inf), np.ones(m), cap])
    start = np.arange(0, 3 * n_x + 1, 3, dtype=np.int32)  # one per column: X..., z
    index = np.concatenate([x_rows, np.arange(m)]).astype(np.int32)
    value = np.concatenate([x_vals, -np.ones(m)])
    status = h.passModel(
        n_x + 1, 2 * m + n_types, index.size, int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize), 0.0, cost, np.zeros(n_x + 1), col_upper,
        row_lower, row_upper, start, index, value, np.zeros(n_x + 1, dtype=np.int32),
    )  # fmt: skip
    if status != highspy.HighsStatus.kOk:
        raise InternalError(f"HiGHS refused the max-min LP ({m} rows x {n_types} types)")


def _stage2(h: highspy.Highs, a: FloatArray, w: FloatArray, z: float) -> None:
    n_x = a.size
    cost = np.r_[(a * w[:, None]).ravel(), 0.0]
    h.changeColsCost(n_x + 1, np.arange(n_x + 1, dtype=np.int32), cost)
    h.changeColBounds(n_x, z * (1.0 - STAGE2_SLACK), highspy.kHighsInf)


def _run(h: highspy.Highs, n_cols: int) -> FloatArray:
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise InternalError(f"max-min LP not optimal: {h.modelStatusToString(status)}")
    sol = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if sol.size != n_cols:
        raise InternalError(f"max-min LP returned {sol.size} columns, expected {n_cols}")
    return sol

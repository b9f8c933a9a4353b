"""The max-min LP of :mod:`.lp` kept warm across events: one HiGHS model per simulation,
changed between events through row bounds only, so the previous optimal basis stays dual
feasible and HiGHS' dual simplex restarts from it (half the events need no pivot at all).

Two rewrites of the LP make this possible, neither changes its optimum.

1. **Class totals as variables.** With ``n[c]`` active jobs of class ``c`` (all given the
   same row, see :mod:`.policies`), let ``Y[c,t] = n[c] X[c,t]`` be the class's GPUs of
   type ``t``. Stage 2 of :mod:`.lp` becomes::

       maximise    sum_{c,t} a[c,t] Y[c,t]                    (fixed costs)
       subject to  sum_t a[c,t] Y[c,t] >= n[c] z_lb            for every c  (row bound)
                   sum_t Y[c,t]        <= n[c]                 for every c  (row bound)
                   sum_c Y[c,t]        <= cap[t]               for every t
                   Y >= 0

   The matrix and the costs never change; an event changes only the bounds of two rows
   per class. A class with no active job has both bounds at 0, so its ``Y`` is 0.

2. **Stage 1 in closed form, usually.** No job can beat its best type:
   ``z* <= zg = min_c max_t a[c,t]`` over the active classes. On Gavel's workload
   ``z* = zg`` at 99.8 % of events, so we first solve stage 2 with ``z_lb = zg (1 - slack)``;
   if that is infeasible, ``z* < zg`` and :func:`.lp.solve_max_min` solves both stages
   from scratch, as before this module existed. If ``zg (1 - slack) <= z* < zg`` the first
   solve is feasible and keeps every job within ``slack`` of ``zg`` instead of ``z*``, a
   difference below the LP tolerance.

3. **No run while the basis holds.** Costs and matrix being fixed, the last optimal basis
   stays dual feasible after a bound change; if its basic solution under the new bounds is
   also within bounds, it is optimal, and it is exactly what HiGHS would return after zero
   pivots. :class:`_Basis` computes that solution with one ``getBasisSolve`` on HiGHS' own
   factorisation and checks the bounds; ``run`` is called only when the check fails (a
   third of Gavel's events). What this saves is HiGHS' fixed cost per ``run`` (about
   0.1 ms here whatever the LP, half of it reading the CPU topology from sysfs).

Normalisation: :func:`.lp.equal_share_throughput` divides every row by a factor common to
all jobs that depends on the number of jobs; neither the optimal ``Y`` nor the test
``z* < zg`` depend on a common factor, so ``a`` is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from gpufleet.errors import InternalError
from gpufleet.labs.gavel.lp import STAGE2_SLACK, FloatArray, equal_share_throughput, solve_max_min

IntArray = npt.NDArray[np.int64]


#: A basic variable may sit this far (times the largest capacity, at least 1) outside its
#: bounds and still count as feasible; HiGHS' own tolerance is 1e-7 on the scaled LP.
BASIS_FEAS_TOL = 1e-9


@dataclass
class WarmStats:
    """What the warm model did: calls, calls the kept basis answered, HiGHS runs, stage-1
    fallbacks."""

    solves: int = 0
    basis_reused: int = 0
    highs_runs: int = 0
    stage1_fallbacks: int = 0


class WarmMaxMin:
    """Two-stage max-min allocation per job class, on one HiGHS model kept across calls."""

    def __init__(self, class_thr: FloatArray, cap: FloatArray) -> None:
        self.thr = class_thr  # kept to tell whether a caller's table is this one
        thr = np.asarray(class_thr, dtype=np.float64)
        self.cap = np.asarray(cap, dtype=np.float64)
        self.n_classes, self.n_types = thr.shape
        if self.cap.shape != (self.n_types,) or (self.cap < 0).any():
            raise InternalError(f"need {self.n_types} non-negative capacities, got {cap!r}")
        eq = equal_share_throughput(thr, self.cap, max(1, round(float(self.cap.sum()))))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.norm_thr = np.where(eq[:, None] > 0, thr / eq[:, None], 0.0)
        # max_t a[c,t] over types that have GPUs: no job of class c can get more
        self.best = np.where(self.cap > 0, self.norm_thr, 0.0).max(axis=1)
        self.stats = WarmStats()
        c_n = self.n_classes
        # each row's one finite side (fairness rows >=, time and capacity rows <=)
        self._rhs = np.r_[np.zeros(2 * c_n), self.cap]
        self._sense = np.r_[np.ones(c_n), -np.ones(c_n + self.n_types)]
        lp = self._build()
        # the bounds of the rows an event changes: fairness, then time
        self._rows = np.arange(2 * c_n, dtype=np.int32)
        self._lower = np.array(lp.row_lower_[: 2 * c_n])
        self._upper = np.array(lp.row_upper_[: 2 * c_n])
        self._n_y = lp.num_col_
        self._tol = BASIS_FEAS_TOL * max(1.0, float(self.cap.max(initial=0.0)))
        self._basis: _Basis | None = None
        self._h = highspy.Highs()  # type: ignore[no-untyped-call]
        # no "threads" option: HiGHS' thread pool is global, and a run whose "threads"
        # differs from the pool another Highs object started fails with status kNotset
        for option, value in (("output_flag", False), ("presolve", "off")):
            self._h.setOptionValue(option, value)
        self._h.passModel(lp)

    def serves(self, class_thr: FloatArray, cap: FloatArray) -> bool:
        """Whether this model was built for this class table (the same array) and ``cap``."""
        return class_thr is self.thr and (cap is self.cap or np.array_equal(cap, self.cap))

    def solve(self, counts: IntArray) -> FloatArray:
        """``X[c, t]`` for every class (zero rows for classes with no active job)."""
        n = np.asarray(counts, dtype=np.float64)
        if n.shape != (self.n_classes,):
            raise InternalError(f"counts must be {self.n_classes} numbers, got {n.shape}")
        active = n > 0
        self.stats.solves += 1
        c_n = self.n_classes
        if not active.any():
            return np.zeros((c_n, self.n_types))
        self._rhs[:c_n] = n * (float(self.best[active].min()) * (1.0 - STAGE2_SLACK))
        self._rhs[c_n : 2 * c_n] = n
        y = None if self._basis is None else self._basis.solution(self._h, self._rhs, self._tol)
        if y is not None:
            self.stats.basis_reused += 1
        elif self._run():
            self._basis = self._kept_basis()
            y = np.asarray(self._h.getSolution().col_value, dtype=np.float64)
        else:  # infeasible, so z* < zg: both stages of .lp, from scratch
            self.stats.stage1_fallbacks += 1
            self._basis = None  # HiGHS restarts from wherever it stopped
            x = np.zeros((c_n, self.n_types))
            x[active] = solve_max_min(self.norm_thr[active], self.cap, n[active]).x
            return x
        # a class with no job has Y = 0 (its time row is <= 0)
        x = y.reshape(c_n, self.n_types) / np.maximum(n, 1.0)[:, None]
        return np.clip(x, 0.0, 1.0, out=x)

    def _run(self) -> bool:
        c_n = self.n_classes
        self._lower[:c_n] = self._rhs[:c_n]
        self._upper[c_n:] = self._rhs[c_n : 2 * c_n]
        self._h.changeRowsBounds(2 * c_n, self._rows, self._lower, self._upper)  # type: ignore[attr-defined]
        self._h.run()
        self.stats.highs_runs += 1
        return bool(self._h.getModelStatus() == highspy.HighsModelStatus.kOptimal)

    def _kept_basis(self) -> _Basis | None:
        """The optimal basis just found, or None where highspy lacks the calls (old ones)."""
        if not (hasattr(self._h, "getBasicVariables") and hasattr(self._h, "getBasisSolve")):
            return None
        _, basic = self._h.getBasicVariables()
        return _Basis.of(self._n_y, self._sense, np.asarray(basic, dtype=np.int32))

    def _build(self) -> highspy.HighsLp:
        """Column-wise arrays: ``Y`` class-major; rows fairness, time, capacity."""
        c_n, t_n = self.n_classes, self.n_types
        n_y = c_n * t_n
        cls = np.repeat(np.arange(c_n), t_n)
        types = np.tile(np.arange(t_n), c_n)
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = n_y
        lp.num_row_ = 2 * c_n + t_n
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_cost_ = self.norm_thr.ravel().copy()
        lp.col_lower_ = np.zeros(n_y)
        lp.col_upper_ = np.full(n_y, inf)
        lp.row_lower_ = np.where(self._sense > 0, self._rhs, -inf)
        lp.row_upper_ = np.where(self._sense < 0, self._rhs, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.arange(0, 3 * n_y + 1, 3, dtype=np.int32)
        rows = np.stack([cls, c_n + cls, 2 * c_n + types], axis=1)
        lp.a_matrix_.index_ = rows.ravel().astype(np.int32)
        vals = np.stack([self.norm_thr.ravel(), np.ones(n_y), np.ones(n_y)], axis=1)
        lp.a_matrix_.value_ = vals.ravel()
        return lp


@dataclass(frozen=True)
class _Basis:
    """HiGHS' optimal basis, kept to test whether it is still optimal under new row bounds.

    In this LP every column is 0 when nonbasic (bounds ``[0, inf)``) and every row has one
    finite side, so a nonbasic (tight) row's activity sits at that side, ``rhs[i]``. HiGHS
    writes the rows as logical variables equal to minus their activity, with basis matrix
    ``B`` over ``[A, I]``; so the basic variables are ``B^-1 b`` with ``b = rhs`` on the
    tight rows and 0 elsewhere (one ``getBasisSolve`` on HiGHS' own factorisation). Basic
    columns must stay >= 0 and basic rows' activities on the right side of ``rhs``
    (``sense`` +1 for ``>=``, -1 for ``<=``).
    """

    n_cols: int
    tight: npt.NDArray[np.bool_]  # per row: nonbasic
    col_pos: npt.NDArray[np.intp]  # positions of basic columns in HiGHS' basic list
    cols: npt.NDArray[np.intp]  # their column indices
    row_pos: npt.NDArray[np.intp]  # positions of basic rows in the list
    rows: npt.NDArray[np.intp]  # their row indices
    row_sense: FloatArray

    @staticmethod
    def of(n_cols: int, sense: FloatArray, basic: npt.NDArray[np.int32]) -> _Basis:
        """``basic`` as HiGHS lists it: column ``j`` as ``j``, row ``i`` as ``-1 - i``."""
        col_pos, row_pos = np.flatnonzero(basic >= 0), np.flatnonzero(basic < 0)
        rows = (-1 - basic[row_pos]).astype(np.intp)
        tight = np.ones(sense.size, dtype=bool)
        tight[rows] = False
        cols = basic[col_pos].astype(np.intp)
        return _Basis(n_cols, tight, col_pos, cols, row_pos, rows, sense[rows])

    def solution(self, h: highspy.Highs, rhs: FloatArray, tol: float) -> FloatArray | None:
        """The columns' values if this basis is feasible for the row sides ``rhs``."""
        status, x_b = h.getBasisSolve(np.where(self.tight, rhs, 0.0))  # type: ignore[attr-defined]
        if status != highspy.HighsStatus.kOk:
            return None
        x_b = np.asarray(x_b, dtype=np.float64)
        y_c = x_b[self.col_pos]
        activity = -x_b[self.row_pos]
        if (y_c.size and y_c.min() < -tol) or (
            self.rows.size and (self.row_sense * (activity - rhs[self.rows])).min() < -tol
        ):
            return None
        y = np.zeros(self.n_cols)
        y[self.cols] = np.maximum(y_c, 0.0)
        return y

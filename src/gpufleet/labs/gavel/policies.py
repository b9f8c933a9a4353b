"""Allocation policies for the fluid simulator: each turns a read-only view of the active
jobs into time fractions ``X[j, t]`` and never changes state itself.

* ``max-min`` -- Gavel's ``max_min_fairness_perf`` (heterogeneity-aware max-min fairness,
  OSDI '20 section 4.1), the LP of :mod:`.lp`. Jobs of one job type have identical rows,
  and the LP is symmetric in them, so an optimal allocation exists that treats them alike:
  we solve one row per job type present (weight = its job count) and give every job its
  class's row. Stage 1's optimum is the same as the per-job LP's.
* ``fifo`` -- Gavel's ``fifo`` (mode ``base``): jobs in arrival order each get one whole
  GPU of one type and keep it until they finish. The type is the first with a free GPU in
  the order V100, P100, K80, which is what Gavel's code gives in effect (the README of the
  peer workload: "the last one in the alphabetically sorted list of types that still have
  free GPUs"). Gavel's quirk of pinning surplus jobs to a full V100 is not copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gpufleet.labs.common import LabPolicies
from gpufleet.labs.gavel.lp import FloatArray, equal_share_throughput, solve_max_min
from gpufleet.labs.gavel.warm import WarmMaxMin


@dataclass(frozen=True)
class ActiveView:
    """The active jobs at one instant, in arrival order (read-only by convention)."""

    job_class: npt.NDArray[np.int64]  # per active job
    x_prev: FloatArray  # per active job x GPU type; zero rows for jobs not yet placed
    class_thr_steps_per_s: FloatArray  # job classes x GPU types
    gpus_per_type: FloatArray


class AllocationPolicy(Protocol):
    """One method: the time fractions of the active jobs."""

    def allocate(self, view: ActiveView) -> FloatArray: ...


class MaxMinFairness:
    """Heterogeneity-aware max-min fairness; formula in :mod:`.lp`.

    With ``fill`` (stage 2, the default) and ``warm`` (the default), one :class:`.WarmMaxMin`
    model is kept across calls for the view's class table and capacities, and rebuilt when
    either changes; it is a solver cache, the allocation depends only on the view.
    ``warm=False`` solves each call from scratch (:func:`.solve_max_min`).
    """

    def __init__(self, fill: bool = True, warm: bool = True) -> None:
        self.fill = fill
        self.warm = warm
        self._model: WarmMaxMin | None = None

    def allocate(self, view: ActiveView) -> FloatArray:
        if self.fill and self.warm:
            model = self._warm_model(view)
            counts = np.bincount(view.job_class, minlength=model.n_classes)
            return model.solve(counts)[view.job_class]
        return self._cold(view)

    def _warm_model(self, view: ActiveView) -> WarmMaxMin:
        m = self._model
        if m is None or not m.serves(view.class_thr_steps_per_s, view.gpus_per_type):
            m = self._model = WarmMaxMin(view.class_thr_steps_per_s, view.gpus_per_type)
        return m

    def _cold(self, view: ActiveView) -> FloatArray:
        classes, inverse, counts = np.unique(
            view.job_class, return_inverse=True, return_counts=True
        )
        thr = view.class_thr_steps_per_s[classes]
        thr_eq = equal_share_throughput(thr, view.gpus_per_type, int(view.job_class.size))
        sol = solve_max_min(
            thr / thr_eq[:, None], view.gpus_per_type, counts.astype(np.float64), self.fill
        )
        return sol.x[inverse]


class Fifo:
    """First in, first out; each job keeps one GPU of the first free type V100, P100, K80."""

    def allocate(self, view: ActiveView) -> FloatArray:
        x = view.x_prev.copy()
        free = view.gpus_per_type - x.sum(axis=0)
        for j in np.flatnonzero(x.sum(axis=1) == 0):
            types = np.flatnonzero(free >= 1.0 - 1e-9)
            if types.size == 0:
                break
            x[j, types[0]] = 1.0
            free[types[0]] -= 1.0
        return x


GAVEL_POLICIES: LabPolicies[Callable[[], AllocationPolicy]] = LabPolicies("Gavel lab policy")
GAVEL_POLICIES.define(
    "max-min",
    "heterogeneity-aware max-min fairness on effective throughput, an LP on HiGHS "
    "at every arrival and completion (Gavel, OSDI '20)",
    MaxMinFairness,
)
GAVEL_POLICIES.define(
    "fifo", "first in, first out on the first free GPU type (heterogeneity-agnostic)", Fifo
)


def allocation_policy(name: str) -> AllocationPolicy:
    """A new policy registered as ``name``; an unknown name lists the valid ones."""
    return GAVEL_POLICIES.builder(name)()

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
* ``fifo-gavel`` -- Gavel's ``FIFOPolicy`` (mode ``base``) as its code runs it
  (``scheduler/policies/fifo.py``, ``get_allocation``), quirk included, for the
  Gavel-faithful comparison (:data:`~gpufleet.labs.gavel.fluid.GAVEL_TIMING`): jobs keep the
  type they were given across calls; a finished job's type goes to the head of the queue
  first; then queued jobs in id order each take the type last in the alphabetically sorted
  list of types with free GPUs, while a seeded ``random.Random`` index (seed 0, the driver's
  ``--seed``) decides which list entry is dropped when a type fills, so once it drops
  another type than the full one, every further job of that call is pinned to the full
  type. A type holding more jobs than GPUs is time-shared among them (the fluid limit of
  Gavel's rounds, whose priority, allocation over share received, evens out their shares),
  also between two recomputes as its jobs finish (:meth:`GavelFifo.between`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
    job_id: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


class AllocationPolicy(Protocol):
    """One method: the time fractions of the active jobs."""

    def allocate(self, view: ActiveView) -> FloatArray: ...


@runtime_checkable
class SharesBetweenRecomputes(Protocol):
    """A policy whose fractions change as jobs leave, without a recompute."""

    def between(self, view: ActiveView) -> FloatArray: ...


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


#: Gavel's worker type names for our type columns (workload.GPU_TYPES' order)
GAVEL_TYPE_NAMES = ("v100", "p100", "k80")


class GavelFifo:
    """Gavel's ``FIFOPolicy`` in mode ``base``, as its code behaves (module docstring)."""

    def __init__(self, seed: int = 0, type_names: tuple[str, ...] = GAVEL_TYPE_NAMES) -> None:
        self.rng = random.Random(seed)
        self.names = type_names
        self.assigned: dict[int, int] = {}  # job id -> type column (Gavel's _allocation)

    def allocate(self, view: ActiveView) -> FloatArray:
        ids = [int(j) for j in view.job_id]
        if len(ids) != view.job_class.size:
            raise ValueError("fifo-gavel needs the view's job ids")
        thr = view.class_thr_steps_per_s[view.job_class]
        row = {j: i for i, j in enumerate(ids)}
        free = [round(float(c)) for c in view.gpus_per_type]
        queue = sorted(j for j in ids if j not in self.assigned)
        # jobs that finished hand their type to the head of the queue; the others hold it
        for job in sorted(self.assigned):
            t = self.assigned[job]
            if job not in row:
                if queue and free[t] >= 1 and thr[row[queue[0]], t] > 0:
                    self.assigned[queue.pop(0)] = t
                    free[t] -= 1
                del self.assigned[job]
            else:
                free[t] -= 1
        types = sorted((t for t in range(len(free)) if free[t] > 0), key=self.names.__getitem__)
        while queue and types:
            job = queue.pop(0)
            fits = [i for i, t in enumerate(types) if free[t] >= 1]
            if not fits:
                break
            pick = self.rng.randrange(len(fits))
            t = types[-1]  # Gavel's loop variable after its scan: the list's last type
            if thr[row[job], t] > 0:
                self.assigned[job] = t
                free[t] -= 1
                if free[t] == 0:
                    types.pop(fits[pick])
        return self._shares(ids, view.gpus_per_type)

    def between(self, view: ActiveView) -> FloatArray:
        """Between two recomputes: the same types, time-shared among the jobs still there."""
        return self._shares([int(j) for j in view.job_id], view.gpus_per_type)

    def _shares(self, ids: list[int], cap: FloatArray) -> FloatArray:
        x = np.zeros((len(ids), cap.size))
        for i, job in enumerate(ids):
            t = self.assigned.get(job)
            if t is not None:
                x[i, t] = 1.0
        held = x.sum(axis=0)
        over = held > cap
        x[:, over] *= cap[over] / held[over]
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
GAVEL_POLICIES.define(
    "fifo-gavel",
    "Gavel's own FIFO code path (base mode, seed 0), its V100 over-assignment included; "
    "compare with GAVEL_TIMING",
    GavelFifo,
)


def allocation_policy(name: str) -> AllocationPolicy:
    """A new policy registered as ``name``; an unknown name lists the valid ones."""
    return GAVEL_POLICIES.builder(name)()

"""Themis: finish-time fairness, simplified to a greedy highest-rho-first admission.

Mahajan et al., "Themis: Fair and Efficient GPU Cluster Scheduling", NSDI '20.

Finish-time fairness (§3 of the paper): for job j at time t,

    rho_j(t) = T_shared / T_independent

- ``T_independent = W_j / s_max``: the job's run time alone on its own GPU count at the
  fastest GPU type it allows (``W_j`` = ``spec.work_s``, reference seconds on its GPUs;
  ``s_max`` = the highest catalog throughput among ``spec.gpu_types``): its ideal time.
- ``T_shared = (t - submit_j) + R_j(t) / s``: time since submit plus the work left at its
  current speed if it runs (``R_j(t) = remaining_s - (t - start_s) * speed``) or at
  ``s_max`` if it waits (the most optimistic expectation, so rho only understates).

rho = 1 is a job that sees no sharing at all; the larger rho, the more the job has lost
to sharing. Themis offers resources to the jobs of highest rho.

What is simplified (say so when citing results):

- no partial-allocation auction: the paper has the top ``1 - f`` fraction of apps by rho
  bid valuations of GPU bundles, and the arbiter picks the efficiency-maximizing bids
  with hidden payments. Here the candidate set is the ``f`` fraction of pending jobs of
  highest rho (at least one; ``f = 1`` all of them, the most fair), and each takes whole
  gangs in order of rho, highest first, where placement finds room (``BestFit``), passing
  over one that does not fit;
- leftover allocation: GPUs still free are offered to the remaining pending jobs in
  submit order (the paper hands leftovers to apps outside the auction to stay
  work-conserving);
- no leases and no preemption: jobs keep their GPUs until they finish (the paper's lease
  expiry re-auctions GPUs; with leases of a whole job they coincide);
- jobs, not apps: each job is its own app (no hyperparameter-tuning groups).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from gpufleet.domain.gpus import GpuCatalog, default_catalog
from gpufleet.errors import InputError
from gpufleet.policies.base import BasePolicy, Decision, NoQuota, Refusals
from gpufleet.policies.options import NON_NEGATIVE, POSITIVE_INT, Options
from gpufleet.policies.placement import BestFit
from gpufleet.policies.research.rho_columns import RhoColumns
from gpufleet.state.cluster import CohortState
from gpufleet.state.jobs import Job, JobState
from gpufleet.state.snapshot import Snapshot


class Themis(BasePolicy):
    name: ClassVar[str] = "themis"
    summary: ClassVar[str] = "finish-time fairness: free GPUs to the highest rho first (Themis)"
    options: ClassVar[Options] = {"f": NON_NEGATIVE, "depth": POSITIVE_INT}

    def __init__(self, f: float = 1.0, depth: int = 256, catalog: GpuCatalog | None = None) -> None:
        if not 0 < f <= 1:
            raise InputError(f"policy 'themis': option 'f' must be in (0, 1], got {f!r}")
        super().__init__(NoQuota(), BestFit())
        self.f = f
        self.depth = depth
        cat = catalog or default_catalog()
        self.speed: dict[str, float] = {t.name: t.throughput for t in cat}
        # per cohort, its waiting jobs' fixed terms of rho, kept between cycles (with the
        # cohort they describe: another run's cohort of the same name starts afresh)
        self._columns: dict[str, tuple[CohortState, RhoColumns]] = {}

    def fastest(self, job: Job) -> float:
        """The highest throughput among the job's allowed types (1.0 for unknown ones)."""
        return max(self.speed.get(t, 1.0) for t in job.spec.gpu_types)

    def rho(self, job: Job, now_s: float) -> float:
        """Finish-time fairness T_shared / T_independent (module docstring)."""
        s_max = self.fastest(job)
        t_ind = job.spec.work_s / s_max
        if job.state is JobState.RUNNING:
            left_s = max(0.0, job.remaining_s - (now_s - job.start_s) * job.speed) / job.speed
        else:
            left_s = job.remaining_s / s_max
        t_shared = (now_s - job.spec.submit_s) + left_s
        return t_shared / t_ind if t_ind > 0 else math.inf

    def decide(self, snap: Snapshot) -> Decision:
        d = super().decide(snap)
        for job, _ in d.admit:  # it starts: a later wait is a new row (rho_columns)
            got = self._columns.get(job.cohort)
            if got is not None:
                got[1].drop(job.spec.id)
        return d

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        """Phases: rho of every pending job; the top ``f`` fraction by rho, highest first;
        then the rest in submit order (leftover allocation); at most ``depth`` examined."""
        c = snap.cohort(cohort)
        got = self._columns.get(cohort)
        if got is None or got[0] is not c:  # (one policy object, several simulations)
            got = self._columns[cohort] = (c, RhoColumns())
        cols = got[1]
        cols.sync(c, self.fastest)
        k = min(self.depth, max(1, math.ceil(self.f * cols.n)))
        order = cols.by_rho(snap.now_s)
        rows = order[:k]
        if self.depth > k and cols.n > k:
            rows = np.concatenate((rows, cols.by_submit(order[k:])[: self.depth - k]))
        # no quota and no preemption: a refusal leaves the snapshot as it was, so until
        # something starts a job of the same GPUs and types fails the same placement
        refused = Refusals()
        jobs = cols.jobs
        for i in rows.tolist():
            job = jobs[i]
            refused.try_start(self, snap, job, d, (job.spec.gpus, job.spec.gpu_types))

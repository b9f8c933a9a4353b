"""Themis's rho columns, kept between cycles, decide exactly as the per-job loop they
replaced (kept here as the oracle): every cycle's starts, placements, blocked jobs with
their reasons, and the result."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from gpufleet.policies.base import Decision, Refusals
from gpufleet.policies.research.rho_columns import RhoColumns
from gpufleet.policies.research.themis import Themis
from gpufleet.sim.simulator import Simulation
from gpufleet.state.snapshot import Snapshot
from tests.support.builders import Harness
from tests.support.runs import decisions
from tests.support.scenarios import mixed


class LoopingThemis(Themis):
    """Themis before the columns: rho of every pending job by :meth:`Themis.rho`, one by
    one, at every cycle, and the selections by ``heapq.nsmallest``."""

    def schedule_cohort(self, snap: Snapshot, cohort: str, d: Decision) -> None:
        now = snap.now_s
        queue = list(snap.cohort(cohort).queue.values())
        rho = {j.spec.id: self.rho(j, now) for j in queue}
        k = min(self.depth, max(1, math.ceil(self.f * len(queue))))
        top = heapq.nsmallest(k, queue, key=lambda j: (-rho[j.spec.id], j.spec.submit_s, j.spec.id))
        chosen = {j.spec.id for j in top}
        rest = heapq.nsmallest(
            self.depth - k,
            (j for j in queue if j.spec.id not in chosen),
            key=lambda j: (j.spec.submit_s, j.spec.id),
        )
        refused = Refusals()
        for job in [*top, *rest]:
            refused.try_start(self, snap, job, d, (job.spec.gpus, job.spec.gpu_types))


OPTIONS: dict[str, dict[str, float]] = {
    "themis": {},
    "themis-f-half": {"f": 0.5},
    "themis-f-small-depth-4": {"f": 0.2, "depth": 4},
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_columns_decide_every_cycle_as_the_per_job_loop(name: str, seed: int) -> None:
    opts = OPTIONS[name]
    log, result = decisions(Simulation(mixed("fifo", seed), policy=Themis(**opts)))  # type: ignore[arg-type]
    assert any(len(blocked) > 1 for _, _, _, blocked, _ in log), "queues should form"
    looping = LoopingThemis(**opts)  # type: ignore[arg-type]
    assert (log, result) == decisions(Simulation(mixed("fifo", seed), policy=looping))


def test_rows_give_each_waiting_job_its_rho_and_survive_removal_and_growth() -> None:
    """Jobs of 1,000 s of work each (H100 throughput s_max, T_ind = 1,000 / s_max),
    submitted at 0 s: at 500 s rho = (500 + 1,000 / s_max) / (1,000 / s_max), the same for
    all; rows are dropped and re-added past the initial capacity of 2, and each row's rho
    stays Themis.rho of its job."""
    h = Harness("fifo", nodes=[1])
    jobs = [h.submit("a", 8, work_s=1000.0) for _ in range(5)]  # 8 GPUs: none fits, all wait
    themis = Themis()
    cols = RhoColumns(capacity=2)
    cols.sync(h.state.cohorts["c"], themis.fastest)
    assert cols.n == 5
    s_max = themis.fastest(jobs[0])
    expected = (500.0 + 1000.0 / s_max) / (1000.0 / s_max)
    assert cols.rho(500.0).tolist() == [expected] * 5
    cols.drop(jobs[1].spec.id)
    assert sorted(j.spec.id for j in cols.jobs) == [0, 2, 3, 4]
    by_row = {cols.jobs[i].spec.id: r for i, r in enumerate(cols.rho(900.0).tolist())}
    assert by_row == {j.spec.id: themis.rho(j, 900.0) for j in jobs if j is not jobs[1]}
    # equal rho: submit time then id decide, so rows come back in id order
    assert [cols.jobs[i].spec.id for i in cols.by_rho(900.0).tolist()] == [0, 2, 3, 4]
    # rows now: 0 = id 0, 1 = id 4 (moved into the dropped row), 2 = id 2, 3 = id 3;
    # in submit order (all at 0 s, so by id): ids 0, 2, 3, 4 = rows 0, 2, 3, 1
    assert cols.by_submit(np.array([1, 3, 2, 0])).tolist() == [0, 2, 3, 1]


def test_equal_rho_goes_to_the_earlier_submit_before_the_lower_id() -> None:
    """b (id 0): submitted at 500 s, 500 s of work; a (id 1): at 0 s, 1,000 s of work;
    H100 throughput 1. At 1,000 s: rho_b = (500 + 500) / 500 = 2, rho_a = (1,000 + 1,000)
    / 1,000 = 2: equal, so the earlier submit, a, comes first although its id is higher."""
    h = Harness("fifo", nodes=[1])
    b = h.submit("a", 8, at=500.0, work_s=500.0)
    a = h.submit("a", 8, at=0.0, work_s=1000.0)
    cols = RhoColumns()
    cols.sync(h.state.cohorts["c"], Themis().fastest)
    assert cols.rho(1000.0).tolist() == [2.0, 2.0]
    assert [cols.jobs[i] for i in cols.by_rho(1000.0).tolist()] == [a, b]


def test_themis_asked_about_another_runs_cohort_of_the_same_name_starts_afresh() -> None:
    """One Themis may serve two simulations; job ids restart at 0 in each. Both runs
    submit at 0 s two 8-GPU jobs that cannot fit one GPU (throughput 1). Run 1: job 0 of
    3,600 s, job 1 of 600 s; at 100 s rho_0 = 3,700 / 3,600 < rho_1 = 700 / 600, so job 1
    first. Run 2 the other way round: job 0 first. Rows kept by cohort name and id alone
    would order run 2 by run 1's rows (and hand back run 1's jobs)."""
    themis = Themis()
    runs = [Harness("fifo", nodes=[1]), Harness("fifo", nodes=[1])]
    works = [(3600.0, 600.0), (600.0, 3600.0)]
    orders = []
    for h, ws in zip(runs, works, strict=True):
        jobs = [h.submit("a", 8, work_s=w) for w in ws]
        d = Decision()
        themis.schedule_cohort(Snapshot(h.state, 100.0), "c", d)
        orders.append([jobs.index(j) for j, _ in d.blocked if j in jobs])
        assert len(d.blocked) == 2
    assert orders == [[1, 0], [0, 1]]

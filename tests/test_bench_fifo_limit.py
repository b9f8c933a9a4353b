"""The pure-Python limit of ``bench/fifo_limit.py`` simulates what our ``fifo`` does.

Issue 16 compares our events/s with "a minimal pure-Python strict-FIFO simulator on the
same job mix"; the comparison means something only if that simulator does the same work.
The oracle: on the synthetic scenario, every job starts at the same instant in both (which
needs the same jobs, the same event order and the same node placement). A small
hand-worked case pins head-of-line blocking and best fit on their own.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import Job
from tests.support.bench import bench_module


def _fifo_limit() -> ModuleType:
    return bench_module("fifo_limit")


class _Starts(Simulation):
    """Our simulator, each launch's instant noted by job id."""

    starts: dict[int, float]

    def launch(self, job: Job, now_s: float, run_s: float) -> None:
        self.starts[int(job.spec.id)] = now_s
        super().launch(job, now_s, run_s)


@pytest.mark.parametrize(("jobs", "gpus", "seed"), [(2_000, 200, 1), (3_000, 160, 4)])
def test_every_job_starts_when_our_fifo_starts_it(jobs: int, gpus: int, seed: int) -> None:
    sim = _Starts(synthetic_scenario(jobs, gpus, policy="fifo", load=1.0, seed=seed))
    sim.starts = {}
    ours = sim.run()
    fl = _fifo_limit()
    limit = fl.simulate(fl.synthetic_jobs(jobs, gpus, 1.0, seed))

    started = {i: t for i, t in enumerate(limit.starts) if t is not None}
    assert len(limit.starts) == ours.summary["jobs_submitted"]
    assert started == sim.starts
    # ours counts one event more: the pool's delivery at time 0
    assert limit.events == ours.run["events"] - 1


def test_head_of_line_blocking_and_best_fit_by_hand() -> None:
    """Two nodes of 8 GPUs, horizon 100 s:

    - t=0: job 0 (4 GPUs, 10 s) on node 0; job 1 (8 GPUs, 5 s) on node 1 (only it fits);
    - t=1: job 2 (6 GPUs) does not fit (4 free); job 3 (1 GPU) would, but waits behind it;
    - t=5: job 1 ends; job 2 starts on node 1 (node 0 has 4 free), job 3 too: best fit
      takes node 1 (2 free) over node 0 (4 free), so job 4 (4 GPUs, t=6) fits node 0 at 6.

    Events: 5 arrivals + 5 completions (ends at 10, 5, 5+3, 5+2, 6+1, all before 100).
    """
    fl = _fifo_limit()
    jobs = fl.Jobs(
        submit_s=[0.0, 0.0, 1.0, 1.0, 6.0],
        gpus=[4, 8, 6, 1, 4],
        work_s=[10.0, 5.0, 3.0, 2.0, 1.0],
        nodes=2,
        gpus_per_node=8,
        horizon_s=100.0,
    )
    run = fl.simulate(jobs)
    assert run.starts == [0.0, 0.0, 5.0, 5.0, 6.0]
    assert run.events == 10


def test_nothing_after_the_horizon_happens() -> None:
    """One node of 8 GPUs, horizon 4 s: job 0 (8 GPUs, 5 s) runs past it, so job 1
    (1 GPU, t=1) never starts; events: 2 arrivals, no completion (job 0 ends at 5 > 4)."""
    fl = _fifo_limit()
    jobs = fl.Jobs([0.0, 1.0], [8, 1], [5.0, 1.0], 1, 8, 4.0)
    run = fl.simulate(jobs)
    assert run.starts == [0.0, None]
    assert run.events == 2

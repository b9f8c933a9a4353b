"""A run's per-job result columns at the end of a long replay (issue 14): the recorded
columns are the recorder's own buffers, not copies, so building the result allocates only
the derived columns (queueing delay, JCT, slowdown: 8 bytes each) and the program names
(a pointer each), 32 bytes a job, where the copies took 72."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import gpufleet.sim.result as result
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import Workload
from gpufleet.sim.simulator import Simulation

JOBS = 20_000


def test_the_result_columns_cost_32_bytes_a_job_on_top_of_the_recorder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    w = Workload.build(
        "many",
        np.cumsum(rng.exponential(30.0, JOBS)),
        rng.lognormal(6.0, 1.0, JOBS).round(),
        rng.choice([1.0, 2.0, 8.0], JOBS),
    )
    held: list[int] = []
    columns = result._job_columns

    def measured(rec: Any) -> Any:
        tracemalloc.start()
        try:
            return columns(rec)
        finally:
            held.append(tracemalloc.get_traced_memory()[0])
            tracemalloc.stop()

    monkeypatch.setattr(result, "_job_columns", measured)
    res = Simulation(to_scenario(w, gpus=64)).run()
    assert res.jobs["id"].size == JOBS
    # what the columns hold beyond the recorder's buffers: 4 new columns x 8 bytes x 20,000
    # jobs = 640,000 bytes and a few small objects; the copies made it 72 bytes a job
    assert 32 * JOBS <= held[0] < 33 * JOBS
    assert np.array_equal(res.jobs["jct_s"], res.jobs["finish_s"] - res.jobs["submit_s"])

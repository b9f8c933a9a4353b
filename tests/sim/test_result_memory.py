"""A run's per-job result columns at the end of a long replay (issues 14 and 16): the
recorded columns are the recorder's own buffers, not copies, and the derived ones (queueing
delay, JCT, slowdown, the program names) are computed when read, not held: building the
result allocates a few small objects whatever the job count, where held derived columns
took 32 bytes a job and copies 72."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import gpufleet.sim.result as result
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import Workload
from gpufleet.sim.job_columns import ORDER
from gpufleet.sim.simulator import Simulation

JOBS = 20_000


@pytest.fixture(scope="module")
def replay() -> tuple[Any, list[int]]:
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

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(result, "_job_columns", measured)
        res = Simulation(to_scenario(w, gpus=64)).run()
    return res, held


def test_the_result_columns_hold_no_bytes_a_job_on_top_of_the_recorder(
    replay: tuple[Any, list[int]],
) -> None:
    res, held = replay
    assert res.jobs.size == res.jobs["id"].size == JOBS
    # what the columns hold beyond the recorder's buffers: the mapping, six views and the
    # names' array, under 4 KB whatever the job count; held derived columns were 4 x 8
    # bytes x 20,000 jobs = 640,000 bytes
    assert held[0] < 4096


def test_the_derived_columns_are_computed_from_the_recorded_ones_when_read(
    replay: tuple[Any, list[int]],
) -> None:
    res, _ = replay
    jobs = res.jobs
    assert list(jobs) == list(ORDER) and len(jobs) == 10 and "jct_s" in jobs
    submit, start, finish = jobs["submit_s"], jobs["start_s"], jobs["finish_s"]
    assert np.array_equal(jobs["queueing_delay_s"], start - submit)
    assert np.array_equal(jobs["jct_s"], finish - submit)
    # slowdown = JCT / ideal run time; one GPU type of speed 1, so ideal = the job's work
    # as the trace gives it: every slowdown is at least 1 (a job never beats its ideal)
    assert float(jobs["slowdown"].min()) >= 1.0 - 1e-12
    assert set(jobs["program"].tolist()) == {p for p in res.programs}
    one = next(iter(res.programs))
    assert int(jobs.of_program(0).sum()) == res.programs[one]["jobs_finished"]
    with pytest.raises(KeyError):
        jobs["nothing"]

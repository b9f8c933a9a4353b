"""Each utilisation figure and preemption's lost work against hand-computed values, on
replays of tiny traces (neutral GPU type: throughput 1.0, so work = duration)."""

from __future__ import annotations

import pytest

from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import Workload
from gpufleet.sim.simulator import Simulation

H = 3600.0


def two_jobs_on_two_nodes() -> Workload:
    # A: 8 GPUs from 0 for 2 h; B: 8 GPUs submitted at 1 h, runs 4 h (ends at 5 h)
    return Workload.build("hand", [0.0, H], [2 * H, 4 * H], [8.0, 8.0])


def test_utilisation_while_arriving_counts_up_to_the_last_submit() -> None:
    # to 1 h: used 8 GPUs x 1 h, ready 16 x 1 h -> 8 / 16 = 0.5
    res = Simulation(to_scenario(two_jobs_on_two_nodes(), "fifo", gpus=16)).run()
    assert res.fleet["utilisation_while_arriving"] == pytest.approx(0.5)


def test_utilisation_until_the_last_finish_stops_at_the_last_finish() -> None:
    # to 5 h: used 8 x 2 + 8 x 4 = 48 GPU-h, ready 16 x 5 = 80 GPU-h -> 0.6
    res = Simulation(to_scenario(two_jobs_on_two_nodes(), "fifo", gpus=16)).run()
    assert res.fleet["utilisation_to_last_finish"] == pytest.approx(0.6)


def test_utilisation_over_the_horizon_counts_the_padded_horizon() -> None:
    # horizon = last submit + longest + work / fleet + 1 h = 1 + 4 + 48/16 + 1 = 9 h;
    # 48 / (16 x 9) = 1/3: the figure the replay used to print as "until the last finishes"
    res = Simulation(to_scenario(two_jobs_on_two_nodes(), "fifo", gpus=16)).run()
    assert res.horizon_s == 9 * H
    assert res.fleet["utilisation"] == pytest.approx(1 / 3, abs=1e-4)


def preempted_replay(checkpoint_s: float, restore_s: float) -> dict[str, float]:
    # One 8-GPU node; A: 8 GPUs, 10 h from 0; B: 8 GPUs, 1 h, submitted at 2.5 h. SRTF
    # preempts A at 2.5 h (7.5 h left > 1 h); B runs to 3.5 h, then A resumes.
    w = Workload.build("hand", [0.0, 2.5 * H], [10 * H, H], [8.0, 8.0])
    sc = to_scenario(w, "srtf", gpus=8, checkpoint_s=checkpoint_s, restore_s=restore_s)
    s = Simulation(sc).run().summary
    return {
        "jobs_preempted": s["jobs_preempted"],
        "work_lost_gpu_hours": s["work_lost_gpu_hours"],
        "restore_gpu_hours": s["restore_gpu_hours"],
        "jct_mean": s["jct_s"]["mean"],
    }


def test_lost_and_restoring_gpu_hours_with_a_checkpoint_every_hour() -> None:
    # kept floor(2.5) h = 2 h; lost 0.5 h x 8 GPUs = 4 GPU-h; restore 600 s x 8 = 4/3 GPU-h;
    # A ends at 3.5 h + 600 s + 8 h = 42000 s; B's JCT 1 h: mean (42000 + 3600) / 2 = 22800
    s = preempted_replay(H, 600.0)
    assert s["jobs_preempted"] == 1
    assert s["work_lost_gpu_hours"] == 4.0
    assert s["restore_gpu_hours"] == pytest.approx(4 / 3, abs=0.01)
    assert s["jct_mean"] == 22800.0


def test_without_checkpoints_the_whole_run_is_lost_and_nothing_restored() -> None:
    # lost 2.5 h x 8 = 20 GPU-h; A restarts at 3.5 h for 10 h: ends 48600; mean 26100
    s = preempted_replay(0.0, 600.0)
    assert s["work_lost_gpu_hours"] == 20.0
    assert s["restore_gpu_hours"] == 0.0
    assert s["jct_mean"] == 26100.0

"""Gavel-style heterogeneity-aware max-min fairness: the LP by hand and against its own
constraints, the fluid simulator by hand, and the comparison with Gavel's own JCTs."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.errors import UnknownNameError
from gpufleet.hetero import (
    HeteroWorkload,
    compare_with_gavel,
    equal_share_throughput,
    make_policy,
    peer_workload_dir,
    simulate,
    solve_max_min,
)


def test_two_jobs_two_types_hand_optimum() -> None:
    # job 1 runs at 1 step/s anywhere, so z <= 1; job 0 alone on type 0 and job 1 on
    # type 1 reach z = 1 and, with stage 2, the largest total (2 + 1 = 3).
    sol = solve_max_min(np.array([[2.0, 1.0], [1.0, 1.0]]), np.array([1.0, 1.0]))
    assert sol.z == pytest.approx(1.0)
    assert sol.x == pytest.approx(np.array([[1.0, 0.0], [0.0, 1.0]]), abs=1e-7)


def test_two_jobs_one_gpu_split_inversely_to_speed() -> None:
    # 2 x0 = x1, x0 + x1 = 1  ->  x0 = 1/3, x1 = 2/3, z = 2/3
    sol = solve_max_min(np.array([[2.0], [1.0]]), np.array([1.0]))
    assert sol.z == pytest.approx(2 / 3)
    assert sol.x[:, 0] == pytest.approx([1 / 3, 2 / 3], abs=1e-7)


def test_equal_share_is_proportional_and_capped_at_one() -> None:
    thr = np.array([[3.0, 2.0, 1.0]])
    cap = np.array([36.0, 36.0, 36.0])
    assert equal_share_throughput(thr, cap, 216) == pytest.approx([1.0])  # 1/6 each type
    assert equal_share_throughput(thr, cap, 10) == pytest.approx([2.0])  # 1/3 each type


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", ["simplex", "ipm"])
def test_random_instances_respect_constraints(seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    m, t = int(rng.integers(2, 60)), 3
    a = rng.uniform(0.1, 3.0, (m, t))
    cap = rng.integers(1, 10, t).astype(np.float64)
    w = rng.integers(1, 4, m).astype(np.float64)
    sol = solve_max_min(a, cap, w, method=method)
    assert (sol.x >= 0).all() and (sol.x <= 1).all()
    assert (sol.x.sum(axis=1) <= 1 + 1e-6).all()
    assert (w @ sol.x <= cap + 1e-6).all()
    assert (a * sol.x).sum(axis=1).min() >= sol.z * (1 - 1e-5)
    assert sol.z == pytest.approx(solve_max_min(a, cap, w, fill=False).z, rel=1e-5)


def _three_jobs() -> HeteroWorkload:
    return HeteroWorkload(
        arrival_s=np.array([0.0, 1.0, 2.0]),
        total_steps=np.array([2.0, 2.0, 2.0]),
        job_class=np.zeros(3, dtype=np.int64),
        class_names=("only",),
        class_thr_steps_per_s=np.array([[1.0]]),
    )


def test_fluid_max_min_three_jobs_by_hand() -> None:
    # One GPU at 1 step/s. [0,1) A alone; [1,2) A,B at 1/2; from 2 all three at 1/3:
    # A (0.5 left) ends at 3.5; B (1.0 left at 3.5) at 1/2 ends at 5.5; C (0.5 left) at 6.
    res = simulate(_three_jobs(), make_policy("max-min"), [1])
    assert res.finish_s == pytest.approx([3.5, 5.5, 6.0])
    assert res.jct_s == pytest.approx([3.5, 4.5, 4.0])


def test_fluid_fifo_three_jobs_by_hand() -> None:
    res = simulate(_three_jobs(), make_policy("fifo"), [1])
    assert res.finish_s == pytest.approx([2.0, 4.0, 6.0])


def test_fifo_fills_v100_then_p100_then_k80() -> None:
    wl = HeteroWorkload(
        np.zeros(3), np.full(3, 10.0), np.zeros(3, dtype=np.int64), ("a",),
        np.array([[1.0, 2.0, 4.0]]),
    )  # fmt: skip
    res = simulate(wl, make_policy("fifo"), [1, 1, 1])
    assert res.finish_s == pytest.approx([10.0, 5.0, 2.5])


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="fifo, max-min"):
        make_policy("las")


needs_peer = pytest.mark.skipif(
    not (peer_workload_dir() / "jobs.csv").exists(),
    reason=f"Gavel peer workload not found at {peer_workload_dir()} (GPUFLEET_PEER_WORKLOADS)",
)


@needs_peer
def test_max_min_matches_gavel() -> None:
    # Measured: ours 57,902 s vs Gavel 61,461 s (-5.8 %), per-job r = 0.996. The fluid
    # model has no 1,920 s recompute gap and no 360 s rounds, so new jobs start ~1,000 s
    # earlier than in Gavel: ours should be a little lower. Tolerance 10 %, r > 0.98.
    c = compare_with_gavel(peer_workload_dir(), "max-min")
    assert c.ratio == pytest.approx(1.0, abs=0.10)
    assert c.avg_jct_s < c.gavel_avg_jct_s
    assert c.pearson_r > 0.98


@needs_peer
def test_fifo_matches_gavel() -> None:
    # Measured: ours 84,836 s vs Gavel 94,579 s (-10.3 %), per-job r = 0.45 (0.90 on log
    # JCT). Gavel admits queued jobs only at a recompute (>= 1,920 s apart) and pins surplus
    # jobs to a full V100 while P100/K80 GPUs idle (README); we admit at once. Tolerance 15 %.
    c = compare_with_gavel(peer_workload_dir(), "fifo")
    assert c.ratio == pytest.approx(1.0, abs=0.15)
    assert c.pearson_r_log > 0.85

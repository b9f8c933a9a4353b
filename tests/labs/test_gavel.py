"""Gavel-style heterogeneity-aware max-min fairness: the LP by hand and against its own
constraints, the fluid simulator by hand, and the comparison with Gavel's own JCTs."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.errors import UnknownNameError
from gpufleet.labs.gavel import (
    ActiveView,
    HeteroWorkload,
    compare_with_gavel,
    equal_share_throughput,
    peer_workload_dir,
    solve_max_min,
)
from gpufleet.labs.gavel import allocation_policy as make_policy
from gpufleet.labs.gavel import simulate_fluid as simulate
from gpufleet.labs.gavel.policies import MaxMinFairness
from gpufleet.labs.gavel.warm import WarmMaxMin


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


def test_warm_model_answers_repeated_counts_from_its_kept_basis() -> None:
    # 36:36:36 as in Gavel; one job of each of two classes: each gets its best type alone
    thr = np.array([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    model = WarmMaxMin(thr, np.array([36.0, 36.0, 36.0]))
    first = model.solve(np.array([1, 1]))
    again = model.solve(np.array([1, 1]))
    assert first == pytest.approx(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), abs=1e-9)
    assert again == pytest.approx(first, abs=1e-12)
    assert (model.stats.highs_runs, model.stats.basis_reused) == (1, 1)


def test_warm_model_runs_after_an_interior_point_solve_elsewhere() -> None:
    # HiGHS' thread pool is global: an IPM solve on another Highs object must not break
    # the warm model's runs (it did while the warm model set threads=1).
    solve_max_min(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([1.0, 1.0]), method="ipm")
    model = WarmMaxMin(np.array([[2.0, 1.0], [1.0, 2.0]]), np.array([1.0, 1.0]))
    assert model.solve(np.array([1, 1])) == pytest.approx(np.eye(2), abs=1e-9)
    assert (model.stats.highs_runs, model.stats.stage1_fallbacks) == (1, 0)


def test_warm_model_falls_back_to_both_stages_when_jobs_outnumber_gpus() -> None:
    # One type, one GPU: a = thr / thr_eq = 1 for every class, so the closed-form guess is
    # zg = 1; two jobs can only reach z* = 1/2 < zg: the guess is infeasible and both
    # stages run from scratch, giving each job half the GPU.
    model = WarmMaxMin(np.array([[2.0], [1.0]]), np.array([1.0]))
    x = model.solve(np.array([1, 1]))
    assert x[:, 0] == pytest.approx([0.5, 0.5], abs=1e-7)
    assert model.stats.stage1_fallbacks == 1


def test_warm_model_gives_absent_classes_nothing() -> None:
    model = WarmMaxMin(np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0]]), np.array([1.0, 1.0]))
    x = model.solve(np.array([0, 3, 0]))
    assert x[[0, 2]] == pytest.approx(np.zeros((2, 2)))
    assert x[1].sum() <= 1.0 + 1e-9 and (3 * x[1] <= 1.0 + 1e-9).all()


@pytest.mark.parametrize("seed", range(4))
def test_warm_and_cold_max_min_agree_on_random_event_sequences(seed: int) -> None:
    # Oracle: the warm model (kept basis, stage 1 in closed form when it holds) against the
    # cold two-stage LP of .lp on 25 random sets of active jobs in a row. Both must reach
    # the same max-min value and the same stage-2 total, within the stage-2 slack (1e-7).
    rng = np.random.default_rng(seed)
    n_cls, n_types = int(rng.integers(1, 7)), int(rng.integers(1, 4))
    thr = rng.uniform(0.1, 3.0, (n_cls, n_types))
    cap = rng.integers(1, 6, n_types).astype(np.float64)
    warm, cold = MaxMinFairness(), MaxMinFairness(warm=False)
    for _ in range(25):
        cls = rng.integers(0, n_cls, int(rng.integers(1, 20)))
        view = ActiveView(cls, np.zeros((cls.size, n_types)), thr, cap)
        xw, xc = warm.allocate(view), cold.allocate(view)
        a = thr[cls] / (thr[cls] @ cap)[:, None]
        assert (xw.sum(axis=1) <= 1 + 1e-7).all() and (xw.sum(axis=0) <= cap + 1e-7).all()
        assert (a * xw).sum(axis=1).min() == pytest.approx((a * xc).sum(axis=1).min(), rel=2e-7)
        assert (a * xw).sum() == pytest.approx((a * xc).sum(), rel=2e-7)


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
    with pytest.raises(UnknownNameError, match="fifo, fifo-gavel, max-min"):
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

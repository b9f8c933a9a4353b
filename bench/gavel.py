"""Gavel's continuous-single workload (36 V100 + 36 P100 + 36 K80, jobs 4,000-4,999
measured): our fluid max-min and FIFO against Gavel's own results, wall times, and an LP
micro-bench (2,000 active jobs x 3 types, median of 5). Writes bench/gavel_results.json.

    python bench/gavel.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

from gpufleet.hetero import compare_with_gavel, peer_workload_dir, solve_max_min
from gpufleet.hetero.compare import GAVEL_JOB_PREFIX
from gpufleet.hetero.policies import PolicyName

ROOT = Path(__file__).resolve().parent
GAVEL_WALL_S = {"max-min": 100.81, "fifo": 164.93}


def lp_micro_bench(n_jobs: int = 2000, repeats: int = 5) -> dict[str, float]:
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 3.0, (n_jobs, 3))
    cap = np.array([36.0, 36.0, 36.0])
    out: dict[str, float] = {"n_jobs": n_jobs}
    for method in ("ipm", "simplex"):
        for fill in (False, True):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                solve_max_min(a, cap, fill=fill, method=method)
                times.append(time.perf_counter() - t0)
            key = f"{method}_{'two_stage' if fill else 'stage1'}_median_s"
            out[key] = statistics.median(times)
    return out


def main() -> None:
    folder = peer_workload_dir()
    results: dict[str, object] = {}
    for policy in ("max-min", "fifo"):
        t0 = time.perf_counter()
        c = compare_with_gavel(folder, policy)
        wall = time.perf_counter() - t0
        results[policy] = {
            "jobs_simulated": GAVEL_JOB_PREFIX[PolicyName(policy)],
            "ours_avg_jct_s": c.avg_jct_s,
            "gavel_avg_jct_s": c.gavel_avg_jct_s,
            "ratio": c.ratio,
            "pearson_r": c.pearson_r,
            "pearson_r_log": c.pearson_r_log,
            "allocations": c.allocations,
            "ours_wall_s": wall,
            "gavel_wall_s": GAVEL_WALL_S[policy],
            "speedup": GAVEL_WALL_S[policy] / wall,
        }
        print(
            f"{policy:8s} ours {c.avg_jct_s:10.1f} s  Gavel {c.gavel_avg_jct_s:10.1f} s  "
            f"ratio {c.ratio:.3f}  r {c.pearson_r:.3f}  wall {wall:.2f} s"
        )
    results["lp_micro_bench"] = lp_micro_bench()
    print(results["lp_micro_bench"])
    (ROOT / "gavel_results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Gavel's continuous-single workload (36 V100 + 36 P100 + 36 K80, jobs 4,000-4,999
measured): our fluid max-min and FIFO against Gavel's own results, wall and CPU times
(median of 3, each end to end: read the workload, simulate, compare), Gavel's timing and
FIFO code path over 5 seeds (fidelity), and an LP micro-bench (2,000 active jobs x 3
types, median of 21, with the slowest beside it). Writes bench/gavel_results.json.

    OPENBLAS_NUM_THREADS=1 python bench/gavel.py [--repeats N]

Target: the max-min run under 2 s end to end (issue 6); the LP micro-bench's stage 1 (IPM)
under 0.06 s per solve.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpufleet.labs.gavel import (
    GavelComparison,
    compare_with_gavel,
    peer_workload_dir,
    solve_max_min,
)
from gpufleet.labs.gavel.compare import GAVEL_JOB_PREFIX
from gpufleet.labs.gavel.fluid import GAVEL_TIMING, simulate_fluid
from gpufleet.labs.gavel.policies import GavelFifo
from gpufleet.labs.gavel.workload import (
    GAVEL_CLUSTER_GPUS,
    WINDOW,
    load_workload,
    read_gavel_results,
)
from mdblocks import replace_md_block

ROOT = Path(__file__).resolve().parent
GAVEL_WALL_S = {"max-min": 100.81, "fifo": 164.93}
#: Before the warm LP (commit 5753d16: a fresh two-stage HiGHS model at every event), median
#: of 3 on this 2-core AMD EPYC host, OPENBLAS_NUM_THREADS=1 (CPU seconds in brackets).
BEFORE_WALL_S = {"max-min": 19.15, "fifo": 0.73}
BEFORE_CPU_S = {"max-min": 18.08, "fifo": 0.62}
TARGET_WALL_S = 2.0
TARGET_LP_S = 0.06  # one stage-1 IPM solve, 2,000 active jobs on 3 GPU types


def lp_micro_bench(n_jobs: int = 2000, repeats: int = 21) -> dict[str, float]:
    """Median of ``repeats`` solves per variant (21: under load one run in three was seen
    above the target while the machine's quiet runs were well under it; the median of
    many is what the target is judged on, the slowest is reported beside it)."""
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
            key = f"{method}_{'two_stage' if fill else 'stage1'}"
            out[f"{key}_median_s"] = statistics.median(times)
            out[f"{key}_max_s"] = max(times)
    return out


def timed(policy: str, repeats: int) -> tuple[GavelComparison, float, float]:
    """The comparison, and the median wall and CPU seconds of ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        c = compare_with_gavel(peer_workload_dir(), policy)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return c, statistics.median(walls), statistics.median(cpus)


def fidelity(seeds: int) -> dict[str, Any]:
    """Gavel's FIFO as its code runs (``fifo-gavel``) with Gavel's timing (1,920 s gap,
    360 s rounds), under ``seeds`` seeds of its random draws: mean JCT against Gavel's,
    per-job r against Gavel's, and per-job r of seed 0 against each other seed (what
    Gavel's own FIFO agrees with itself); and max-min with Gavel's timing."""
    folder = peer_workload_dir()
    gavel = read_gavel_results(folder)
    ids = gavel["job_id"].astype(np.int64)
    wl = load_workload(folder).prefix(GAVEL_JOB_PREFIX["fifo"])
    window = np.arange(*WINDOW, dtype=np.int64)
    jcts = []
    for seed in range(seeds):
        res = simulate_fluid(wl, GavelFifo(seed), GAVEL_CLUSTER_GPUS, window, GAVEL_TIMING)
        jcts.append(res.jct_s[ids])
    theirs = gavel["fifo"]
    ratios = [float(j.mean() / theirs.mean()) for j in jcts]
    r = [float(np.corrcoef(j, theirs)[0, 1]) for j in jcts]
    self_r = [float(np.corrcoef(jcts[0], j)[0, 1]) for j in jcts[1:]]
    mm = compare_with_gavel(folder, "max-min", GAVEL_TIMING)
    return {
        "seeds": seeds,
        "fifo_gavel_ratio": ratios,
        "fifo_gavel_r": r,
        "fifo_gavel_self_r": self_r,
        "max_min_ratio": mm.ratio,
        "max_min_r": mm.pearson_r,
        "max_min_allocations": mm.allocations,
    }


def results_md(results: dict[str, Any], load: tuple[float, float]) -> list[str]:
    mm, lp = results["max-min"], results["lp_micro_bench"]
    rows = [
        "## Gavel continuous-single, 108 GPUs (`bench/gavel.py`)",
        "",
        f"End to end (read the workload, simulate, compare), median of {mm['repeats']:.0f}, "
        f"OPENBLAS_NUM_THREADS=1; load average (1 min) before/after: {load[0]:.2f}/{load[1]:.2f}.",
        "",
        "| policy | mean JCT ours (s) | Gavel (s) | ours / Gavel | wall s | CPU s "
        "| before: wall s (CPU s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("max-min", "fifo"):
        r = results[name]
        rows.append(
            f"| {name} | {r['ours_avg_jct_s']:,.1f} | {r['gavel_avg_jct_s']:,.1f} "
            f"| {r['ratio']:.3f} | {r['ours_wall_s']:.2f} | {r['ours_cpu_s']:.2f} "
            f"| {r['before_wall_s']:.2f} ({r['before_cpu_s']:.2f}) |"
        )
    met = "yes" if mm["ours_wall_s"] < TARGET_WALL_S else "**no**"
    lp_met = "yes" if lp["ipm_stage1_median_s"] < TARGET_LP_S else "**no**"
    fid = results["fidelity"]
    return [
        *rows,
        "",
        f"- Gavel-faithful timing (1,920 s recompute gap, 360 s rounds): max-min "
        f"{mm_ratio(fid)}; `fifo-gavel` (Gavel's FIFO code path) over {fid['seeds']} seeds of "
        f"its draws: mean JCT / Gavel {spread(fid['fifo_gavel_ratio'])}, per-job r against "
        f"Gavel {spread(fid['fifo_gavel_r'])}, per-job r of seed 0 against the other seeds "
        f"{spread(fid['fifo_gavel_self_r'])}.",
        f"- Target max-min under {TARGET_WALL_S:.0f} s end to end: {mm['ours_wall_s']:.2f} s, "
        f"met: {met} ({mm['allocations']:,.0f} LP solves).",
        f"- LP micro-bench, {lp['n_jobs']:,.0f} active jobs x 3 types, median of 21 "
        f"(slowest in brackets): IPM stage 1 {lp['ipm_stage1_median_s']:.4f} s "
        f"({lp['ipm_stage1_max_s']:.4f}; target under {TARGET_LP_S} s, "
        f"met: {lp_met}); IPM two-stage {lp['ipm_two_stage_median_s']:.4f} s; simplex "
        f"stage 1 {lp['simplex_stage1_median_s']:.4f} s, two-stage "
        f"{lp['simplex_two_stage_median_s']:.4f} s.",
    ]


def spread(xs: list[float]) -> str:
    return f"{min(xs):.3f}-{max(xs):.3f} (median {statistics.median(xs):.3f})"


def mm_ratio(fid: dict[str, Any]) -> str:
    return (
        f"mean JCT / Gavel {fid['max_min_ratio']:.3f}, per-job r {fid['max_min_r']:.3f}, "
        f"{fid['max_min_allocations']:,} recomputes (Gavel: 2,298)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5, help="fifo-gavel seeds (fidelity)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for policy in ("max-min", "fifo"):
        c, wall, cpu = timed(policy, args.repeats)
        results[policy] = {
            "jobs_simulated": GAVEL_JOB_PREFIX[policy],
            "ours_avg_jct_s": c.avg_jct_s,
            "gavel_avg_jct_s": c.gavel_avg_jct_s,
            "ratio": c.ratio,
            "pearson_r": c.pearson_r,
            "pearson_r_log": c.pearson_r_log,
            "allocations": c.allocations,
            "ours_wall_s": wall,
            "ours_cpu_s": cpu,
            "repeats": args.repeats,
            "before_wall_s": BEFORE_WALL_S[policy],
            "before_cpu_s": BEFORE_CPU_S[policy],
            "gavel_wall_s": GAVEL_WALL_S[policy],
            "speedup": GAVEL_WALL_S[policy] / wall,
            "target_wall_s": TARGET_WALL_S if policy == "max-min" else None,
        }
        print(
            f"{policy:8s} ours {c.avg_jct_s:10.1f} s  Gavel {c.gavel_avg_jct_s:10.1f} s  "
            f"ratio {c.ratio:.3f}  r {c.pearson_r:.3f}  wall {wall:.2f} s (cpu {cpu:.2f} s, "
            f"before {BEFORE_WALL_S[policy]:.2f} s)"
        )
    results["fidelity"] = fidelity(args.seeds)
    print(results["fidelity"])
    results["lp_micro_bench"] = lp_micro_bench()
    print(results["lp_micro_bench"])
    load = (load_before, os.getloadavg()[0])
    results["load_avg_before_after"] = list(load)
    (ROOT / "gavel_results.json").write_text(json.dumps(results, indent=2) + "\n")
    replace_md_block(ROOT / "RESULTS.md", "gavel", results_md(results, load))


if __name__ == "__main__":
    main()

"""Every registered policy against fifo, on the same work: issue 16's per-policy table.

    PYTHONPATH=src .venv/bin/python bench/policies_bench.py             # everything
    PYTHONPATH=src .venv/bin/python bench/policies_bench.py --policy kai --policy kueue
    PYTHONPATH=src .venv/bin/python bench/policies_bench.py --scaled slurm-backfill=20000

Two workloads, each run under fifo and under every policy of ``gpufleet policies``:

- **article**: ``examples/article-tesla-xai.yaml`` under ``--policy P``, what ``gpufleet
  simulate`` computes (loading the YAML included): about 12,000 jobs of 64-4,096 GPUs on
  32,000 H100 in two companies' cohorts, ten months;
- **synthetic**: ``synthetic_scenario(jobs, gpus, policy=P, load=1.0, seed=1)`` (bench/README.md,
  "The cases"), by default 100,000 jobs on 10,000 GPUs. ``--scaled P=JOBS`` runs policy P on
  JOBS jobs and JOBS / 10 GPUs instead (for a policy too slow for the full size today); fifo
  then runs at that size too, so its ratio compares the same work.

One fresh process per run (``bench/worker.py``, pinned to one CPU), one at a time, the
median of ``--repeats``. Each run reports its CPU time (``time.process_time``) beside its
wall time: on a machine shared with other work (this project's: 2 cores, several sessions)
the wall time measures the neighbours as much as the code, the CPU time much less so.
``ratio_to_fifo`` is the policy's CPU time over fifo's on the same workload in the same
invocation; the target is at most 3. Writes
``bench/policies_results.json`` and the ``policies`` block of ``bench/RESULTS.md``
(``bench/mdblocks.py``). ``make bench`` (``bench/run.py``) runs the same table through
:func:`run_policies` in its own run, with a 900 s timeout per run; this script is for
running it, or part of it, alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from mdblocks import replace_md_block

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "worker.py"
TARGET_RATIO = 3.0
SLURM_ARTICLE_TARGET_S = 10.0
DEFAULT_JOBS = 100_000


def registered_policies() -> list[str]:
    from gpufleet.policies.registry import available_policies

    return [name for name, _, _ in available_policies()]


def run_worker(spec: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    """One measurement in a fresh process; None when it ran past ``timeout_s``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, str(WORKER), json.dumps(spec)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}) on {spec}:\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def measure(spec: dict[str, Any], repeats: int, timeout_s: float, label: str) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    for i in range(repeats):
        s = run_worker(spec, timeout_s)
        if s is None:
            print(f"{label} {i + 1}/{repeats}: over {timeout_s:.0f} s, stopped", flush=True)
            return {"spec": spec, "timed_out_s": timeout_s, "samples": samples}
        s["events_per_cpu_s"] = s["events"] / s["cpu_s"]
        print(
            f"{label} {i + 1}/{repeats}: {s['cpu_s']:.2f} s CPU, {s['wall_s']:.2f} s wall, "
            f"{s['events_per_cpu_s'] / 1e3:,.1f}k events per CPU-second",
            flush=True,
        )
        samples.append(s)
    med = {
        k: statistics.median(x[k] for x in samples)
        for k in ("cpu_s", "wall_s", "events_per_cpu_s", "events", "cycles")
    }
    return {"spec": spec, "median": med, "samples": samples}


def specs(policy: str, jobs: int) -> dict[str, dict[str, Any]]:
    synthetic = {"kind": "synthetic", "jobs": jobs, "gpus": jobs // 10, "policy": policy}
    return {
        "article": {"kind": "article", "policy": policy},
        "synthetic": {**synthetic, "load": 1.0, "seed": 1},
    }


def table(results: dict[str, Any]) -> list[str]:
    """The Markdown rows: per policy, per workload, wall, events/s and the ratio to fifo."""
    rows = [
        "| policy | article: CPU | wall | events/s | x fifo | synthetic: jobs x GPUs | CPU "
        "| wall | events/s | x fifo |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, per in results["policies"].items():
        cells = [name]
        for work in ("article", "synthetic"):
            m = per.get(work)
            if m is None:
                cells += [""] * (5 if work == "synthetic" else 4)
                continue
            if work == "synthetic":
                cells.append(f"{m['spec']['jobs']:,} x {m['spec']['gpus']:,}")
            if "median" not in m:
                cells += ["", f"> {m['timed_out_s']:.0f} s", "", ""]
                continue
            ratio = m.get("ratio_to_fifo")
            cells += [
                f"{m['median']['cpu_s']:.2f} s",
                f"{m['median']['wall_s']:.2f} s",
                f"{m['median']['events_per_cpu_s'] / 1e3:,.1f}k",
                "" if ratio is None else f"{ratio:.2f}",
            ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def add_ratios(results: dict[str, Any]) -> None:
    fifo = results["fifo"]
    for per in results["policies"].values():
        for work, m in per.items():
            base = fifo.get(f"{work}-{m['spec'].get('jobs', 0)}")
            if "median" in m and base is not None and "median" in base:
                m["ratio_to_fifo"] = m["median"]["cpu_s"] / base["median"]["cpu_s"]


def summary(results: dict[str, Any]) -> list[str]:
    ratios = [
        (m["ratio_to_fifo"], f"{name} ({work})")
        for name, per in results["policies"].items()
        for work, m in per.items()
        if "ratio_to_fifo" in m
    ]
    over = sorted((r, w) for r, w in ratios if r > TARGET_RATIO)
    stopped = [
        f"{name} ({work}) > {m['timed_out_s']:g} s"
        for name, per in results["policies"].items()
        for work, m in per.items()
        if "timed_out_s" in m
    ]
    slurm = results["policies"].get("slurm-multifactor", {}).get("article", {})
    slurm_s = slurm.get("median", {}).get("cpu_s")
    lines = [
        f"Target: every policy within {TARGET_RATIO:g}x of fifo on the same work; "
        f"slurm-multifactor on the article under {SLURM_ARTICLE_TARGET_S:g} s.",
        "",
        f"- over {TARGET_RATIO:g}x: "
        + (", ".join(f"{w} {r:.1f}x" for r, w in over) if over else "none"),
    ]
    if stopped:  # a run stopped at the timeout has no ratio, and is over by any measure
        lines.append("- stopped unfinished, so not within 3x: " + ", ".join(stopped))
    if slurm_s is not None:
        met = "met" if slurm_s < SLURM_ARTICLE_TARGET_S else "missed"
        lines.append(f"- slurm-multifactor on the article: {slurm_s:.2f} s of CPU ({met})")
    return lines


def markdown(results: dict[str, Any], part_of: str | None = None) -> list[str]:
    """The ``policies`` block; ``part_of`` names the command whose run this table is part
    of (``make bench``'s), else the block says it came from this script alone."""
    m = results["machine"]
    source = f"in {part_of}" if part_of else "`bench/policies_bench.py`"
    return [
        f"## Every policy against fifo ({source})",
        "",
        f"Run {results['generated_at']} at commit {str(results['git']['commit'])[:10]}"
        f"{' (dirty)' if results['git']['dirty'] else ''}, "
        f"{m['cpu_count']} CPUs, load average {results['load_average_1m']['before']} before, "
        f"{results['load_average_1m']['after']} after; medians of {results['repeats']}, one "
        "process per run on one CPU. CPU is the run's process time (`time.process_time`), "
        "wall its elapsed time: on a machine shared with other work the CPU time is the "
        "figure that compares, so events/s (events per CPU-second) and `x fifo` (CPU time "
        "over fifo's on the same workload in this run) use it. article: "
        "`examples/article-tesla-xai.yaml` end to end (loading included); synthetic: "
        "`synthetic_scenario(jobs, jobs / 10 GPUs, load=1.0, seed=1)`.",
        "",
        *table(results),
        "",
        *summary(results),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="every policy against fifo (bench/README.md)")
    ap.add_argument("--policy", action="append", help="only this policy (repeat); default all")
    ap.add_argument("--repeats", type=int, default=1, help="runs per case (default 1)")
    ap.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="synthetic jobs (GPUs: /10)")
    ap.add_argument(
        "--scaled",
        action="append",
        default=[],
        metavar="POLICY=JOBS",
        help="run POLICY's synthetic case at JOBS jobs (fifo too, for its ratio)",
    )
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run (default 600)")
    ap.add_argument("--skip", action="append", default=[], help="workload to leave out")
    ap.add_argument("--out", type=Path, default=HERE / "policies_results.json")
    ap.add_argument("--md", type=Path, help="summary (default: RESULTS.md next to --out)")
    args = ap.parse_args(argv)
    try:
        args.scaled = {k: int(v) for k, v in (s.split("=", 1) for s in args.scaled)}
    except ValueError:
        ap.error("--scaled takes POLICY=JOBS, e.g. slurm-backfill=20000")
    return args


Progress = Callable[[dict[str, Any]], None]


def run_policies(
    names: list[str],
    jobs: int,
    repeats: int,
    timeout_s: float,
    skip: Collection[str] = (),
    scaled: Mapping[str, int] | None = None,
    written: Progress | None = None,
) -> dict[str, Any]:
    """fifo, then each of ``names``, on each workload not in ``skip`` (the module
    docstring); ``written(results)`` after each policy, so that a long run stopped part way
    keeps what it measured. ``bench/run.py`` calls this for ``make bench``'s table."""
    from run import git_info, load_average, machine

    scaled = scaled or {}
    t0 = time.perf_counter()
    load_before = load_average()
    sizes = sorted({jobs, *(scaled.get(p, jobs) for p in names)})
    fifo: dict[str, Any] = {}
    for size in sizes:
        for work, spec in specs("fifo", size).items():
            key = f"{work}-{size if work == 'synthetic' else 0}"
            if work in skip or key in fifo:
                continue
            fifo[key] = measure(spec, repeats, timeout_s, f"fifo {work} {size:,}")
    policies: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for name in names:
        size = scaled.get(name, jobs)
        policies[name] = {
            work: measure(spec, repeats, timeout_s, f"{name} {work}")
            for work, spec in specs(name, size).items()
            if work not in skip
        }
        results = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "git": git_info(),
            "repeats": repeats,
            "timeout_s": timeout_s,
            "load_average_1m": {"before": load_before, "after": load_average()},
            "fifo": fifo,
            "policies": {"fifo": {w.split("-")[0]: m for w, m in fifo.items()}, **policies},
            "complete": name == names[-1],
        }
        add_ratios(results)
        results["bench_wall_s"] = round(time.perf_counter() - t0, 1)
        if written is not None:
            written(results)
    return results


def write(results: dict[str, Any], out: Path, md: Path, part_of: str | None = None) -> None:
    """``policies_results.json`` and the ``policies`` block of ``RESULTS.md``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    replace_md_block(md, "policies", markdown(results, part_of))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.policy or [p for p in registered_policies() if p != "fifo"]
    if not names:
        raise SystemExit("--policy: nothing to compare with fifo")
    md = args.md or args.out.with_name("RESULTS.md")
    results = run_policies(
        names,
        args.jobs,
        args.repeats,
        args.timeout,
        args.skip,
        args.scaled,
        lambda r: write(r, args.out, md),
    )
    print(f"wrote {args.out} and {md} in {results['bench_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

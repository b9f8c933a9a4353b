"""Issue 14 item 9: ``trace info``, ``trace convert`` and ``replay --policy fifo`` on a
2-million-row CSV, timed end to end as the user runs them (a fresh ``gpufleet`` process
each), with the peak resident memory of that process.

One command::

    .venv/bin/python bench/trace_scale.py                  # 2,000,000 rows
    .venv/bin/python bench/trace_scale.py --rows 200000 --out /tmp/t.json

The CSV is generated (seeded) into a temporary folder, never into the repository, in the
normalized workload's columns (``submit_s,start_s,duration_s,gpus,gpu_type,cpus,
memory_gb,queue,user,status,job_id``) and read with ``--map`` as any plain CSV is:

- arrivals: a Poisson process, 8 s apart on average (2M jobs over about 185 days),
  relative seconds; ``start_s`` a recorded wait after the submit (log-normal);
- GPUs: Philly-like sizes, 8% CPU-only (0), 62% 1, 10% 2, 11% 4, 7% 8, 1.5% 16, 0.5% 32;
- durations: log-normal (median 10 min, sigma 1.6), capped at 14 days; 1% unknown
  (empty, a job still running);
- GPU type: ``V100`` for 70% of jobs, none for the rest; queues: 24 with Zipf-like
  weights; users: 600; status: Completed 80%, Failed 12%, Killed 8%; cpus and memory_gb
  scale with GPUs.

Replay runs on ``--gpus 640`` (80 nodes of 8 GPUs): about 90% of the fleet is busy, so
queues form but do not grow without bound.

Each command runs in its own process, started here and reaped with ``os.wait4``, whose
``ru_maxrss`` is that process's peak RSS alone. The results file holds every figure with the
targets (``trace info`` under 5 s and 300 MB, ``replay fifo`` under 30 s and 500 MB on 2M
rows); ``--baseline-src`` runs the same commands on another checkout's ``src`` in the same
invocation (the figures before a change), so that both sets come from the same machine state.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
COLUMNS = (
    "submit_s",
    "start_s",
    "duration_s",
    "gpus",
    "gpu_type",
    "cpus",
    "memory_gb",
    "queue",
    "user",
    "status",
    "job_id",
)
MAP = ",".join(
    f"{f}={c}"
    for f, c in (
        ("submit", "submit_s"),
        ("start", "start_s"),
        ("duration", "duration_s"),
        ("gpus", "gpus"),
        ("gpu_type", "gpu_type"),
        ("cpus", "cpus"),
        ("memory_gb", "memory_gb"),
        ("queue", "queue"),
        ("user", "user"),
        ("status", "status"),
        ("job_id", "job_id"),
    )
)
SIZES = (0, 1, 2, 4, 8, 16, 32)
SIZE_P = (0.08, 0.62, 0.10, 0.11, 0.07, 0.015, 0.005)
FLEET_GPUS = 640
TARGETS = {  # issue 14 item 9, for 2M rows
    "info": {"wall_s": 5.0, "peak_rss_mb": 300.0},
    "replay_fifo": {"wall_s": 30.0, "peak_rss_mb": 500.0},
}


def generate(path: Path, rows: int, seed: int = 14) -> None:
    """Write ``rows`` jobs to ``path`` in chunks (the generator's memory stays small)."""
    rng = np.random.default_rng(seed)
    queues = np.array([f"team-{i:02d}" for i in range(24)], dtype=object)
    qw = 1.0 / np.arange(1, 25) ** 1.1
    users = np.array([f"user{i:03d}" for i in range(600)], dtype=object)
    statuses = np.array(["Completed", "Failed", "Killed"], dtype=object)
    t = 0.0
    chunk = 100_000
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            submit = t + np.cumsum(rng.exponential(8.0, n))
            t = float(submit[-1])
            submit = np.round(submit, 1)
            wait = np.round(rng.lognormal(4.0, 2.0, n), 1)
            dur = np.minimum(np.round(rng.lognormal(np.log(600), 1.6, n)), 14 * 86_400.0)
            gpus = rng.choice(SIZES, n, p=SIZE_P)
            gtype = np.where(rng.random(n) < 0.7, "V100", "")
            queue = queues[rng.choice(24, n, p=qw / qw.sum())]
            user = users[rng.integers(0, 600, n)]
            status = statuses[rng.choice(3, n, p=(0.8, 0.12, 0.08))]
            unknown = rng.random(n) < 0.01
            cpus = np.maximum(1, gpus * 6)
            mem = np.maximum(4, gpus * 48)
            lines = []
            for i in range(n):
                d = "" if unknown[i] else f"{dur[i]:.0f}"
                lines.append(
                    f"{submit[i]:.1f},{submit[i] + wait[i]:.1f},{d},{gpus[i]},{gtype[i]},"
                    f"{cpus[i]},{mem[i]},{queue[i]},{user[i]},{status[i]},j{lo + i}\n"
                )
            fh.write("".join(lines))


def measure(src: Path, argv: list[str], cwd: Path) -> dict[str, Any]:
    """One ``gpufleet`` process: wall seconds, peak RSS, exit status, its output's tail."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # imports from cached bytecode, as installed
    out = cwd / "stdout.txt"
    t0 = time.perf_counter()
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gpufleet.cli", *argv],
            cwd=cwd,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text(encoding="utf-8", errors="replace")
    return {
        "argv": argv,
        "wall_s": round(wall, 2),
        "cpu_s": round(
            usage.ru_utime + usage.ru_stime, 2
        ),  # what a shared machine's load skews less
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is KiB on Linux
        "exit": proc.returncode,
        "output_tail": text[-600:],
    }


def commands(csv: Path, tmp: Path) -> dict[str, list[str]]:
    src = ["--map", MAP, "--time-format", "relative-seconds"]
    return {
        "info": ["trace", "info", str(csv), *src, "--json"],
        "convert": ["trace", "convert", str(csv), str(tmp / "out.parquet"), *src, "--json"],
        "replay_fifo": [
            "replay",
            str(csv),
            *src,
            "--policy",
            "fifo",
            "--gpus",
            str(FLEET_GPUS),
            "--json",
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--out", type=Path, default=HERE / "trace_scale_results.json")
    ap.add_argument("--only", action="append", choices=["info", "convert", "replay_fifo"])
    ap.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout's src folder: its figures are measured too, in this run",
    )
    ap.add_argument("--keep", type=Path, help="generate the CSV here (kept) instead of a temp dir")
    args = ap.parse_args()
    arms = {"this": HERE.parent / "src"}
    if args.baseline_src:
        arms = {"baseline": args.baseline_src.resolve(), **arms}
    git = _git()  # the code measured: taken before the run, which may outlast an edit
    with tempfile.TemporaryDirectory(prefix="gpufleet-trace-scale-") as d:
        tmp = Path(d)
        csv = (args.keep or tmp) / f"jobs-{args.rows}.csv"
        t0 = time.perf_counter()
        if not csv.exists():
            generate(csv, args.rows)
        gen_s = time.perf_counter() - t0
        cmds = commands(csv, tmp)
        for src in arms.values():  # writes each arm's bytecode cache before anything is timed
            measure(src, ["--help"], tmp)
        results: dict[str, dict[str, Any]] = {arm: {} for arm in arms}
        for name, argv in cmds.items():
            if args.only and name not in args.only:
                continue
            for arm, src in arms.items():  # the arms alternate, so load skews both alike
                r = measure(src, argv, tmp)
                results[arm][name] = r
                print(
                    f"{arm:9s} {name:12s} {r['wall_s']:8.2f} s wall {r['cpu_s']:8.2f} s CPU "
                    f"{r['peak_rss_mb']:8.1f} MB exit {r['exit']}",
                    flush=True,
                )
        size_mb = csv.stat().st_size / 1e6
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "generate_s": round(gen_s, 1),
        "fleet_gpus": FLEET_GPUS,
        "targets_for_2M_rows": TARGETS,
        "met": _met(results.get("this", {}), args.rows),
        "results": results,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m": os.getloadavg()[0],
        },
        "git": git,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _met(res: dict[str, Any], rows: int) -> dict[str, bool | None]:
    if rows != 2_000_000:
        return {}
    out: dict[str, bool | None] = {}
    for name, limits in TARGETS.items():
        for k, limit in limits.items():
            out[f"{name}.{k}"] = res[name][k] <= limit if name in res else None
    return out


def _git() -> dict[str, Any]:
    def run(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=HERE, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


if __name__ == "__main__":
    raise SystemExit(main())

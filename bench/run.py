"""The benchmark harness: one command writes ``bench/results.json`` and ``bench/RESULTS.md``.

    .venv/bin/python bench/run.py             # everything (about 55 minutes; also `make bench`)
    .venv/bin/python bench/run.py --quick     # 10k and 100k jobs, one repeat: a smoke test
    .venv/bin/python bench/run.py --only whatif-article-2x10-seeds   # named cases only
    .venv/bin/python bench/run.py --compiled --skip policies          # and the mypyc core

Performance targets live here, never in unit tests: a unit test that times code fails on a
busy machine and passes on a fast one, and says nothing either way.

How it measures, and why:

1. Plan. Every measurement is a *case* (a JSON spec for ``bench/worker.py``) with a number
   of repeats: 3 by default, 1 for the 1M-job runs and the sweeps (half a minute each).
2. Run. Each repeat runs in a fresh Python process, one at a time, pinned to one CPU (the
   2-worker sweep: two), so peak RSS belongs to that run alone and runs do not slow each
   other down.
3. Baseline. After the simulations, a bare heapq event loop runs as many events as the
   largest simulation did, on the same machine in the same session; ratios against it
   cancel most of the machine's speed out of the comparison.
4. Limit. The pure-Python limit (``bench/fifo_limit.py``: a minimal strict-FIFO simulator
   over the same jobs) runs at the headline sizes, as cases of their own.
5. Compiled (``--compiled``). The mypyc core is built in a temporary copy of ``src`` (the
   work tree's is never touched) and fifo and drf run on it at the largest size.
6. Policies. Every registered policy and fifo on the article and the 100k-job synthetic
   fleet (``bench/policies_bench.py``'s functions), each run stopped after
   ``--policy-timeout`` seconds and shown as ``> S s``.
7. Report. Medians of the repeats, derived figures (targets, ratios, growth curve) by
   :mod:`figures`, machine and commit, to JSON and a short Markdown summary; the policies'
   table goes to ``policies_results.json`` and the ``policies`` block of the summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figures import build_sections, markdown, size_label
from mdblocks import with_kept_blocks
from policies_bench import registered_policies, run_policies
from policies_bench import write as write_policies

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "worker.py"
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
LARGE_JOBS = 100_000  # runs with more jobs than this default to --repeats-large
MAIN_JOBS = (100_000, 1_000_000)  # the headline runs, both policies
POLICIES = ("fifo", "drf")
IDLE_JOBS = 100_000  # the 10x-fleet run: this many jobs on as many GPUs
HEAP_PENDING = 16_384  # about the jobs running at once in the 1M-job run
HEAP_FALLBACK_EVENTS = 2_000_000
WHATIF_SEEDS = 10  # the article's what-if: its 2 variants (keep, move) x 10 seeds
SWEEP_WORKERS = (1, 2)  # the 48-cell sweep on 1 and on 2 local worker processes
CHILD_TIMEOUT_S = 1_800.0
STEPS = ("engine", "limit", "policies")  # what --skip may leave out
POLICY_JOBS, QUICK_POLICY_JOBS = 100_000, 1_000  # the per-policy table's synthetic fleet
POLICY_TIMEOUT_S = 900.0
PART_OF = "this `bench/run.py` run, whose header is at the top"


@dataclass(frozen=True)
class Case:
    """One measurement: what the worker runs, and how many times."""

    name: str
    spec: dict[str, Any]
    repeats: int


def synthetic_case(jobs: int, gpus: int, policy: str, load: float, repeats: int) -> Case:
    name = f"{policy}-{size_label(jobs)}-jobs-{size_label(gpus)}-gpus"
    if load != 1.0:
        name += f"-load{load:g}"
    spec = {"kind": "synthetic", "jobs": jobs, "gpus": gpus, "policy": policy, "load": load}
    return Case(name, {**spec, "seed": 1}, repeats)


def limit_case(jobs: int, gpus: int, repeats: int) -> Case:
    name = f"fifo-limit-{size_label(jobs)}-jobs-{size_label(gpus)}-gpus"
    spec = {"kind": "fifo-limit", "jobs": jobs, "gpus": gpus, "load": 1.0, "seed": 1}
    return Case(name, spec, repeats)


def plan(quick: bool, repeats: int, repeats_large: int, skip: tuple[str, ...] = ()) -> list[Case]:
    """Growth curve (fifo, GPUs = jobs / 10), both policies at the headline sizes, the
    10x-fleet run, the article demo (step ``engine``); the pure-Python limit at the
    headline sizes (step ``limit``). Duplicates (a growth point that is also a headline
    run) are measured once."""
    sizes = QUICK_SIZES if quick else FULL_SIZES

    def reps(jobs: int) -> int:
        return repeats_large if jobs > LARGE_JOBS else repeats

    limit = [limit_case(j, j // 10, reps(j)) for j in MAIN_JOBS if j in sizes]
    if "engine" in skip:
        return [] if "limit" in skip else limit
    cases = [synthetic_case(j, j // 10, "fifo", 1.0, reps(j)) for j in sizes]
    for jobs in (j for j in MAIN_JOBS if j in sizes):
        cases += [synthetic_case(jobs, jobs // 10, p, 1.0, reps(jobs)) for p in POLICIES]
    cases.append(synthetic_case(IDLE_JOBS, IDLE_JOBS, "fifo", 0.1, reps(IDLE_JOBS)))
    cases.append(Case("demo", {"kind": "demo"}, repeats))
    if "limit" not in skip:
        cases += limit
    if not quick:
        cases += whatif_cases(repeats, repeats_large)
        cases += trace_cases(repeats)
        cases += cycle_cases(repeats)
    unique = {c.name: c for c in cases}
    return list(unique.values())


def whatif_cases(repeats: int, repeats_large: int) -> list[Case]:
    """The article's what-if (2 variants x 10 seeds, one core) and the 48-cell sweep on 1
    and 2 local workers (each worker on its own CPU), one seed per cell."""
    spec = {"kind": "whatif", "variants": ["keep", "move"], "seeds": WHATIF_SEEDS}
    cases = [Case(f"whatif-article-2x{WHATIF_SEEDS}-seeds", spec, repeats)]
    for w in SWEEP_WORKERS:
        spec = {"kind": "sweep", "seeds": 1, "workers": w, "cpus": w}
        cases.append(Case(f"sweep-48-cells-{w}-worker{'s' if w > 1 else ''}", spec, repeats_large))
    return cases


def trace_cases(repeats: int) -> list[Case]:
    """Parsing 1,000,000-row exports (target < 10 s, < 2 GiB) and replaying Philly's 82k
    jobs on its 2,490 GPUs (target < 5 s each, FIFO and fair share). The replays need the
    public traces ($GPUFLEET_TRACES); without them those cases are left out."""
    cases = [
        Case(f"parse-1M-{f}", {"kind": "parse", "format": f, "rows": 1_000_000}, repeats)
        for f in ("sacct", "csv")
    ]
    traces = Path(os.environ.get("GPUFLEET_TRACES", str(ROOT.parent / "shared" / "traces")))
    if (traces / "philly-2017").is_dir():
        cases += [
            Case(
                f"replay-philly-2017-{p}",
                {"kind": "replay", "trace": "philly-2017", "policy": p},
                repeats,
            )
            for p in ("fifo", "drf")
        ]
    return cases


def cycle_cases(repeats: int) -> list[Case]:
    """One scheduling cycle with 10,000 jobs pending on a full 100k-GPU fleet, per policy
    (300 cycles each; median and p99 of the cycle alone; target p99 < 50 ms)."""
    return [
        Case(
            f"cycle-100k-gpus-10k-pending-{p}",
            {"kind": "cycle", "gpus": 100_000, "pending": 10_000, "policy": p, "cycles": 300},
            repeats,
        )
        for p in ("fifo", "fifo-backfill", "priority", "drf", "quota")
    ]


def only(cases: list[Case], names: list[str]) -> list[Case]:
    """The named cases, in plan order; every name must be a case."""
    known = {c.name for c in cases}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"--only: unknown case(s) {', '.join(unknown)}; cases: {', '.join(known)}")
    return [c for c in cases if c.name in names]


def heap_case(measured: dict[str, dict[str, Any]], repeats: int) -> Case:
    """The bare loop runs as many events as the largest simulation produced."""
    sims = [m for m in measured.values() if m["spec"]["kind"] == "synthetic"]
    events = max((int(m["median"]["events"]) for m in sims), default=HEAP_FALLBACK_EVENTS)
    spec = {"kind": "heap", "events": events, "pending": HEAP_PENDING, "seed": 1}
    return Case("bare-heap", spec, repeats)


def run_worker(spec: dict[str, Any], env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, str(WORKER), json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}) on {spec}:\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def median_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric field; other fields (lists, names) from the first sample."""
    out: dict[str, Any] = {}
    for key, first in samples[0].items():
        numeric = isinstance(first, int | float) and not isinstance(first, bool)
        out[key] = statistics.median(s[key] for s in samples) if numeric else first
    return out


def measure(case: Case, step: str, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    samples = []
    for i in range(case.repeats):
        t0 = time.perf_counter()
        s = run_worker(case.spec, env_extra)
        took = time.perf_counter() - t0
        eps = f", {s['events_per_s'] / 1e3:,.0f}k events/s" if "events_per_s" in s else ""
        rss = f", peak RSS {s['peak_rss_mib']:,.0f} MiB"
        print(f"{step} {case.name} {i + 1}/{case.repeats}: {s['wall_s']:.2f} s{eps}{rss}")
        print(f"{'':>{len(step)}} (process total {took:.2f} s)", flush=True)
        samples.append(s)
    return {
        "spec": case.spec,
        "repeats": case.repeats,
        "median": median_of(samples),
        "samples": samples,
    }


def _compile_core() -> Any:
    """``scripts/compile_core.py`` as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compile_core", ROOT / "scripts/compile_core.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measure_compiled(jobs: int, repeats: int) -> dict[str, Any]:
    """fifo and drf at ``jobs`` x ``jobs / 10`` on the compiled core, built with mypyc in a
    temporary copy of ``src`` that the workers import (``PYTHONPATH``); the work tree's
    ``src`` is never touched. Without a C compiler or mypyc, or if the build fails, says
    why instead."""
    if shutil.which("cc") is None or not Path(sys.executable).with_name("mypyc").exists():
        why = "no C compiler (cc) or no mypyc next to this Python (the dev extra)"
        print(f"compiled core: skipped, {why}", flush=True)
        return {"skipped": why}
    cc = _compile_core()
    with tempfile.TemporaryDirectory(prefix="gpufleet-compiled-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        print("compiled core: building with mypyc in a temporary copy of src", flush=True)
        try:
            build_s = cc.build(src)
        except cc.BuildFailed as e:
            print(f"compiled core: skipped, the build failed: {e}", flush=True)
            return {"skipped": f"the build failed: {e}"}
        cases: dict[str, dict[str, Any]] = {}
        for i, policy in enumerate(POLICIES, 1):
            case = synthetic_case(jobs, jobs // 10, policy, 1.0, repeats)
            m = measure(case, f"[compiled {i}/{len(POLICIES)}]", {"PYTHONPATH": str(src)})
            if not m["median"].get("compiled"):
                raise RuntimeError(f"{case.name}: the worker did not import the compiled core")
            cases[f"compiled-{case.name}"] = m
    return {"build_s": round(build_s, 1), "modules": list(cc.MODULES), "cases": cases}


def measure_policies(args: argparse.Namespace, md: Path) -> dict[str, Any]:
    """Every registered policy and fifo (``bench/policies_bench.py``), written to
    ``policies_results.json`` beside ``--out`` and the summary's ``policies`` block after
    each policy. ``--quick``: the synthetic fleet only, at 1,000 jobs."""
    names = [p for p in registered_policies() if p != "fifo"]
    out = args.out.with_name("policies_results.json")
    skip = ("article",) if args.quick else ()
    print(
        f"policies: fifo and {len(names)} others, synthetic {args.policy_jobs:,} jobs"
        f"{'' if skip else ' and the article'}, each run stopped after "
        f"{args.policy_timeout:.0f} s",
        flush=True,
    )
    return run_policies(
        names,
        args.policy_jobs,
        1,
        args.policy_timeout,
        skip,
        None,
        lambda r: write_policies(r, out, md, PART_OF),
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
    }


def load_average() -> float | None:
    """Other work on the machine skews every figure; the 1-minute load average shows it."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def git_info() -> dict[str, Any]:
    """The commit measured; ``dirty`` when the working tree differs from it."""

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        except OSError:
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else status != ""}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="gpufleet benchmarks (see bench/README.md)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="10k and 100k jobs only, 1 repeat; the per-policy table at 1,000 jobs, no article",
    )
    ap.add_argument("--repeats", type=int, help="repeats per case up to 100k jobs (default 3)")
    ap.add_argument(
        "--repeats-large", type=int, default=1, help="repeats of the 1M-job runs (default 1)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results.json", help="results JSON")
    ap.add_argument("--md", type=Path, help="summary (default: RESULTS.md next to --out)")
    ap.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        help="run only this case (repeat; bare-heap for the baseline; no policies, no "
        "compiled core); give --out too, or the full results file is replaced by these few",
    )
    ap.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=STEPS,
        help="leave a step out (repeat): engine (every case but the limit's), limit (the "
        "pure-Python limit), policies (the per-policy table)",
    )
    ap.add_argument(
        "--compiled",
        action="store_true",
        help="also build the mypyc core in a temporary copy of src and run fifo and drf on "
        "it at the largest size (skipped, with the reason, without cc or mypyc)",
    )
    ap.add_argument(
        "--policy-timeout",
        type=float,
        default=POLICY_TIMEOUT_S,
        metavar="S",
        help=f"stop a policy's run after S seconds, shown as '> S s' "
        f"(default {POLICY_TIMEOUT_S:.0f})",
    )
    ap.add_argument(
        "--policy-jobs",
        type=int,
        metavar="N",
        help=f"synthetic jobs of the per-policy table, on N / 10 GPUs (default "
        f"{POLICY_JOBS:,}; {QUICK_POLICY_JOBS:,} with --quick)",
    )
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.policy_jobs is None:
        args.policy_jobs = QUICK_POLICY_JOBS if args.quick else POLICY_JOBS
    if args.policy_jobs < 10 or args.policy_timeout <= 0:
        ap.error("--policy-jobs must be at least 10 and --policy-timeout above 0")
    if args.repeats < 1 or args.repeats_large < 1:
        ap.error("--repeats and --repeats-large must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    load_before = load_average()
    skip = tuple(args.skip)
    cases = plan(args.quick, args.repeats, args.repeats_large, skip)
    with_heap = "engine" not in skip and (not args.only or "bare-heap" in args.only)
    if args.only:
        cases = only(cases, [n for n in args.only if n != "bare-heap"])
        skip += ("policies",)
    total = len(cases) + (1 if with_heap else 0)
    print(
        f"gpufleet bench: {total} cases, repeats {args.repeats} "
        f"(1M-job runs: {args.repeats_large}), one process per repeat, one at a time"
        f"{', then the compiled core' if args.compiled and not args.only else ''}"
        f"{', then every policy' if 'policies' not in skip else ''}",
        flush=True,
    )
    measured: dict[str, dict[str, Any]] = {}
    for i, case in enumerate(cases, 1):
        measured[case.name] = measure(case, f"[{i}/{total}]")
    if with_heap:
        heap = heap_case(measured, args.repeats)
        measured[heap.name] = measure(heap, f"[{total}/{total}]")
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    compiled = None
    if args.compiled and not args.only:
        compiled = measure_compiled(max(sizes), args.repeats_large)
    md = args.md or args.out.with_name("RESULTS.md")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    policies = None if "policies" in skip else measure_policies(args, md)
    results = {
        "schema": 1,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "only" if args.only else "quick" if args.quick else "full",
        "skipped": sorted(set(skip)),
        "repeats": {
            "default": args.repeats,
            "large_runs": args.repeats_large,
            "large_runs_are": f"runs with more than {LARGE_JOBS:,} jobs",
            "statistic": "median of the repeats; every sample is kept under cases",
        },
        "machine": machine(),
        "load_average_1m": {"before": load_before, "after": load_average()},
        "git": git_info(),
        **build_sections(measured, sizes, policies, compiled),
        "policies": None if policies is None else "policies_results.json",
        "cases": measured,
        "bench_wall_s": round(time.perf_counter() - t0, 1),
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    md.write_text(with_kept_blocks(md, markdown(results)), encoding="utf-8")
    print(f"wrote {args.out} and {md} in {results['bench_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

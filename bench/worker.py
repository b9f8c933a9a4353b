"""One measurement in a fresh process; ``bench/run.py`` starts one of these per sample.

Why a process per sample: peak RSS (``ru_maxrss``) only ever grows, so it describes one
measurement only when the process did nothing else; and a fresh interpreter keeps one run's
garbage, caches and heap fragmentation out of the next run's time.

Usage (run.py does this; by hand it is useful with ``--profile``)::

    python bench/worker.py '{"kind": "synthetic", "jobs": 100000, "gpus": 10000,
                             "policy": "fifo", "load": 1.0}' [--profile out.prof]

Kinds: ``synthetic`` (one simulation of a synthetic scenario), ``article`` (the article
scenario under one policy, as ``gpufleet simulate``), ``heap`` (the bare heapq event loop
used as the baseline), ``fifo-limit`` (the pure-Python limit: a minimal strict-FIFO
simulator over a synthetic scenario's jobs, ``bench/fifo_limit.py``), ``demo``
(``run_variants`` on the article scenario, what ``gpufleet demo`` runs), ``whatif``
(``gpufleet whatif`` on the article: its variants over seeds) and ``sweep`` (``gpufleet
sweep`` on the article: move size x start month, on ``workers`` local processes), also
``cycle`` and ``parse`` and ``replay`` (their functions say what). The result is one JSON
object on the last line of stdout.
The worker pins itself to ``cpus`` CPUs (default 1; a sweep on 2 workers gets 2).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import heapq
import itertools
import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Measure = Callable[[dict[str, Any]], dict[str, Any]]


def peak_rss_mib() -> float:
    """Peak resident set of this process; Linux reports KiB, macOS bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure_synthetic(spec: dict[str, Any]) -> dict[str, Any]:
    """End to end: build the scenario, set up the simulation, run it, build the result."""
    from gpufleet.inputs.scenario.synthetic import synthetic_scenario
    from gpufleet.sim import simulator
    from gpufleet.sim.simulator import Simulation

    rss_import = peak_rss_mib()
    marks: list[tuple[float, int]] = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    scenario = synthetic_scenario(
        spec["jobs"], spec["gpus"], policy=spec["policy"], load=spec["load"], seed=spec["seed"]
    )
    # the simulator reports progress every 50,000 events: enough to see the cost per cycle
    # late in a run (many finished jobs) against early on, at no measurable cost

    def mark(_fraction: float) -> None:
        marks.append((time.perf_counter(), sim.engine.cycles))

    sim = Simulation(scenario, progress=mark)
    t1 = time.perf_counter()
    marks.append((t1, 0))
    res = sim.run()
    wall_s = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    events, cycles = int(res.run["events"]), int(res.run["cycles"])
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "setup_s": t1 - t0,
        "sim_wall_s": float(res.run["wall_s"]),
        "events": events,
        "cycles": cycles,
        "events_per_s": events / wall_s,
        "jobs_per_s": int(res.summary["jobs_submitted"]) / wall_s,
        "us_per_event": 1e6 * wall_s / events,
        "us_per_cycle": 1e6 * wall_s / cycles,
        "jobs_submitted": int(res.summary["jobs_submitted"]),
        "jobs_finished": int(res.summary["jobs_finished"]),
        "utilisation": float(res.fleet["utilisation"]),
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_import_mib": rss_import,
        "compiled": str(simulator.__file__).endswith(".so"),  # the mypyc core ran
        **within_run(marks),
    }


def within_run(marks: list[tuple[float, int]]) -> dict[str, Any]:
    """Microseconds per cycle between progress reports, and the median over the second half
    of the run against the first half: above 1 when cycles get dearer as jobs finish. The
    last stretch (arrivals over, the queue draining) is in the second half; medians keep
    one odd stretch from deciding."""
    segs = [
        1e6 * (t1 - t0) / (c1 - c0) for (t0, c0), (t1, c1) in itertools.pairwise(marks) if c1 > c0
    ]
    half = len(segs) // 2
    ratio = None
    if half >= 2:
        ratio = statistics.median(segs[half:]) / statistics.median(segs[:half])
    return {"us_per_cycle_by_segment": [round(x, 3) for x in segs], "late_over_early": ratio}


def measure_heap(spec: dict[str, Any]) -> dict[str, Any]:
    """The floor any heap-driven simulator in pure Python stands on.

    The classic *hold model* of event-set benchmarks (Vaucher and Duval, CACM 1975): a heap
    of ``pending`` ``(time, seq)`` tuples; each event pops the earliest and pushes one later
    event, so the heap stays the same size. No model work at all, so simulator events/s
    divided by this figure is the fraction of time the simulator spends on the heap alone.
    """
    events, pending = int(spec["events"]), int(spec["pending"])
    rng = random.Random(spec["seed"])
    steps = [rng.expovariate(1.0) for _ in range(4096)]
    heap = [(rng.random() * pending, i) for i in range(pending)]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    t0 = time.perf_counter()
    for i in range(pending, pending + events):
        t, _ = pop(heap)
        push(heap, (t + steps[i & 4095], i))
    wall_s = time.perf_counter() - t0
    return {
        "wall_s": wall_s,
        "events": events,
        "events_per_s": events / wall_s,
        "us_per_event": 1e6 * wall_s / events,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_fifo_limit(spec: dict[str, Any]) -> dict[str, Any]:
    """The pure-Python limit (``bench/fifo_limit.py``) on ``synthetic_scenario(jobs, gpus,
    load, seed)``'s jobs: the loop is timed, drawing the jobs apart (``generate_s``)."""
    from fifo_limit import measure

    return {**measure(spec), "peak_rss_mib": peak_rss_mib()}


def measure_demo(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``gpufleet demo`` computes: load the article scenario, run every variant."""
    import gpufleet

    t0 = time.perf_counter()
    results = gpufleet.run_variants(gpufleet.load_scenario(gpufleet.article_scenario_path()))
    wall_s = time.perf_counter() - t0
    events = sum(int(r.run["events"]) for r in results.values())
    return {
        "wall_s": wall_s,
        "variants": sorted(results),
        "events": events,
        "events_per_s": events / wall_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_article(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``gpufleet simulate examples/article-tesla-xai.yaml --policy P`` computes: load
    the article scenario, run it under ``policy`` (or its own), build the result. With
    ``"digest": true`` the run is :func:`gpufleet.sim.digest.run_digest`'s instead (every
    launch and halt hashed, a little slower), to check that two builds decide the same."""
    import gpufleet
    from gpufleet.policies.registry import make_policy
    from gpufleet.sim.digest import run_digest
    from gpufleet.sim.simulator import Simulation

    c0 = time.process_time()
    t0 = time.perf_counter()
    sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
    policy = make_policy(spec["policy"]) if spec.get("policy") else None
    if spec.get("digest"):
        return {"digest": run_digest(sc, policy), "wall_s": time.perf_counter() - t0}
    res = Simulation(sc, policy).run()
    wall_s = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    events = int(res.run["events"])
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "sim_wall_s": float(res.run["wall_s"]),
        "events": events,
        "cycles": int(res.run["cycles"]),
        "events_per_s": events / wall_s,
        "jobs_submitted": int(res.summary["jobs_submitted"]),
        "jobs_finished": int(res.summary["jobs_finished"]),
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_whatif(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``gpufleet whatif`` computes on the article: every named variant under
    ``seeds`` seeds, in this process, and the comparison (intervals, charges) built."""
    import gpufleet
    from gpufleet.planning.whatif.compare import compare

    t0 = time.perf_counter()
    sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
    arms = {name: sc.variant(name) for name in spec["variants"]}
    seeds = [sc.seed + i for i in range(spec["seeds"])]
    c = compare(spec["variants"][0], arms, seeds)
    c.to_dict()
    wall_s = time.perf_counter() - t0
    events = sum(int(r.run["events"]) for res in c.results.values() for r in res)
    return {
        "wall_s": wall_s,
        "runs": len(arms) * len(seeds),
        "s_per_run": wall_s / (len(arms) * len(seeds)),
        "events": events,
        "events_per_s": events / wall_s,
        "peak_rss_mib": peak_rss_mib(),
    }


SWEEP_TEMPLATE = "{gpus} H100 tesla->xai@xai-memphis {start}"
SWEEP_GPUS = tuple(range(0, 14_001, 2_000))  # 8 sizes, 0 = no move
SWEEP_STARTS = ("2024-06-15", "2024-07-15", "2024-08-15", "2024-09-15", "2024-10-15", "2024-11-15")


def measure_sweep(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``gpufleet sweep`` computes on the article: 8 move sizes x 6 start months = 48
    cells (the 6 cells of 0 GPUs are one scenario), ``seeds`` seeds, ``workers`` processes.
    Peak RSS is this process's only, not its workers'."""
    import gpufleet
    from gpufleet.planning.sweep import (
        LocalExecutor,
        SweepSpec,
        parse_grid,
        parse_template,
        run_sweep,
    )

    t0 = time.perf_counter()
    sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
    sweep = SweepSpec(
        (parse_template(SWEEP_TEMPLATE),),
        (
            parse_grid("gpus=" + ",".join(map(str, SWEEP_GPUS))),
            parse_grid("start=" + ",".join(SWEEP_STARTS)),
        ),
    )
    seeds = [sc.seed + i for i in range(spec["seeds"])]
    r = run_sweep(sc, sweep, seeds, LocalExecutor(spec["workers"]))
    wall_s = time.perf_counter() - t0
    runs = r.distinct_scenarios * len(seeds)
    return {
        "wall_s": wall_s,
        "cells": len(r.cells),
        "distinct_scenarios": r.distinct_scenarios,
        "runs": runs,
        "s_per_run": wall_s / runs,
        "peak_rss_mib": peak_rss_mib(),
    }


SACCT_FIELDS = "JobID|User|Account|Partition|State|Submit|Start|End|Elapsed|AllocTRES|ReqTRES"


def _write_sacct(path: Path, rows: int) -> None:
    """A realistic export: varied accounts, sizes, types, states and times (one job a
    minute), written in chunks; a job that never started has Unknown start and end."""
    accounts = ("vision", "nlp", "speech", "robotics", "infra")
    with path.open("w", encoding="utf-8") as fh:
        fh.write(SACCT_FIELDS + "\n")
        lines = []
        for i in range(rows):
            s_min, run = i, 60 + (i * 7919) % 86_400
            g = (1, 2, 4, 8, 16)[i % 5]
            submit = f"2024-{1 + (s_min // 43_200) % 12:02d}-{1 + (s_min // 1440) % 28:02d}"
            hh, mm = (s_min // 60) % 24, s_min % 60
            t = f"{submit}T{hh:02d}:{mm:02d}:00"
            kind = ("h100", "a100", "")[i % 3]
            gres = f"gres/gpu={g}" + (f",gres/gpu:{kind}={g}" if kind else "")
            if i % 50 == 0:
                lines.append(
                    f"{i}|u{i % 300}|{accounts[i % 5]}|gpu|PENDING|{t}|Unknown|"
                    f"Unknown|00:00:00||billing=8,cpu=8,{gres},node=1"
                )
            else:
                el = f"{run // 3600:02d}:{run // 60 % 60:02d}:{run % 60:02d}"
                lines.append(
                    f"{i}|u{i % 300}|{accounts[i % 5]}|gpu|COMPLETED|{t}|{t}|{t}|{el}|"
                    f"cpu=8,mem=64G,node=1,billing=8,{gres}|billing=8,cpu=8,{gres}"
                )
            if len(lines) == 50_000:
                fh.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            fh.write("\n".join(lines) + "\n")


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("job_id,created_at,runtime_s,num_gpus,model,team\n")
        fh.writelines(
            f"j{i},{1_700_000_000 + 60 * i},{60 + (i * 7919) % 86_400},"
            f"{(1, 2, 4, 8, 0.5)[i % 5]},{('h100', 'a100', '')[i % 3]},team{i % 40}\n"
            for i in range(rows)
        )


def measure_parse(spec: dict[str, Any]) -> dict[str, Any]:
    """Parse a generated export of ``rows`` rows (generation not timed): a Slurm sacct
    file, or a CSV read with a column map and unix times."""
    import tempfile

    from gpufleet.inputs.traces.registry import load_source
    from gpufleet.inputs.traces.rows import RowPolicy

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("sacct.txt" if spec["format"] == "sacct" else "jobs.csv")
        (_write_sacct if spec["format"] == "sacct" else _write_csv)(path, spec["rows"])
        kwargs: dict[str, str] = {}
        if spec["format"] == "csv":
            kwargs = {
                "column_map": "submit=created_at,duration=runtime_s,gpus=num_gpus,"
                "gpu_type=model,queue=team",
                "time_format": "unix",
            }
        t0 = time.perf_counter()
        w = load_source(str(path), RowPolicy(str(path)), **kwargs)
        wall_s = time.perf_counter() - t0
    return {
        "wall_s": wall_s,
        "rows": len(w),
        "rows_per_s": len(w) / wall_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_replay(spec: dict[str, Any]) -> dict[str, Any]:
    """Replay a public trace (load + simulate) under one policy, as 'gpufleet replay'."""
    from gpufleet.inputs.traces.registry import load_source
    from gpufleet.inputs.traces.replay import to_scenario
    from gpufleet.sim.simulator import Simulation

    t0 = time.perf_counter()
    w = load_source(spec["trace"])
    t_load = time.perf_counter() - t0
    res = Simulation(to_scenario(w, spec["policy"])).run()
    wall_s = time.perf_counter() - t0
    return {
        "wall_s": wall_s,
        "load_s": t_load,
        "jobs": res.summary["jobs_finished"],
        "events": res.run["events"],
        "events_per_s": res.run["events"] / wall_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure_cycle(spec: dict[str, Any]) -> dict[str, Any]:
    """One scheduling cycle on a busy fleet with ``pending`` jobs waiting: the fleet is
    filled, ``pending`` jobs are queued behind, then each measured cycle follows the
    completion of one running job (a fresh job keeps the queue at its size). Only the
    cycle is timed."""
    import random

    from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId
    from gpufleet.domain.jobs import JobSpec
    from gpufleet.engine.timeline import apply_change, timeline
    from gpufleet.inputs.scenario.synthetic import synthetic_scenario
    from gpufleet.sim.simulator import Simulation
    from gpufleet.state.jobs import Job

    sc = synthetic_scenario(1000, spec["gpus"], spec["policy"], programs=16)
    sim = Simulation(sc)
    for c in timeline(sc):  # every change at once, before the measured cycles
        apply_change(sim.engine, dataclasses.replace(c, t_s=0.0))
    engine, state = sim.engine, sim.state
    rng = random.Random(1)
    h100 = (GpuTypeName("H100-SXM"),)
    programs = [p.name for p in state.programs]
    next_id = 0

    def submit(t: float) -> None:
        nonlocal next_id
        prog = programs[next_id % len(programs)]
        gpus = rng.choice((1, 1, 1, 2, 4, 8, 8, 16, 32))
        s = JobSpec(JobId(next_id), ProgramId(prog), t, gpus, 3600.0, h100, checkpoint_s=600.0)
        engine.submit(Job(s, state.program_by_name[prog]))
        next_id += 1

    t = 0.0
    while sum(p.used_gpus for p in state.programs) < 0.97 * spec["gpus"]:
        for _ in range(1000):
            submit(t)
        engine.cycle(t)
    for _ in range(spec["pending"]):
        submit(t)
    engine.cycle(t)
    times = []
    for _ in range(spec["cycles"]):
        t += 1.0
        running = [j for p in state.programs for j in p.running.values()]
        engine.complete(rng.choice(running), t)
        submit(t)
        t0 = time.perf_counter()
        engine.cycle(t)
        times.append(time.perf_counter() - t0)
    times.sort()
    pending = sum(len(p.pending) for p in state.programs)
    return {
        "wall_s": sum(times),
        "median_ms": times[len(times) // 2] * 1e3,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3,
        "pending_after": pending,
        "cycles": len(times),
        "peak_rss_mib": peak_rss_mib(),
    }


KINDS: dict[str, Measure] = {
    "article": measure_article,
    "cycle": measure_cycle,
    "parse": measure_parse,
    "replay": measure_replay,
    "synthetic": measure_synthetic,
    "heap": measure_heap,
    "fifo-limit": measure_fifo_limit,
    "demo": measure_demo,
    "whatif": measure_whatif,
    "sweep": measure_sweep,
}


def pin_to_cores(n: int = 1) -> list[int] | None:
    """The targets are for one core: keep this process (and any helper threads) on one CPU,
    or on ``n`` CPUs for a run that is meant to use that many (a sweep's workers inherit
    the set)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))[-n:]
    os.sched_setaffinity(0, set(cpus))
    return cpus


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", help="the measurement as a JSON object (see the module docstring)")
    ap.add_argument("--profile", help="also write a cProfile of the measurement to this file")
    args = ap.parse_args(argv)
    spec = json.loads(args.spec)
    measure = KINDS.get(spec.get("kind", ""))
    if measure is None:
        ap.error(f"unknown kind {spec.get('kind')!r}; valid kinds: {', '.join(KINDS)}")
    cpus = pin_to_cores(int(spec.get("cpus", 1)))
    if args.profile:
        prof = cProfile.Profile()
        out = prof.runcall(measure, spec)
        prof.dump_stats(args.profile)
    else:
        out = measure(spec)
    out["cpu"] = cpus[0] if cpus and len(cpus) == 1 else cpus
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Forecast from a synthetic live state of 10,000 pending and 5,000 running jobs (issue 12's
benchmark: aim under 5 s).

    .venv/bin/python bench/forecast_bench.py [--pending 10000] [--running 5000] [--repeat 3]
        [--policy slurm-backfill] [--label "before: "]

The state, seeded (:mod:`gpufleet.live.synthetic`): 1,250 nodes of 8 H100 in one partition;
5,000 running jobs of 2 GPUs fill them (elapsed 0-2 h of a 1-24 h limit); 10,000 pending
jobs of 1, 2, 4 or 8 GPUs from 20 accounts (one capped at 64 GPUs), submitted over the
last 6 hours with limits of 1-24 h; the dev cluster's scheduler configuration
(sched/backfill, multifactor weights).
Times are the whole ``forecast_from_state`` (building the run, the simulation to its
last start, reading it back), median of ``--repeat``: wall-clock seconds and the process's
CPU seconds (steadier on a shared machine). Each run also times ``fifo`` on the same state,
interleaved with the policy's repeats, and reports the policy's median over fifo's
(``ratio_to_fifo``, wall and CPU). Each (policy, size) is one entry of
bench/forecast_results.json; a run replaces its own entry and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpufleet.domain.scenario import PolicySpec
from gpufleet.live.forecast import SlurmState, forecast_from_state
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.mapping import parse_mapping
from gpufleet.live.synthetic import MAPPING, NOW, synthetic_state
from gpufleet.policies.registry import POLICIES


def _spec(state: SlurmState, name: str) -> PolicySpec:
    """The cluster's policy, or ``name`` with those of the cluster's options it declares."""
    spec = choose_policy(state.config, slurm_fairshare=True).spec
    if not name or name == spec.name:
        return spec
    declared = POLICIES.get(name).options
    return PolicySpec(name, tuple((k, v) for k, v in spec.options if k in declared))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pending", type=int, default=10_000)
    ap.add_argument("--running", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policy", default="", help="another Slurm policy (default: the cluster's)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "forecast_results.json"))
    ap.add_argument("--label", default="", help="prefix of the entry's key (e.g. another tree's)")
    args = ap.parse_args()
    state = synthetic_state(args.pending, args.running)
    mapping = parse_mapping(MAPPING, "<bench mapping>")
    spec = _spec(state, args.policy)
    base = PolicySpec("fifo", ())
    walls: list[float] = []
    cpus: list[float] = []
    base_walls: list[float] = []
    base_cpus: list[float] = []
    for _ in range(args.repeat):
        for pol, w, c in ((spec, walls, cpus), (base, base_walls, base_cpus)):
            t0, c0 = time.perf_counter(), time.process_time()
            f = forecast_from_state(state, mapping, NOW, horizon=timedelta(days=365), policy=pol)
            w.append(time.perf_counter() - t0)
            c.append(time.process_time() - c0)
            if pol is spec:
                forecast = f
    started = sum(1 for j in forecast.pending if j.start is not None)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    base_wall, base_cpu = statistics.median(base_walls), statistics.median(base_cpus)
    result = {
        "pending": args.pending,
        "running": args.running,
        "nodes": len(state.nodes),
        "policy": forecast.policy.name,
        "started_by_horizon": started,
        "last_start": max((j.start for j in forecast.pending if j.start), default=NOW).isoformat(),
        "wall_s_median": round(wall, 3),
        "wall_s_all": [round(w, 3) for w in walls],
        "cpu_s_median": round(cpu, 3),
        "fifo_wall_s_median": round(base_wall, 3),
        "fifo_cpu_s_median": round(base_cpu, 3),
        "ratio_to_fifo": round(wall / base_wall, 2),
        "cpu_ratio_to_fifo": round(cpu / base_cpu, 2),
        "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    out = Path(args.out)
    kept = json.loads(out.read_text()) if out.is_file() else {}
    kept[f"{args.label}{forecast.policy.name} {args.pending}/{args.running}"] = result
    out.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result))  # the bench's own report (a script, not the library)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

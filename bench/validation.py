"""Regenerate docs/validation.md: our figures for each public trace beside the published ones.

    .venv/bin/python bench/validation.py        (or: make validation)

Reads the traces through $GPUFLEET_TRACES (default ../shared/traces). Every replay here is
deterministic, so the document only changes when the code or the traces do.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpufleet.inputs.traces.info import summarize
from gpufleet.inputs.traces.loaders import acme, helios, openb
from gpufleet.inputs.traces.registry import load_source, traces_root
from gpufleet.inputs.traces.replay import to_scenario
from gpufleet.inputs.traces.workload import FleetGroup, Workload
from gpufleet.sim.result import SimResult
from gpufleet.sim.simulator import Simulation
from mdblocks import replace_md_block

POLICIES = ("fifo", "fifo-backfill", "drf", "quota")


def replay(w: Workload, policy: str, **kw: Any) -> SimResult:
    return Simulation(to_scenario(w, policy, **kw)).run()


def n(x: float, nd: int = 0) -> str:
    return f"{x:,.{nd}f}"


def philly(root: Path) -> list[str]:
    pub = acme.published_summary(root / "acme-2023")["Philly"]
    w = load_source("philly-2017")
    s = summarize(w)
    runs = {p: replay(w, p) for p in POLICIES}
    published_gpu_s = (
        pub.completed_gpu_time_gpu_s + pub.cancelled_gpu_time_gpu_s + pub.failed_gpu_time_gpu_s
    )
    rows = [
        "| figure | published (full trace, AcmeTrace summary) | ours (Pollux extract) |",
        "|---|---|---|",
        f"| GPU jobs | {n(pub.gpu_jobs)} | {n(s['gpu_jobs'])} |",
        f"| mean GPUs per GPU job | {pub.gpus_per_gpu_job_mean} | {s['gpus_per_gpu_job_mean']} |",
        f"| mean run time (s) | {n(pub.gpu_job_run_mean_s, 1)} | {n(s['duration_s']['mean'], 1)} |",
        f"| median run time (s) | {n(pub.gpu_job_run_median_s)} | {n(s['duration_s']['p50'])} |",
        f"| GPU-hours | {n(published_gpu_s / 3600)} | {n(s['gpu_hours'])} |",
        f"| mean queueing delay (s) | {n(pub.gpu_job_queue_mean_s, 1)} (Philly's own scheduler) | "
        + "; ".join(f"{p}: {n(r.summary['queueing_delay_s']['mean'], 1)}" for p, r in runs.items())
        + " (replay on the 2,490-GPU machine list) |",
        f"| median queueing delay (s) | {n(pub.gpu_job_queue_median_s)} | "
        + "; ".join(f"{p}: {n(r.summary['queueing_delay_s']['p50'], 1)}" for p, r in runs.items())
        + " |",
    ]
    sweep = [
        "",
        "Replayed at higher arrival rates (inter-arrival times divided by the factor), "
        "mean queueing delay in seconds:",
        "",
        "| load factor | " + " | ".join(("fifo", "fifo-backfill", "drf")) + " |",
        "|---|---|---|---|",
    ]
    for x in (2.0, 3.0, 4.0, 5.0):
        vals = [
            replay(w, p, scale_load=x).summary["queueing_delay_s"]["mean"]
            for p in ("fifo", "fifo-backfill", "drf")
        ]
        sweep.append(f"| x{x:g} | " + " | ".join(n(v, 1) for v in vals) + " |")
    return [
        "## Philly (Microsoft, 2017)",
        "",
        *rows,
        *sweep,
        "",
        "Why they differ. The Pollux extract holds 82,247 of the 112,956 GPU jobs the full "
        "trace has, and about half its GPU-hours; it has no start times, so Philly's own "
        "queueing cannot be measured from it, only replayed. Replayed at its own arrival "
        "times on the official machine list, its load is about "
        f"{runs['fifo'].fleet['gpu_hours_used'] / (2490 * s['span_days'] * 24) * 100:.0f}% of "
        "the fleet, so jobs rarely wait. Philly's scheduler also placed jobs under locality "
        "constraints and per-VC quotas with retries (failed jobs were resubmitted), which "
        "the extract does not record; 30.5% of its jobs failed and 9% were cancelled, and "
        "their reruns add load the extract lacks. A replay at the published load needs the "
        "full job log, which is a Git LFS object that could not be obtained. The sweep "
        "above shows where the replay meets the published mean: between x4 and x5 of the "
        "extract's arrival rate FIFO crosses 3,760 s. Since the extract carries about half "
        "of the trace's GPU-hours, that is roughly twice the full trace's offered load: "
        "plausible for a machine list that is known not to match the job log (reruns, "
        "locality and the revised 3,205-GPU list are the candidates).",
        "",
    ]


def helios_section(root: Path) -> list[str]:
    pub = helios.published_summary(root / "helios-2020")
    w = load_source("helios-2020")
    s = summarize(w)
    runs = {p: replay(w, p) for p in ("fifo", "drf")}
    venus = {p: replay(w, p, fleet=(FleetGroup("helios-gpu", 8, 128),)) for p in ("fifo", "drf")}
    rows = [
        "| cluster | GPUs | mean queueing delay of GPU jobs (s) | mean GPUs per GPU job |",
        "|---|---|---|---|",
    ]
    for c in ("Venus", "Earth", "Saturn", "Uranus", "total"):
        p = pub[c]
        rows.append(
            f"| {c} (published) | {n(p['gpu_num'])} | {n(p['avg_que_time_gpu'], 1)} | "
            f"{p['avg_gpu_num']} |"
        )
    for p, r in runs.items():
        rows.append(
            f"| ours: 15k extract replayed under {p} | 6,416 | "
            f"{n(r.summary['queueing_delay_s']['mean'], 1)} | "
            f"{s['gpus_per_gpu_job_mean']} |"
        )
    for p, r in venus.items():
        rows.append(
            f"| ours: 15k extract on a Venus-sized 1,024-GPU fleet, {p} | 1,024 | "
            f"{n(r.summary['queueing_delay_s']['mean'], 1)} | "
            f"{s['gpus_per_gpu_job_mean']} |"
        )
    return [
        "## Helios (SenseTime, 2020)",
        "",
        *rows,
        "",
        "Why they differ. The extract is the latest 15,000 jobs of one unnamed cluster "
        "(DIR-LAB), not a whole cluster's six months; its fleet size (802 nodes, 6,416 GPUs) "
        "is DIR-LAB's metadata for all of Helios, larger than any single cluster, so the "
        "replay sees far less contention than Venus or Uranus did. The extract's mean GPUs "
        "per GPU job sits inside the published per-cluster range.",
        "",
    ]


def kalos(root: Path) -> list[str]:
    pub = acme.published_summary(root / "acme-2023")["Kalos"]
    w = load_source("acme-2023")
    s = summarize(w)
    r = replay(w, "fifo", fleet=(FleetGroup("A100-80GB", 8, 256),))
    return [
        "## Kalos (Shanghai AI Lab, 2023)",
        "",
        "| figure | published (AcmeTrace summary) | ours (319 completed jobs) |",
        "|---|---|---|",
        f"| GPU jobs | {n(pub.gpu_jobs)} | {n(s['gpu_jobs'])} |",
        f"| mean GPUs per GPU job | {pub.gpus_per_gpu_job_mean} | {s['gpus_per_gpu_job_mean']} |",
        f"| max GPUs per job | {n(pub.gpus_per_job_max)} | {n(s['gpus_per_job_max'])} |",
        f"| median run time (s) | {n(pub.gpu_job_run_median_s)} | {n(s['duration_s']['p50'])} |",
        f"| mean queueing delay (s) | {n(pub.gpu_job_queue_mean_s, 1)} | "
        f"{n(r.summary['queueing_delay_s']['mean'], 1)} (FIFO on 2,048 A100, an assumption) |",
        "",
        "Why they differ. The subset keeps only completed jobs, transformed by a third party "
        "(durations recovered as its SOURCE.md explains); the trace's many small failed and "
        "cancelled jobs are gone, which is why its mean gang is larger. Kalos' GPU count is "
        "not in the files: the replay's 2,048 A100 is an assumption, so its queueing delay "
        "says more about that assumption than about Kalos.",
        "",
    ]


def openb_section(root: Path) -> list[str]:
    ref = openb.reference_results(root / "alibaba-openb-v2023")
    ref_frag = openb.reference_results(root / "alibaba-openb-v2023", metric="frag")
    fgd = Path(__file__).with_name("fgd_results.json")
    ours: dict[str, tuple[float, float]] = {}
    if fgd.is_file():
        import json

        data = json.loads(fgd.read_text())
        for r in data.get("policies", data.get("rows", [])):
            ours[str(r["policy"])] = (float(r["ours_allocated_pct"]), float(r["frag_pct"]))
    rows = [
        "| policy | published GPUs allocated (%) | ours (%) | gap (pp) "
        "| published GPUs fragmented (%) | ours (%) |",
        "|---|---|---|---|---|---|",
    ]
    for p, v in ref.items():
        mine = ours.get(p)
        rows.append(
            f"| {p} | {v:.2f} | {mine[0]:.2f} | {mine[0] - v:+.2f} | {ref_frag[p]:.2f} "
            f"| {mine[1]:.2f} |"
            if mine is not None
            else f"| {p} | {v:.2f} | not run | | {ref_frag[p]:.2f} | |"
        )
    return [
        "## Alibaba openb (FGD, ATC '23)",
        "",
        "Default pod list, 6,212 GPUs, arrivals pushed to 130% of capacity, mean of 10 seeds "
        "(the artifact's `analysis_allo_discrete.csv` and `analysis_frag_discrete.csv`, "
        "column 130); ours from `bench/fgd.py` (`gpufleet.labs.fgd`), same inflation, our "
        "own random streams:",
        "",
        *rows,
        "",
        "All six policies reproduce within 0.2 percentage points, fragmentation included. The "
        "last gap (GpuClustering and GpuPacking 3 points low, FGD 5.3) was tie-breaking. We "
        "drew a uniform node among the equal best scores for every pod; the artifact breaks "
        "ties by one node order fixed per run. Its simulator renames the nodes with a seeded "
        "random permutation prefix before creating them, builds on a patched kube-scheduler "
        "(`go.mod`: `k8s.io/kubernetes => github.com/mental2008/kubernetes v1.20.5-minor`, not "
        "public), and its Random policy draws one node in `PreScore` and scores it 100 instead "
        "of returning equal scores. With a uniform draw per pod, FGD, GpuPacking and "
        "GpuClustering (whose scores tie often) spread whole-GPU pods over empty 8-GPU nodes; "
        "by 65% arrived no node had 8 free GPUs with the 64-88 cores an 8-GPU pod asks, and FGD"
        " lost 19 pods before 90% arrived (seed 42) where the artifact loses almost none. With "
        "a fixed order per run (ours: a seeded permutation) ties land on the same nodes and "
        "every policy matches. Checked against the artifact source and found the same as ours: "
        "GPU nodes only (1,213), CPU and memory filtered on every node, fragmentation against "
        "the 35 most popular pod shapes (95% of pods, CPU-only shapes included, which count a "
        "node's whole free GPU), score int(100 sigmoid(dF/1000)) with no normalisation, "
        "CPU-only pods scored by the same dF, sharing pods on the GPU FGD picks, multi-GPU pods"
        " on the first free GPUs, and the 130% inflation appending uniform draws after the "
        "shuffled list.",
        "",
    ]


def gavel_section() -> list[str]:
    path = Path(__file__).with_name("gavel_results.json")
    if not path.is_file():
        return []
    import json

    data = json.loads(path.read_text())
    rows = [
        "| policy | Gavel mean JCT (s) | ours (s) | ours / Gavel | per-job r (log r) "
        "| ours wall s (before) | Gavel wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("max-min", "fifo"):
        r = data[name]
        rows.append(
            f"| {name} | {n(r['gavel_avg_jct_s'])} | {n(r['ours_avg_jct_s'])} "
            f"| {r['ratio']:.3f} | {r['pearson_r']:.3f} ({r['pearson_r_log']:.3f}) "
            f"| {r['ours_wall_s']:.2f} ({r['before_wall_s']:.2f}) | {r['gavel_wall_s']:.1f} |"
        )
    mm = data["max-min"]
    return [
        "## Gavel continuous-single, 108 GPUs (OSDI '20)",
        "",
        "Gavel's own generated workload (36 V100 + 36 P100 + 36 K80, one job per 900 s), "
        "mean JCT over jobs 4,000-4,999, against the JCTs Gavel printed; ours from "
        "`bench/gavel.py` (`gpufleet.labs.gavel`, a fluid simulator re-allocating at every "
        "arrival and completion; wall times end to end, median of 3, one core):",
        "",
        *rows,
        "",
        "Ours is lower because the fluid model has no 360 s rounds and no 1,920 s gap "
        "between recomputes, so a new job starts about 1,000 s sooner than in Gavel. "
        f"max-min solves the LP at all {n(mm['allocations'])} events in "
        f"{mm['ours_wall_s']:.2f} s (target: under 2 s): one HiGHS model kept warm across "
        "events (only row bounds change), stage 1 in closed form where it holds, and the "
        "previous optimal basis reused while it stays feasible; before, a fresh two-stage "
        f"model per event took {mm['before_wall_s']:.2f} s. The mean JCT did not move "
        "(57,902.39 s before and after; per-job JCTs within 3e-9 s).",
        "",
    ]


def pollux_section() -> list[str]:
    return [
        "## Pollux workload-6 (OSDI '21)",
        "",
        "| policy | published mean JCT (s) | ours |",
        "|---|---|---|",
        "| Pollux | 2,446 | - |",
        "| Optimus + Oracle | 5,302 | - |",
        "| Tiresias | 3,470 | - |",
        "",
        "The workload files give each job's model, arrival and replica count, not a duration: "
        "Pollux's simulator derives run time from per-model throughput and convergence "
        "profiles that are not part of the obtained data, so these jobs cannot be replayed "
        "as timed jobs yet.",
        "",
    ]


TITLE = "# Validation: our figures beside the published ones"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/validation.md")
    args = ap.parse_args()
    root = traces_root()
    if not root.is_dir():
        print(f"traces not found at {root}; set GPUFLEET_TRACES", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    body = [
        "Generated by `make validation` (`bench/validation.py`) from the public traces in "
        f"`$GPUFLEET_TRACES`, at commit {commit}. Each loader's own figures (row counts, "
        "GPU totals, size mixes, spans) are checked exactly against each trace's SOURCE.md "
        "by the tests in `tests/inputs/test_trace_*.py`; this page compares what those figures "
        "cannot: scheduling outcomes, and the full traces that only exist as extracts here.",
        "",
        *philly(root),
        *helios_section(root),
        *kalos(root),
        *openb_section(root),
        *gavel_section(),
        *pollux_section(),
        f"_Generated in {time.perf_counter() - t0:.0f} s._",
        "",
    ]
    # only the traces' block is rewritten: the sections written by hand (Slurm's rules, the
    # forecast, the agreement with KAI and Kueue) and other scripts' blocks stay as they are
    out = Path(args.out)
    if not out.is_file():
        out.write_text(f"{TITLE}\n", encoding="utf-8")
    replace_md_block(out, "traces", body)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

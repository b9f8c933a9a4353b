"""The ingest and findings path at 100,000 GPUs (issue 12, "Benchmarks": aim under 10 s),
from Slurm's and Prometheus's answers generated at that size, beside the same path at
10,000 GPUs in the same run.

    .venv/bin/python bench/ingest_bench.py [--repeats 5] [--gpus 100000] [--base-gpus 10000]

**What is generated** (seeded, deterministic; :func:`scene`): nodes of 8 GPUs, four in
five H100 (half tesla's at memphis, half xai's at colossus) and one in five A100 (tesla's
at buffalo); 1 % of the nodes down for "no power"; on the up nodes, two running jobs of 4
GPUs each on nine nodes in ten (the tenth idle), at 90, 60, 35 or 4 % utilisation; one
pending job per ten GPUs (2, 4 or 8 GPUs; Priority, Resources, or AssocGrpGRES for xai
over its cap). The answers are written in the exact formats the cycle reads: squeue's
and sinfo's text fields (``|``-separated, times as epoch seconds, the GRES and TRES
strings Slurm 22.05 prints), ``sacctmgr -P show assoc``, and Prometheus's instant-query
JSON with every dcgm-exporter label of a GPU (the pod labels of the job holding it).

**What is timed** (median of ``--repeats``, each at a new minute, so each is stored as a
new sample):

- ``cycle_s``: :func:`gpufleet.live.cycle.observe_cycle`, what ``gpufleet observe``
  runs: the register read, the mapping checked, the answers parsed (replayed from memory:
  no process, socket or server time, which ``bench/observe_bench.py`` measures on a real
  Slurm and Prometheus), the observation, the store's writing transaction (SQLite);
  the sources kept from cycle to cycle as ``observe --every`` keeps them (the running
  jobs' GPU indices known from an earlier cycle, as a first cycle's lookups leave them);
- ``findings_s``: :func:`gpufleet.live.status.live_status` and its JSON, what
  ``gpufleet status --json`` computes: stranded, idle and in-use GPU-days and their cost
  per entity and site, drift, suggestions, over a day of one-minute samples (after the
  timed cycles, the last observation is stored again at each later minute of the day
  through the same ``ingest``: ``day_fill_s``);
- parts, timed apart on the same answers (the collector paused, as in the cycle):
  ``slurm_parse_s``, ``prometheus_parse_s``, ``observe_s``.

``total_s`` = ``cycle_s`` + ``findings_s``, against the 10 s aim; ``ratio`` is each
figure at ``--gpus`` over the same at ``--base-gpus`` (10x the GPUs: 10 is linear).
Writes bench/ingest_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpufleet.gcpause import gc_paused
from gpufleet.live.config import load_settings
from gpufleet.live.cycle import checked_mapping, observe_cycle, open_sources
from gpufleet.live.observe import observe
from gpufleet.live.plan import read_register, registered_at
from gpufleet.live.prometheus import PrometheusSource
from gpufleet.live.prometheus.transport import HttpAnswer, ReplayTransport, request_key
from gpufleet.live.reading import read_prometheus, read_slurm
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm import JobDetails, SlurmCliSource
from gpufleet.live.slurm.cli import SACCTMGR_ASSOC
from gpufleet.live.slurm.jobs_text import SQUEUE_TEXT
from gpufleet.live.slurm.model import GpuAllocation
from gpufleet.live.slurm.nodes_text import SINFO_TEXT
from gpufleet.live.status import live_status, status_json
from gpufleet.live.store import LiveConfig, ingest
from observe_bench import live_yaml, seeded_store
from observe_cluster import mapping_yaml, register_yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "ingest_results.json"
TARGET_S = 10.0
DAY_SAMPLES = 1440  # the findings read a day of one-minute samples
PROMETHEUS_URL = "http://prometheus.invalid:9090"  # never asked: answers are replayed
GPUS_PER_NODE = 8
CPUS_PER_NODE = 64
XAI_CAP = 4000  # xai's GrpTRES gres/gpu: its pending jobs wait on AssocGrpGRES
UTILS = (90, 60, 35, 4)
MODELS = {"h100": "NVIDIA H100 80GB HBM3", "a100": "NVIDIA A100-SXM4-80GB"}
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class Scene:
    """A generated fleet's answers, and the running jobs' GPU indices a first cycle
    would have looked up."""

    gpus: int
    outputs: dict[str, str] = field(default_factory=dict)
    util_json: str = ""
    allocations: dict[tuple[int, int], tuple[GpuAllocation, ...]] = field(default_factory=dict)
    register_yaml: str = ""
    mapping_yaml: str = ""
    facts: dict[str, int] = field(default_factory=dict)


def node_names(gpus: int) -> tuple[list[str], list[str]]:
    """(H100 node names, A100 node names): four in five nodes H100, the first half of them
    tesla's (``gx-h100t-``), the rest xai's (``gx-h100x-``)."""
    nodes = gpus // GPUS_PER_NODE
    a100 = nodes // 5
    h100 = nodes - a100
    half = h100 // 2
    return [f"gx-h100{'t' if i < half else 'x'}-{i:05d}" for i in range(h100)], [
        f"gx-a100-{i:05d}" for i in range(a100)
    ]


def scene(gpus: int, now: datetime, seed: int = 1) -> Scene:
    rng = random.Random(seed)
    h100, a100 = node_names(gpus)
    half = len(h100) // 2
    out = Scene(gpus)
    now_s = int(now.timestamp())
    sinfo: list[str] = []
    squeue: list[str] = []
    series: list[dict[str, Any]] = []
    job_id = 1000
    running = down = 0
    for kind, names in (("h100", h100), ("a100", a100)):
        for n, name in enumerate(names):
            account = "xai" if kind == "h100" and n >= half else "tesla"
            if n % 100 == 99:  # 1 %: down for no power
                down += 1
                sinfo.append(
                    f"{name}|down|{kind}|gpu:{kind}:8|gpu:{kind}:0(IDX:N/A)|{CPUS_PER_NODE}"
                    f"|0/0/{CPUS_PER_NODE}/{CPUS_PER_NODE}|root(0)|{now_s - 86400}|no power|"
                )
                holders: list[tuple[int, str, str, int] | None] = [None] * GPUS_PER_NODE
            else:
                holders = [None] * GPUS_PER_NODE
                if n % 10 != 9:  # nine up nodes in ten run two 4-GPU jobs
                    for half_node in (0, 1):
                        job_id += 1
                        running += 1
                        user = f"{account}{1 + job_id % 2}"
                        util = UTILS[rng.randrange(len(UTILS))]
                        start = now_s - rng.randrange(60, 6 * 3600)
                        indices = tuple(range(4 * half_node, 4 * half_node + 4))
                        squeue.append(
                            f"{job_id}|RUNNING|{user}|{account}|{kind}|normal|{name}"
                            f"|{start - 30}|{start}|{start + 86400}|1-00:00:00|5000"
                            f"|cpu=1,node=1,billing=41,gres/gpu=4,gres/gpu:{kind}=4|None|"
                        )
                        out.allocations[(job_id, start)] = (GpuAllocation(name, kind, indices),)
                        for i in indices:
                            holders[i] = (job_id, user, account, util)
                used = sum(h is not None for h in holders)
                state = "allocated" if used == GPUS_PER_NODE else "mixed" if used else "idle"
                idx = f"0-{used - 1}" if used else "N/A"
                alloc_cpus = used // 4
                sinfo.append(
                    f"{name}|{state}|{kind}|gpu:{kind}:8(S:0-1)|gpu:{kind}:{used}(IDX:{idx})"
                    f"|{CPUS_PER_NODE}|{alloc_cpus}/{CPUS_PER_NODE - alloc_cpus}/0/"
                    f"{CPUS_PER_NODE}|Unknown|Unknown|none|"
                )
            for i, holder in enumerate(holders):
                series.append(_series(name, kind, n, i, holder, now))
    pending = gpus // 10
    for k in range(pending):
        job_id += 1
        kind = "h100" if k % 5 else "a100"
        account = "xai" if kind == "h100" and k % 2 else "tesla"
        size = (2, 4, 8)[k % 3]
        reason = "AssocGrpGRES" if account == "xai" else ("Priority", "Resources")[k % 2]
        squeue.append(
            f"{job_id}|PENDING|{account}1|{account}|{kind}|normal||{now_s - 600 - k}|N/A|N/A"
            f"|1-00:00:00|{4000 - k % 1000}|cpu=1,mem=62.50G,node=1,billing={size * 10 + 1},"
            f"gres/gpu={size},gres/gpu:{kind}={size}|{reason}|"
        )
    assoc = (
        "Cluster|Account|User|Partition|ParentName|Share|GrpJobs|GrpTRES|MaxJobs|MaxTRES|QOS|"
        "Def QOS\ngx|root||||1|||||normal|\ngx|tesla|||root|60|||||normal|\n"
        "gx|tesla|tesla1|||1|||||normal|\ngx|tesla|tesla2|||1|||||normal|\n"
        f"gx|xai|||root|40||gres/gpu={XAI_CAP}|||normal|\ngx|xai|xai1|||1|||||normal|\n"
        "gx|xai|xai2|||1|||||normal|\n"
    )
    out.outputs = {
        command_text(SQUEUE_TEXT): "\n".join(squeue) + "\n",
        command_text(SINFO_TEXT): "\n".join(sinfo) + "\n",
        command_text(SACCTMGR_ASSOC): assoc,
    }
    out.util_json = json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": series}}
    )
    out.register_yaml = register_yaml(len(h100), len(a100), name="ingest-bench")
    out.mapping_yaml = mapping_yaml("gx-h100t-*", "gx-h100x-*")
    out.facts = {
        "gpus": gpus,
        "nodes": len(h100) + len(a100),
        "down_nodes": down,
        "running_jobs": running,
        "pending_jobs": pending,
        "dcgm_series": len(series),
        "squeue_bytes": len(out.outputs[command_text(SQUEUE_TEXT)]),
        "sinfo_bytes": len(out.outputs[command_text(SINFO_TEXT)]),
        "prometheus_bytes": len(out.util_json),
    }
    return out


def _series(
    host: str, kind: str, n: int, i: int, holder: tuple[int, str, str, int] | None, now: datetime
) -> dict[str, Any]:
    """One GPU's DCGM_FI_DEV_GPU_UTIL as Prometheus answers it: dcgm-exporter's labels
    (scripts/devcluster/dcgm_exporter.py, docs/live.md) plus the scrape's job and
    instance, sorted by name as Prometheus sends them."""
    labels = {
        "DCGM_FI_DRIVER_VERSION": "535.183.06",
        "Hostname": host,
        "UUID": f"GPU-{kind}-{n:05d}-{i}-0000-0000-000000000000",
        "__name__": "DCGM_FI_DEV_GPU_UTIL",
        "device": f"nvidia{i}",
        "gpu": str(i),
        "instance": f"{host}:9400",
        "job": "dcgm",
        "modelName": MODELS[kind],
        "pci_bus_id": f"00000000:{0x18 + 0x10 * i:02X}:00.0",
    }
    util = 0
    if holder is not None:
        job, user, account, util = holder
        labels.update(container=user, hpc_job=str(job), namespace=account, pod=f"slurm-job-{job}")
    return {"metric": dict(sorted(labels.items())), "value": [now.timestamp(), str(util)]}


def measure(gpus: int, repeats: int, work: Path, day_samples: int = DAY_SAMPLES) -> dict[str, Any]:
    """The path at ``gpus`` GPUs, ``repeats`` cycles at successive minutes, then the
    findings over what they stored."""
    folder = work / str(gpus)
    folder.mkdir()
    t = time.perf_counter()
    at = [T0 + timedelta(minutes=k) for k in range(repeats)]
    sc = scene(gpus, T0)
    generate_s = time.perf_counter() - t
    (folder / "register.yaml").write_text(sc.register_yaml)
    (folder / "mapping.yaml").write_text(sc.mapping_yaml)
    (folder / "live.yaml").write_text(
        live_yaml(folder / "mapping.yaml", "/nonexistent/slurm.conf", PROMETHEUS_URL)
    )
    store = seeded_store(folder, folder / "register.yaml")
    settings = load_settings(folder / "live.yaml")
    details = JobDetails(allocations=dict(sc.allocations))
    sources = open_sources(settings, details=details)
    assert isinstance(sources.slurm, SlurmCliSource) and sources.prometheus is not None
    sources.slurm.runner = ReplayRunner(sc.outputs)
    answers = {}
    for when in at:  # the same GPUs at each instant the cycles ask
        url = (
            f"{PROMETHEUS_URL}/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL&time={when.timestamp():.3f}"
        )
        answers[request_key(url)] = HttpAnswer(200, sc.util_json)
    sources.prometheus.transport = ReplayTransport(answers)
    cycles, parts = [], []
    for when in at:
        t = time.perf_counter()
        done = observe_cycle(store, settings, sources, when)
        cycles.append(time.perf_counter() - t)
        if done.observation.failures:
            raise RuntimeError(f"{gpus} GPUs: the cycle failed: {done.observation.failures}")
        parts.append(_parts(store, settings, sc, when))
    # a day of one-minute samples, as a day of `observe --every 60s` leaves them: the
    # last observation stored again at each later minute (through the same ingest)
    t = time.perf_counter()
    live = LiveConfig(settings.text, settings.mapping_text)
    last = at[-1]
    for k in range(1, day_samples - repeats + 1):
        last = at[-1] + timedelta(minutes=k)
        with store.write("live:observe") as tx:
            ingest(tx, replace(done.observation, at=last), settings.model.every, live)
    fill_s = time.perf_counter() - t
    findings = []
    for _ in range(repeats):
        t = time.perf_counter()
        with store.read() as s:
            doc = status_json(live_status(s, last, window_s=24 * 3600))
        findings.append(time.perf_counter() - t)
    store.dispose()
    obs = done.observation
    fleet = doc["fleet"]
    return {
        "scene": sc.facts,
        "generate_s": round(generate_s, 3),
        "day_fill_s": round(fill_s, 1),
        "cycle_s": _stats(cycles),
        "findings_s": _stats(findings),
        "parts_median_s": {k: round(statistics.median(p[k] for p in parts), 4) for k in parts[0]},
        "total_s": round(statistics.median(cycles) + statistics.median(findings), 4),
        "observed": {
            "gpus_registered": sum(c.registered or 0 for c in obs.capacity),
            "gpus_seen": sum(c.seen or 0 for c in obs.capacity),
            "gpus_down": sum(c.down or 0 for c in obs.capacity),
            "gpus_allocated": sum(c.allocated or 0 for c in obs.capacity),
            "gpus_busy": sum(c.busy or 0 for c in obs.capacity),
            "gpus_idle": sum(c.idle or 0 for c in obs.capacity),
            "gpus_asked_by_pending_jobs": sum(d.gpus for d in obs.demand),
            "rows_stored": done.ingested.rows,
            "samples_in_findings": doc["window"]["samples"],
            "fleet": fleet,
        },
    }


def _parts(store: Any, settings: Any, sc: Scene, when: datetime) -> dict[str, float]:
    """The parse of each source and the observation, timed apart on the same answers,
    with the collector paused as the cycle pauses it."""
    with gc_paused():
        return _parts_paused(store, settings, sc, when)


def _parts_paused(store: Any, settings: Any, sc: Scene, when: datetime) -> dict[str, float]:
    replay = SlurmCliSource(
        ReplayRunner(sc.outputs),
        jobs_format="text",
        nodes_format="text",
        details=JobDetails(allocations=dict(sc.allocations)),
    )
    t = time.perf_counter()
    state = read_slurm(replay)
    slurm_s = time.perf_counter() - t
    url = f"{PROMETHEUS_URL}/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL&time={when.timestamp():.3f}"
    prom = ReplayTransport({request_key(url): HttpAnswer(200, sc.util_json)})
    t = time.perf_counter()
    gpus = read_prometheus(PrometheusSource(PROMETHEUS_URL, prom), when)
    prom_s = time.perf_counter() - t
    with store.read() as s:
        register = read_register(s)
    mapping, _ = checked_mapping(settings, register)
    t = time.perf_counter()
    observe(
        when,
        mapping,
        registered_at(register.plan, when),
        slurm=state,
        gpus=gpus,
        busy_threshold_pct=settings.model.busy_threshold_pct,
    )
    return {
        "slurm_parse_s": slurm_s,
        "prometheus_parse_s": prom_s,
        "observe_s": time.perf_counter() - t,
    }


def _stats(xs: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(xs), 4),
        "min": round(min(xs), 4),
        "max": round(max(xs), 4),
        "all": [round(x, 4) for x in xs],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gpus", type=int, default=100_000)
    ap.add_argument("--base-gpus", type=int, default=10_000)
    ap.add_argument("--day-samples", type=int, default=DAY_SAMPLES, help="samples findings read")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    out: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "note": "2 CPU cores shared with other work",
            "git_commit": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip(),
        },
        "load_average_1m_before": os.getloadavg()[0],
        "repeats": args.repeats,
    }
    with tempfile.TemporaryDirectory() as d:
        base = measure(args.base_gpus, args.repeats, Path(d), args.day_samples)
        big = measure(args.gpus, args.repeats, Path(d), args.day_samples)
    out["base"], out["fleet"] = base, big
    out["ratio"] = {
        k: round(big[k]["median"] / base[k]["median"], 2) for k in ("cycle_s", "findings_s")
    }
    out["ratio"]["gpus"] = round(args.gpus / args.base_gpus, 2)
    out["target"] = {
        "target_s": TARGET_S,
        "measured_s": big["total_s"],
        "met": big["total_s"] < TARGET_S,
    }
    out["load_average_1m_after"] = os.getloadavg()[0]
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    summary = {
        "target": out["target"],
        "cycle_s": {"base": base["cycle_s"]["median"], "fleet": big["cycle_s"]["median"]},
        "findings_s": {"base": base["findings_s"]["median"], "fleet": big["findings_s"]["median"]},
        "ratio": out["ratio"],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

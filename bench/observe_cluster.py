"""The 10,000-GPU Slurm and Prometheus that bench/observe_bench.py observes: a second
instance of the dev cluster (scripts/devcluster, every setting from the environment), its
scene of running and pending jobs, and what a run leaves behind.

What is real and what is not:

- **Real**: slurmctld, slurmdbd with MariaDB, 40 slurmd, slurmrestd, Slurm's own commands,
  Prometheus and its HTTP API, the project's DCGM-format exporter (its exact line format
  and labels) scraped by Prometheus, jobs submitted with ``sbatch`` by the accounts'
  Linux users, Slurm's own placement and its own pending reasons.
- **Declared only**: 1,210 of the 1,250 nodes (8 GPUs each) are in ``slurm.conf`` but no
  slurmd runs for them (a slurmd per node would be 1,250 daemons on a 2-core machine), so
  Slurm lists them DOWN, not responding, reason "declared only, no slurmd". They are in
  every answer (``sinfo --json``, ``scontrol show node``) and the exporter reports their
  GPUs idle (utilisation 0, idle power), as dcgm-exporter would on powered nodes.
- **Few running jobs**: each running job needs a real ``slurmstepd``, so jobs run only
  on the 40 live nodes (320 GPUs, 100 jobs). The 5,000 pending jobs are submitted as job
  arrays and split into one record each (``scontrol update jobid=ID_[0-999]``), so
  ``squeue --json`` answers 5,100 full job records, pending and running alike.

State folder, cluster name and every port differ from the running dev cluster's, and
munged is shared with it (Slurm 22.05 reaches slurmdbd only through munge's default
socket): its daemons, jobs and files are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts" / "devcluster"
STATE = Path("/tmp/gpufleet-observe-bench")
GPUS_PER_NODE = 8
H100_NODES, A100_NODES = 1000, 250
# live (slurmd-running) nodes: tesla's first 16 H100 nodes, xai's first 16, 8 A100 nodes
LIVE_H100 = (*range(0, 16), *range(500, 516))
LIVE_A100 = tuple(range(8))

ENV = {
    "GPUFLEET_DEVCLUSTER_STATE": str(STATE),
    "GPUFLEET_DEVCLUSTER_NAME": "gfbench",
    "GPUFLEET_DEVCLUSTER_CTLD_PORT": "26817",
    "GPUFLEET_DEVCLUSTER_DBD_PORT": "26819",
    "GPUFLEET_DEVCLUSTER_SLURMD_PORT": "26820",
    "GPUFLEET_DEVCLUSTER_DB_PORT": "23306",
    "GPUFLEET_DEVCLUSTER_PROM_PORT": "29090",
    "GPUFLEET_DEVCLUSTER_EXPORTER_PORT": "29400",
    "GPUFLEET_DEVCLUSTER_NODES": str(STATE.parent / "gpufleet-observe-bench.nodes"),
    # 30,000 series: a scrape every 10 s, not every second, on 2 shared cores
    "GPUFLEET_DEVCLUSTER_SCRAPE_INTERVAL": "10s",
    "GPUFLEET_DEVCLUSTER_MUNGE": "shared",
}
SLURM_CONF = str(STATE / "etc" / "slurm.conf")
PROMETHEUS_URL = f"http://127.0.0.1:{ENV['GPUFLEET_DEVCLUSTER_PROM_PORT']}"
REST_SOCKET = str(STATE / "rest" / "slurmrestd.sock")


@dataclass(frozen=True)
class Array:
    """One ``sbatch --array=0-(count-1)``: each task one job of ``gres`` GPUs."""

    user: str
    account: str
    partition: str
    gres: str
    count: int
    util_pct: int | None = None  # the exporter's utilisation (default 90)


# 100 running jobs on the 320 live GPUs: every size divides 8, so they pack the nodes
RUNNING = (
    Array("tesla1", "tesla", "h100", "h100:4", 60),
    Array("tesla2", "tesla", "h100", "h100:2", 6, util_pct=4),  # allocated but idle
    Array("xai1", "xai", "h100", "h100:2", 2, util_pct=60),  # xai's cap of 4 reached
    Array("tesla2", "tesla", "a100", "a100:2", 32, util_pct=35),
)
# 5,000 pending: no room (Resources, Priority) and over xai's cap (AssocGrpGRES)
PENDING = (
    Array("tesla1", "tesla", "h100", "h100:8", 1000),
    Array("tesla2", "tesla", "h100", "h100:8", 1000),
    Array("tesla2", "tesla", "a100", "a100:4", 1000),
    Array("xai1", "xai", "h100", "h100:2", 1000),
    Array("xai2", "xai", "h100", "h100:4", 1000),
)


def node_lines() -> list[str]:
    """``name gres_type gpus partition slurmd|none`` per node (scripts/devcluster/lib.sh)."""
    lines = []
    for kind, count, live in (("h100", H100_NODES, LIVE_H100), ("a100", A100_NODES, LIVE_A100)):
        for i in range(count):
            run = "slurmd" if i in live else "none"
            lines.append(f"gfb-{kind}-{i:04d} {kind} {GPUS_PER_NODE} {kind} {run}")
    return lines


def environ() -> dict[str, str]:
    return {**os.environ, **ENV, "SLURM_CONF": SLURM_CONF}


def script(name: str, *args: str, timeout_s: float = 300) -> float:
    """Run scripts/devcluster/NAME with the bench instance's settings; its seconds."""
    t = time.perf_counter()
    done = subprocess.run(
        [str(SCRIPTS / name), *args],
        env=environ(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/devcluster/{name} failed ({done.returncode}):\n{done.stderr}")
    return time.perf_counter() - t


def up() -> float:
    Path(ENV["GPUFLEET_DEVCLUSTER_NODES"]).write_text("\n".join(node_lines()) + "\n")
    return script("up")


def down() -> float:
    """Cancel the bench instance's jobs, then stop it (its own recorded PIDs only) and
    remove its state folder. Without the cancel, each running job's ``slurmstepd`` and its
    ``sleep 7200`` outlived slurmd: 100 orphans per run, which loaded later test runs."""
    t = time.perf_counter()
    try:
        ids = slurm("squeue", "-h", "-o", "%A").split()
        for i in range(0, len(ids), 500):
            slurm("scancel", *ids[i : i + 500])
        wait(
            "every job ended",
            lambda: not slurm("squeue", "-h", "-t", "R,CG", "-o", "%A").strip(),
            60,
        )
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        pass  # a cluster that does not answer: stopped below all the same
    return time.perf_counter() - t + script("down", "--purge", timeout_s=180)


def slurm(*argv: str, user: str | None = None) -> str:
    cmd = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    done = subprocess.run(
        cmd, env=environ(), capture_output=True, text=True, timeout=60, check=False, cwd="/tmp"
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def submit(a: Array) -> int:
    """The array's job id; its tasks each ``sleep`` two hours."""
    opts = ["--parsable", "-A", a.account, "-p", a.partition, f"--gres=gpu:{a.gres}"]
    opts += ["-t", "120", "-o", "/dev/null", f"--array=0-{a.count - 1}"]
    if a.util_pct is not None:
        opts.append(f"--comment=gpu_util={a.util_pct}")
    out = slurm("sbatch", *opts, "--wrap", "sleep 7200", user=a.user)
    return int(out.strip().split(";")[0])


def states() -> Counter[str]:
    """Job records by state and reason, e.g. ``PENDING AssocGrpGRES``."""
    out = slurm("squeue", "-h", "-o", "%T %r")
    return Counter(line.strip() for line in out.splitlines() if line.strip())


def wait(what: str, ok: Callable[[], bool], timeout_s: float) -> float:
    t = time.perf_counter()
    while not ok():
        if time.perf_counter() - t > timeout_s:
            raise RuntimeError(f"bench cluster: {what} not reached after {timeout_s:g} s")
        time.sleep(1.0)
    return time.perf_counter() - t


def prometheus(query: str) -> list[dict[str, object]]:
    url = f"{PROMETHEUS_URL}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=30) as r:
        result: list[dict[str, object]] = json.load(r)["data"]["result"]
    return result


def _scraped_since(epoch_s: float) -> bool:
    q = f'(timestamp(up{{job="dcgm"}}) > {epoch_s}) and on(instance) (up{{job="dcgm"}} == 1)'
    return bool(prometheus(q))


def set_scene() -> dict[str, object]:
    """Submit the running jobs, wait for them, then the pending ones (split into single
    records), then a scrape that sees them all; what Slurm and Prometheus then hold."""
    t0 = time.perf_counter()
    if states():
        raise RuntimeError(
            f"the bench cluster ({STATE}) already has jobs: observe it with --reuse, or "
            "stop it first (bench/observe_bench.py takes it down unless --keep-up)"
        )
    for a in RUNNING:
        submit(a)
    want = sum(a.count for a in RUNNING)
    wait("the running jobs", lambda: states().get("RUNNING None", 0) >= want, 120)
    running_at = time.time()
    for a in PENDING:
        job = submit(a)
        # an update of a task splits it off the array: one job record each. A range that
        # covers the whole array updates the array's one record instead (slurmctld logs
        # "JobId=101_*"), so all tasks but the last; the last stays the array's record.
        slurm("scontrol", "update", f"jobid={job}_[0-{a.count - 2}]", "timelimit=119")
    wait("a scrape after the jobs started", lambda: _scraped_since(running_at + 1), 60)
    # Slurm's pending reasons come with its scheduling passes; give them some seconds
    decided = lambda: states().get("PENDING None", 0) == 0  # noqa: E731
    with contextlib.suppress(RuntimeError):  # those not decided stay 'None' in the counts
        wait("the pending jobs' reasons", decided, 30)
    series = len(prometheus("DCGM_FI_DEV_GPU_UTIL"))
    return {
        "set_s": round(time.perf_counter() - t0, 1),
        "jobs_by_state_reason": dict(sorted(states().items())),
        "dcgm_gpu_util_series": series,
    }


def cluster_facts() -> dict[str, object]:
    return {
        "nodes": H100_NODES + A100_NODES,
        "gpus": (H100_NODES + A100_NODES) * GPUS_PER_NODE,
        "nodes_with_slurmd": len(LIVE_H100) + len(LIVE_A100),
        "running_jobs_submitted": sum(a.count for a in RUNNING),
        "pending_jobs_submitted": sum(a.count for a in PENDING),
        "scrape_interval": ENV["GPUFLEET_DEVCLUSTER_SCRAPE_INTERVAL"],
    }


def mapping_yaml(tesla_h100: str = "gfb-h100-0[0-4]*", xai_h100: str = "gfb-h100-*") -> str:
    """A bench fleet's names onto the register of :func:`register_yaml`: the H100 nodes
    by two globs on their names (the first rule a node matches places it), the A100 nodes
    by their partition; by default this cluster's."""
    return f"""slurm:
  accounts:
    tesla: {{entity: tesla, program: fsd-training}}
    xai: {{entity: xai, program: grok}}
  nodes:
    - {{nodes: "{tesla_h100}", site: memphis, pool: memphis-h100, entity: tesla}}
    - {{nodes: "{xai_h100}", site: colossus, pool: colossus-h100, entity: xai}}
    - {{partition: a100, site: buffalo, pool: buffalo-a100, entity: tesla}}
gpu_types:
  h100: H100-SXM
  a100: A100-80GB
  NVIDIA H100 80GB HBM3: H100-SXM
  NVIDIA A100-SXM4-80GB: A100-80GB
"""


def register_yaml(
    h100_nodes: int = H100_NODES, a100_nodes: int = A100_NODES, name: str = "observe-bench"
) -> str:
    """The register of a bench fleet of 8-GPU nodes (by default this cluster's 10,000
    GPUs): tesla the first half of the H100 nodes at memphis and the A100 nodes at
    buffalo, xai the other H100 nodes at colossus; each site 1 kW of power per GPU of the
    fleet (ample), each program's quota its entity's GPUs."""
    h = h100_nodes // 2
    kw = (h100_nodes + a100_nodes) * GPUS_PER_NODE
    return f"""name: {name}
start: 2026-01-01
end: 2027-12-31
seed: 1
policy: quota
cost: {{usd_per_gpu_hour: 2.00}}
sites:
  - {{name: memphis, power_kw: {kw}, pue: 1.3}}
  - {{name: buffalo, power_kw: {kw}, pue: 1.3}}
  - {{name: colossus, power_kw: {kw}, pue: 1.3}}
entities:
  - name: tesla
    programs:
      - name: fsd-training
        quotas: {{H100-SXM: {{nominal: {h * 8}}}, A100-80GB: {{nominal: {a100_nodes * 8}}}}}
  - name: xai
    programs:
      - name: grok
        quotas: {{H100-SXM: {{nominal: {(h100_nodes - h) * 8}}}, A100-80GB: {{nominal: 0}}}}
pools:
  - {{name: memphis-h100, site: memphis, gpu_type: H100-SXM, nodes: {h}, owner: tesla,
      delivered: 2026-01-01}}
  - {{name: buffalo-a100, site: buffalo, gpu_type: A100-80GB, nodes: {a100_nodes},
      owner: tesla, delivered: 2026-01-01}}
  - {{name: colossus-h100, site: colossus, gpu_type: H100-SXM, nodes: {h100_nodes - h},
      owner: xai, delivered: 2026-01-01}}
"""

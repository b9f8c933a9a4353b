#!/usr/bin/env python3
"""A DCGM-format exporter for gpufleet's dev cluster: the fake GPUs that the real Slurm
gives to jobs, served in NVIDIA dcgm-exporter's exact text format.

Why: there are no GPUs on the test machines, but gpufleet's Prometheus source must read
what a real fleet's Prometheus holds. This exporter asks the real Slurm, at each scrape
(cached for one second), which GPUs of which nodes its running jobs hold
(``scontrol -d -o show job``: ``GRES=gpu:h100:2(IDX:0-1)``) and which GPUs each node has
(``scontrol -o show node``), and reports:

- a GPU held by a running job: the utilisation set for that job (below), framebuffer
  used in proportion, and power between idle and the model's TDP;
- every other GPU: utilisation 0, framebuffer 0, idle power.

A test sets a job's utilisation in either of two ways (the control file wins):
- a line ``JOBID PERCENT`` in the control file (``--control``), e.g. ``17 35``;
- the job's comment ``gpu_util=PERCENT`` (``sbatch --comment gpu_util=35`` or
  ``scontrol update job 17 comment=gpu_util=35``).
Without either, a job's GPUs report ``--busy-util`` (90 by default).

Line format (dcgm-exporter's template, one line per GPU and field)::

    NAME{gpu="N",UUID="GPU-..",pci_bus_id="..",device="nvidiaN",modelName="..",
         Hostname="..",DCGM_FI_DRIVER_VERSION="..",container="..",namespace="..",pod=".."}
         VALUE

dcgm-exporter fills container/namespace/pod from the Kubernetes pod that holds the GPU;
here a Slurm job stands in: namespace = the job's account, pod = ``slurm-job-<id>``,
container = the job's user, and the HPC label ``hpc_job="<id>"`` that dcgm-exporter's
Slurm mapping adds. Free GPUs carry empty strings, as dcgm-exporter prints them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DRIVER_VERSION = "535.183.06"
FIELDS = (  # (name, help) as in dcgm-exporter's etc/default-counters.csv
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
)


@dataclass(frozen=True)
class Model:
    name: str
    fb_total_mib: int
    idle_power_w: float
    max_power_w: float


MODELS = {
    "h100": Model("NVIDIA H100 80GB HBM3", 81559, 70.0, 700.0),
    "a100": Model("NVIDIA A100-SXM4-80GB", 81920, 60.0, 400.0),
}


@dataclass(frozen=True)
class Holder:
    job_id: int
    account: str
    user: str
    util_pct: float


def expand_hostlist(text: str) -> list[str]:
    """``gf-h100-[1-2],gf-a100-1`` -> the node names (Slurm's hostlist syntax)."""
    names: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", text):
        m = re.fullmatch(r"(.*)\[([^\]]*)\](.*)", part)
        if not m:
            names.append(part)
            continue
        for rng in m.group(2).split(","):
            lo, _, hi = rng.partition("-")
            width = len(lo)
            for i in range(int(lo), int(hi or lo) + 1):
                names.append(f"{m.group(1)}{i:0{width}d}{m.group(3)}")
    return names


def expand_indices(text: str) -> list[int]:
    """``0-1,4`` -> [0, 1, 4]."""
    out: list[int] = []
    for rng in text.split(","):
        lo, _, hi = rng.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def fields(line: str) -> dict[str, str]:
    """``A=1 B=x y`` as scontrol -o prints it; a value runs to the next ``KEY=``."""
    return dict(re.findall(r"(\w[\w:/]*)=(.*?)(?= \w[\w:/]*=|$)", line))


Runner = Callable[[list[str]], str]
# one per allocated node group: "Nodes=gf-h100-1 CPU_IDs=0 Mem=0 GRES=gpu:h100:4(IDX:0-3)"
_DETAIL = re.compile(r"Nodes=(\S+) CPU_IDs=\S+ Mem=\S+ GRES=\S*?IDX:([\d,-]+)\)")


def slurm_nodes(run: Runner) -> dict[str, tuple[str, int]]:
    """Each node's GPU type and count from ``Gres=gpu:h100:8(S:0)``."""
    nodes: dict[str, tuple[str, int]] = {}
    for line in run(["scontrol", "-o", "show", "node"]).splitlines():
        f = fields(line)
        m = re.search(r"gpu:(\w+):(\d+)", f.get("Gres", ""))
        if "NodeName" in f and m:
            nodes[f["NodeName"]] = (m.group(1), int(m.group(2)))
    return nodes


def slurm_holders(
    run: Runner,
    control: dict[int, float],
    busy_util: float,
) -> dict[tuple[str, int], Holder]:
    """(node, GPU index) -> the running job that holds it."""
    held: dict[tuple[str, int], Holder] = {}
    for line in run(["scontrol", "-d", "-o", "show", "job"]).splitlines():
        if "JobState=RUNNING" not in line:
            continue
        f = fields(line)
        job_id = int(f["JobId"])
        util = control.get(job_id)
        if util is None:
            m = re.search(r"gpu_util=(\d+(?:\.\d+)?)", f.get("Comment", ""))
            util = float(m.group(1)) if m else busy_util
        holder = Holder(job_id, f.get("Account", ""), f.get("UserId", "").split("(")[0], util)
        for nodes, idx in re.findall(
            r"Nodes=(\S+) CPU_IDs=\S+ Mem=\S+ GRES=\S*?IDX:([\d,-]+)\)", line
        ):
            for node in expand_hostlist(nodes):
                for i in expand_indices(idx):
                    held[(node, i)] = holder
    return held


def read_control(path: Path | None) -> dict[int, float]:
    if path is None or not path.exists():
        return {}
    out: dict[int, float] = {}
    for raw in path.read_text().splitlines():
        parts = raw.split()
        if len(parts) == 2 and parts[0].isdigit():
            out[int(parts[0])] = float(parts[1])
    return out


def labels(node: str, gpu: int, model: Model, holder: Holder | None) -> str:
    gpu_uuid = uuid.uuid5(uuid.NAMESPACE_DNS, f"gpufleet-devcluster/{node}/{gpu}")
    pairs = [
        ("gpu", str(gpu)),
        ("UUID", f"GPU-{gpu_uuid}"),
        ("pci_bus_id", f"00000000:{0x18 + gpu * 0x10:02X}:00.0"),
        ("device", f"nvidia{gpu}"),
        ("modelName", model.name),
        ("Hostname", node),
        ("DCGM_FI_DRIVER_VERSION", DRIVER_VERSION),
        ("container", holder.user if holder else ""),
        ("namespace", holder.account if holder else ""),
        ("pod", f"slurm-job-{holder.job_id}" if holder else ""),
    ]
    if holder:
        pairs.append(("hpc_job", str(holder.job_id)))
    return ",".join(f'{k}="{v}"' for k, v in pairs)


def render(nodes: dict[str, tuple[str, int]], held: dict[tuple[str, int], Holder]) -> str:
    lines: list[str] = []
    for name, help_text in FIELDS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for node, (gtype, count) in sorted(nodes.items()):
            model = MODELS.get(gtype, MODELS["h100"])
            for gpu in range(count):
                holder = held.get((node, gpu))
                util = holder.util_pct if holder else 0.0
                if name == "DCGM_FI_DEV_GPU_UTIL":
                    value = f"{round(util)}"
                elif name == "DCGM_FI_DEV_FB_USED":
                    value = f"{round(model.fb_total_mib * util / 100)}"
                else:  # power in W, printed with %f as dcgm-exporter prints floats
                    span = model.max_power_w - model.idle_power_w
                    value = f"{model.idle_power_w + span * util / 100:f}"
                lines.append(f"{name}{{{labels(node, gpu, model, holder)}}} {value}")
    return "\n".join(lines) + "\n"


class Exporter:
    def __init__(self, control: Path | None, busy_util: float) -> None:
        self.control = control
        self.busy_util = busy_util
        self.lock = threading.Lock()
        self.cached_at = 0.0
        self.text = ""

    @staticmethod
    def run(argv: list[str]) -> str:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout

    def metrics(self) -> str:
        with self.lock:
            if time.monotonic() - self.cached_at > 1.0:
                nodes = slurm_nodes(self.run)
                held = slurm_holders(self.run, read_control(self.control), self.busy_util)
                self.text = render(nodes, held)
                self.cached_at = time.monotonic()
            return self.text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=19400)
    ap.add_argument("--control", type=Path, help="file of 'JOBID PERCENT' lines")
    ap.add_argument("--busy-util", type=float, default=90.0)
    args = ap.parse_args()
    exporter = Exporter(args.control, args.busy_util)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "only /metrics")
                return
            try:
                body = exporter.metrics().encode()
            except (subprocess.SubprocessError, OSError) as exc:
                self.send_error(503, f"slurm not readable: {exc}")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one scrape a second: no access log

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

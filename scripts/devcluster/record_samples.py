#!/usr/bin/env python3
"""Record real Slurm outputs from the running dev cluster for gpufleet's unit tests.

Sets the article's scene on the cluster, records every command and slurmrestd path that
``gpufleet.live.slurm`` reads into ``tests/live/samples/slurm/`` (with ``manifest.json``
for ``ReplayRunner``), then cancels the jobs and resumes the node. The scene: a finished
1-GPU warm-up job; two 4-H100 jobs of tesla1, three 2-H100 jobs of xai1 (xai's GrpTRES
gres/gpu=4 lets two run, the third pends with AssocGrpGRES), one 8-H100 job of tesla2,
and gf-a100-1 set DOWN with reason "no power". Which of tesla's jobs runs and which pends
with Resources is Slurm's choice (by fair-share priority), recorded as it fell.

Run with the project's venv: ``.venv/bin/python scripts/devcluster/record_samples.py``
(and with ``--multinode`` for the second scene, :func:`multinode`).
The slurmrestd ``/openapi`` document (500 kB) is kept with its path keys only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpufleet.live.runner import RecordingRunner, SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.rest import unix_get

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("GPUFLEET_DEVCLUSTER_STATE", "/tmp/gpufleet-devcluster"))
OUT = ROOT / "tests/live/samples/slurm"
SOCKET = str(STATE / "rest/slurmrestd.sock")
os.environ["SLURM_CONF"] = str(STATE / "etc/slurm.conf")


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def submit(user: str, account: str, part: str, gres: str, name: str, secs: int, *extra: str) -> str:
    return sh(
        "runuser", "-u", user, "--", "sbatch", "--parsable", "-A", account, "-p", part,
        "--chdir=/tmp", "-o", "/dev/null", f"--gres=gpu:{gres}", "-t", "10", "-J", name,
        *extra, "--wrap", f"sleep {secs}",
    )  # fmt: skip


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 120) -> None:
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            sys.exit(f"record_samples: {what} not reached in {timeout_s:g} s")
        time.sleep(1)


def main() -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    done = submit("tesla1", "tesla", "h100", "h100:1", "tesla-warmup", 1)
    wait_for(
        "the warm-up job's end",
        lambda: sh("squeue", "-h", "-j", done, "-o", "%T") in ("", "COMPLETED"),
    )
    ids = [submit("tesla1", "tesla", "h100", "h100:4", f"tesla-train-{i}", 600) for i in (1, 2)]
    ids += [submit("xai1", "xai", "h100", "h100:2", f"xai-grok-{i}", 600) for i in (1, 2, 3)]
    ids.append(submit("tesla2", "tesla", "h100", "h100:8", "tesla-big", 600))
    sh("scontrol", "update", "nodename=gf-a100-1", "state=down", "reason=no power")
    try:
        wait_for(
            "4 running jobs", lambda: len(sh("squeue", "-h", "-t", "R", "-o", "%i").split()) == 4
        )
        # priorities are computed every PriorityCalcPeriod (60 s here)
        wait_for(
            "priorities", lambda: "1" not in sh("squeue", "-h", "-t", "PD", "-o", "%Q").split()
        )
        record(since)
    finally:
        sh("scancel", *ids)
        sh("scontrol", "update", "nodename=gf-a100-1", "state=resume")


def record(since: datetime) -> None:
    recorder = RecordingRunner(SubprocessRunner(), OUT)
    client = SlurmCliSource(recorder)
    client.jobs(), client.nodes(), client.associations(), client.fairshare(), client.config()
    client.history(since)
    for path in ("/slurm/v0.0.38/jobs", "/slurm/v0.0.38/nodes", "/openapi"):
        status, body = unix_get(SOCKET, path)
        if status != 200:
            sys.exit(f"record_samples: GET {path}: HTTP {status}")
        if path == "/openapi":
            doc = json.loads(body)
            body = json.dumps(
                {"openapi": doc["openapi"], "paths": {key: {} for key in doc["paths"]}}, indent=1
            )
        recorder.save(f"GET {path}", body)
    meta = {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sacct_since": since.isoformat(),
    }
    (OUT / "recorded.json").write_text(json.dumps(meta, indent=2) + "\n")


def multinode() -> None:
    """A second, smaller scene: a 2-node job (one GRES detail per node), a job whose
    utilisation is set by its comment, a job pending on xai's cap. Records squeue's JSON
    (samples/slurm-multinode) and what the DCGM exporter reads and serves (samples/dcgm)."""
    ids = [
        submit("tesla1", "tesla", "h100", "h100:3", "tesla-train", 600, "--comment=gpu_util=73"),
        submit("xai1", "xai", "h100", "h100:2", "xai-wide", 600, "-N", "2"),
    ]
    wait_for("2 running jobs", lambda: len(sh("squeue", "-h", "-t", "R", "-o", "%i").split()) == 2)
    ids.append(submit("xai2", "xai", "h100", "h100:1", "xai-pend", 600))
    try:
        wait_for("AssocGrpGRES", lambda: "AssocGrpGRES" in sh("squeue", "-h", "-o", "%r"))
        time.sleep(1.5)  # the exporter caches Slurm's answer for a second
        RecordingRunner(SubprocessRunner(), ROOT / "tests/live/samples/slurm-multinode").run(
            ["squeue", "--json"]
        )
        dcgm = RecordingRunner(SubprocessRunner(), ROOT / "tests/live/samples/dcgm")
        dcgm.run(["scontrol", "-d", "-o", "show", "job"])
        dcgm.run(["scontrol", "-o", "show", "node"])
        port = os.environ.get("GPUFLEET_DEVCLUSTER_EXPORTER_PORT", "19400")
        dcgm.run(["curl", "-sf", f"http://127.0.0.1:{port}/metrics"])
    finally:
        sh("scancel", *ids)


if __name__ == "__main__":
    multinode() if sys.argv[1:] == ["--multinode"] else main()

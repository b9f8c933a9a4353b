"""Metering and the statement on the real dev cluster (``-m live``, under its lock): the
enact story's lease of tesla's memphis node to xai is applied (``gpufleet apply slurm
--apply``), xai1 runs a real job on tesla's gf-h100-1, sacct records it, ``gpufleet
meter`` reads sacct itself, and the statement bills exactly the GPU-hours sacct records,
checked here by hand from sacct's own Start, End and AllocTRES. The cluster is restored
as it was (``cluster``, tests/support/enact_cluster.py: the job cancelled if still there,
each account put back, checked equal), even when the test fails."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.governance.store.db import Store
from tests.live.devcluster import DevCluster, wait_for
from tests.live.enact.lease import lend
from tests.live.enact.test_enact_live import _apply

pytestmark = [pytest.mark.live, pytest.mark.slow]  # .ci/run runs them: -m slow tests/live
CONFIG = Path(__file__).parents[3] / "tests/live/register/live.yaml"


def _sacct_of(dc: DevCluster, job: int) -> tuple[int, int, str, str]:
    """sacct's own Start, End (epoch seconds), AllocTRES and NodeList of the job."""
    line = dc.slurm("env", "SLURM_TIME_FORMAT=%s", "sacct", "-X", "-P", "-n", "-j", str(job),
                    "--format=Start,End,AllocTRES,NodeList,State")  # fmt: skip
    start, end, tres, nodes, state = line.split("|")
    assert state == "COMPLETED", line
    return int(start), int(end), tres, nodes


def test_the_statement_bills_exactly_the_gpu_hours_sacct_records_for_xai_on_teslas_node(
    cluster: DevCluster, register: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    lend(register)  # 8 H100 of memphis-h100 (gf-h100-1), tesla -> xai, $1,500,000, 31 days
    assert _apply(register, "--apply", "--lock-file", str(tmp_path / "apply.lock")) == 0
    capsys.readouterr()
    job = int(cluster.slurm(
        "runuser", "-u", "xai1", "--", "sbatch", "--parsable", "-A", "xai", "-p", "h100",
        "--gres=gpu:h100:4", "-w", "gf-h100-1", "-t", "5", "-J", "meter-xai", "--chdir=/tmp",
        "-o", "/dev/null", "--wrap", "sleep 12",
    ))  # fmt: skip
    state = ("sacct", "-X", "-n", "-P", "-j", str(job), "--format=State")
    wait_for("xai1's job completed in sacct",
             lambda: cluster.slurm(*state) == "COMPLETED" or None, 120)  # fmt: skip
    time.sleep(1)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    assert main(["meter", "--config", str(CONFIG), *window, "--db", register.url, "--json"]) == 0
    metered = json.loads(capsys.readouterr().out)
    assert metered["cluster"] == "gfdev" and metered["unmapped"] == []
    out = tmp_path / "statement.json"
    argv = ["statement", *window, "--from", "tesla", "--to", "xai", "--format", "json"]
    assert main([*argv, "-o", str(out), "--db", register.url]) == 0
    (line,) = json.loads(out.read_text())["lines"]

    # by hand, from sacct's own record of the job: GPUs from AllocTRES's gres/gpu=N,
    # GPU-hours = N x (End - Start) / 3600, all of it on tesla's gf-h100-1
    start, end, tres, nodes = _sacct_of(cluster, job)
    gpus = int(dict(item.split("=") for item in tres.split(","))["gres/gpu"])
    assert (gpus, nodes) == (4, "gf-h100-1")
    assert since.timestamp() <= start <= end <= until.timestamp()
    gpu_hours = gpus * (end - start) / 3600
    assert end - start >= 12
    assert (line["pool"], line["jobs"]) == ("memphis-h100", 1)
    assert line["gpu_hours"] == round(gpu_hours, 4)
    # the lease's agreed rate: $1,500,000 / (8 GPUs x 31 days x 24 h = 5,952 GPU-h)
    assert line["agreed_usd"] == round(gpu_hours * 1_500_000 / 5_952, 2)
    assert line["cost_plus_usd"] == round(gpu_hours * 2.00, 2)  # the flat $2.00/GPU-h
    assert line["transfers"] == ["#1 enact-lease"]

"""Metering and the statement on the real dev cluster (``-m live``, under its lock): the
enact story's lease of tesla's memphis node to xai is applied (``gpufleet apply slurm
--apply``), xai1 runs a real job on tesla's gf-h100-1, sacct records it, ``gpufleet
meter`` reads sacct itself, and the statement bills exactly the GPU-hours sacct records,
checked here by hand from sacct's own Start, End and AllocTRES. The cluster is restored
as it was (``restored``: the job cancelled if still there, each GPU cap put back one TRES
at a time, checked equal), even when the test fails."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.governance.store.db import Store
from tests.live.devcluster import DevCluster, wait_for
from tests.live.enact.lease import lend
from tests.live.enact.test_enact_live import ASSOC, _accounts, _apply, register

pytestmark = pytest.mark.live
CONFIG = Path(__file__).parents[3] / "tests/live/register/live.yaml"
__all__ = ["register"]  # the enact story's register fixture, used here


def _restore_caps(dc: DevCluster, before: str) -> None:
    """Each account's GPU caps as they were, one TRES per command: a command that sets a
    TRES the cluster does not track (``gres/gpu:a100`` here) is refused whole by sacctmgr
    ("Nothing modified", exit 1), so only the TRES that differ are set."""
    then, now = _accounts(before), _accounts(dc.slurm(*ASSOC))
    for account, (_, _, caps) in then.items():
        held = now[account][2]
        for tres in sorted(caps.keys() | held.keys()):
            if caps.get(tres) != held.get(tres):
                where = ("where", f"name={account}", "cluster=gfdev")
                value = f"GrpTRES={tres}={caps.get(tres, -1)}"
                dc.slurm("sacctmgr", "-i", "modify", "account", *where, "set", value)


@pytest.fixture
def restored(devcluster: DevCluster) -> Iterator[DevCluster]:
    with devcluster.exclusive(timeout_s=900):
        before = devcluster.slurm(*ASSOC)
        try:
            yield devcluster
        finally:
            devcluster.slurm("scancel", "--name=meter-xai", "--full")
            _restore_caps(devcluster, before)
            assert devcluster.slurm(*ASSOC) == before


def _sacct_of(dc: DevCluster, job: int) -> tuple[int, int, str, str]:
    """sacct's own Start, End (epoch seconds), AllocTRES and NodeList of the job."""
    line = dc.slurm("env", "SLURM_TIME_FORMAT=%s", "sacct", "-X", "-P", "-n", "-j", str(job),
                    "--format=Start,End,AllocTRES,NodeList,State")  # fmt: skip
    start, end, tres, nodes, state = line.split("|")
    assert state == "COMPLETED", line
    return int(start), int(end), tres, nodes


def test_the_statement_bills_exactly_the_gpu_hours_sacct_records_for_xai_on_teslas_node(
    restored: DevCluster, register: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = restored
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

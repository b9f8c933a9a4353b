"""``gpufleet forecast --lease`` on the real dev cluster (issue 12, item 4): xai's cap
(GrpTRES gres/gpu=4) holds its third 2-H100 job on AssocGrpGRES while 12 H100 are free;
the forecast without the lease starts it when the first of xai's two running jobs reaches
its 10-minute limit, and with 4 H100 lent by tesla (xai's cap raised to 8, tesla has none
to lower) at once. Each figure is computed here by hand from what squeue said, and Slurm
is checked to be unchanged: the forecast only reads. About 25 s (Slurm starting the
jobs and deciding the third one most of it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gpufleet.cli.main import main
from tests.live.devcluster import DevCluster, wait_for
from tests.live.scene import clean

pytestmark = pytest.mark.live

MAPPING = Path(__file__).parent / "samples" / "mapping" / "devcluster.yaml"
LIMIT_S = 600  # -t 10


def _submit(cluster: DevCluster) -> int:
    argv = ["runuser", "-u", "xai1", "--", "sbatch", "--parsable", "-A", "xai", "-p", "h100"]
    argv += ["--gres=gpu:h100:2", "-t", "10", "--chdir=/tmp", "-o", "/dev/null"]
    return int(cluster.slurm(*argv, "--wrap", "sleep 300"))


def _squeue(cluster: DevCluster, ids: list[int]) -> dict[int, tuple[str, str, str]]:
    out = cluster.slurm("squeue", "-h", "-j", ",".join(map(str, ids)), "-o", "%i|%T|%r|%S")
    rows = (line.split("|") for line in out.splitlines())
    return {int(i): (state, reason, start) for i, state, reason, start in rows}


def _capped(cluster: DevCluster, ids: list[int]) -> dict[int, tuple[str, str, str]] | None:
    seen = _squeue(cluster, ids)
    running = [i for i in ids[:2] if seen.get(i, ("",))[0] == "RUNNING"]
    held = seen.get(ids[2], ("", "", ""))[:2] == ("PENDING", "AssocGrpGRES")
    return seen if len(running) == 2 and held else None


@pytest.fixture
def capped(devcluster: DevCluster) -> Iterator[tuple[list[int], dict[int, tuple[str, str, str]]]]:
    with devcluster.exclusive():
        clean(devcluster)
        try:
            ids = [_submit(devcluster) for _ in range(3)]
            seen = wait_for(
                "two xai jobs running, the third on AssocGrpGRES",
                lambda: _capped(devcluster, ids),
                30,
            )
            yield ids, seen
        finally:
            clean(devcluster)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _local(text: str) -> datetime:
    """squeue's ``%S``: this machine's local time, to the second."""
    return datetime.fromisoformat(text).astimezone()


def test_a_lease_of_4_h100_starts_xais_capped_job_now_instead_of_at_the_first_limit(
    devcluster: DevCluster,
    capped: tuple[list[int], dict[int, tuple[str, str, str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids, seen = capped
    config = tmp_path / "live.yaml"
    env = json.dumps(devcluster.env)
    config.write_text(f"mapping: {MAPPING}\nsources:\n  slurm: {{mode: commands, env: {env}}}\n")
    argv = ["forecast", "--config", str(config), "--json", "--horizon", "1d"]
    assert main([*argv, "--lease", "4 H100 tesla->xai"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    base, leased = doc["base"], doc["leased"]
    now = _instant(base["now"])
    started = {
        j["job_id"]: _instant(j["end"]) - timedelta(seconds=LIMIT_S)
        for j in base["running"]
        if j["job_id"] in ids[:2]
    }
    # the running jobs' starts in the forecast are Slurm's (squeue's %S, local time)
    assert started == {i: _local(seen[i][2]) for i in ids[:2]}
    # base: xai's cap of 4 is full until the first running job reaches its limit:
    # start = min(start_1, start_2) + 600 s
    first_end = min(started.values()) + timedelta(seconds=LIMIT_S)
    (third,) = [j for j in base["pending"] if j["job_id"] == ids[2]]
    assert _instant(third["start"]) == first_end
    assert _instant(third["end"]) == first_end + timedelta(seconds=LIMIT_S)
    # lease: xai's cap 4 + 4 = 8 >= 6 asked; 16 H100 - 4 held = 12 free: it starts now
    (lent,) = [j for j in leased["pending"] if j["job_id"] == ids[2]]
    assert _instant(lent["start"]) == now
    (grok,) = [p for p in doc["programs"] if p["program"] == "grok"]
    assert grok["pending"] == 1
    # the change: now - (min start + 600 s), between -600 s and 0 (the jobs began < 30 s ago)
    assert grok["start_change_s"] == pytest.approx((now - first_end).total_seconds())
    assert -LIMIT_S < grok["start_change_s"] < -LIMIT_S + 60
    assert "account tesla has no GPU cap: lending takes nothing from it" in doc["notes"]
    # the forecast only read: Slurm still holds the third job on the cap, xai's cap is 4
    after = _squeue(devcluster, ids)
    assert after[ids[2]][:2] == ("PENDING", "AssocGrpGRES")
    assoc = devcluster.slurm(
        "sacctmgr", "-nP", "show", "assoc", "account=xai", "user=", "format=GrpTRES"
    )
    assert assoc.splitlines()[0] == "gres/gpu=4"
    assert seen[ids[2]][:2] == ("PENDING", "AssocGrpGRES")

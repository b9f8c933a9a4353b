"""``gpufleet apply slurm`` on the real dev cluster (scripts/devcluster): a plan on the
untouched cluster, a lease approved through the register's governance moves 4 H100 of
quota from tesla to xai, the apply makes xai's job that pended on AssocGrpGRES start, a
second apply is a no-op, and a change Slurm refuses mid-apply rolls the others back.

The cluster's associations and reservations are restored to exactly what they were, even
when a test fails (the fixture's finalizer), under the dev cluster's lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from gpufleet.cli.main import main
from gpufleet.governance.store.audit import verify
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord
from gpufleet.live.enact.slurm_apply import Outcome, SubprocessExecutor
from tests.live.devcluster import DevCluster, wait_for
from tests.live.enact.lease import lend

pytestmark = [pytest.mark.live, pytest.mark.slow]  # .ci/run runs them: -m slow tests/live
ROOT = Path(__file__).parents[3]


def _apply(store: Store, *extra: str) -> int:
    config = ROOT / "tests/live/register/live.yaml"
    argv = ["apply", "slurm", "--cluster", "gfdev", "--config", str(config)]
    return main([*argv, "--db", store.url, *extra])


def _xai_cap(dc: DevCluster) -> str:
    return dc.slurm("sacctmgr", "-P", "-n", "show", "assoc", "where", "account=xai", "user=",
                    "format=GrpTRES")  # fmt: skip


def test_a_lease_applied_starts_xais_job_that_pended_on_its_quota_and_reapplying_is_a_noop(
    cluster: DevCluster, register: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the untouched cluster: xai's 4 match; tesla has no cap, the register says 8 + 4
    assert _apply(register, "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(c["target"], c["before"], c["after"]) for c in plan["changes"]] == [
        ("tesla", None, 12)
    ]
    jobs = [cluster.submit(u, "xai", "h100:4", "enact-xai") for u in ("xai1", "xai2")]

    def reasons() -> dict[int, str]:
        out = cluster.slurm("squeue", "-h", "-A", "xai", "-n", "enact-xai", "-o", "%i %r")
        return {int(i): r for i, r in (line.split() for line in out.splitlines())}

    # one runs (4 of xai's 4), the other waits on the quota: Slurm picks which
    wait_for("an xai job pending on AssocGrpGRES", lambda: (
        "AssocGrpGRES" in reasons().values()) or None)  # fmt: skip
    (second,) = [j for j, r in reasons().items() if r == "AssocGrpGRES"]
    (first,) = [j for j in jobs if j != second]
    tid = lend(register)
    lock = ["--lock-file", str(tmp_path / "apply.lock")]
    assert _apply(register, "--apply", *lock) == 0
    out = capsys.readouterr().out
    # tesla (8 - 8 H100) + 4 A100 = 4 first (a lowering), then xai 4 + 8 = 12
    assert "set tesla gres/gpu: none -> 4" in out and "set xai gres/gpu: 4 -> 12" in out
    assert f"transfer #{tid} 'enact-lease' (active)" in out
    assert "Running jobs are never cancelled" in out
    assert _xai_cap(cluster) == "gres/gpu=12"
    state = ("squeue", "-h", "-j", str(second), "-o", "%T")
    wait_for("xai's second job running", lambda: cluster.slurm(*state) == "RUNNING" or None, 60)
    assert cluster.slurm("squeue", "-h", "-j", str(first), "-o", "%T") == "RUNNING"
    with register.read() as s:
        records = list(
            s.scalars(select(AuditRecord).where(AuditRecord.object_type == "slurm-cluster"))
        )
        assert verify(s).ok
    assert [r.action for r in records] == [
        "enact-begin",
        "enact-change",
        "enact-change",
        "enact-end",
    ]
    change = json.loads(records[2].after)
    assert (change["target"], change["value"], change["transfers"]) == ("xai", 12, [tid])
    assert json.loads(records[2].before)["value"] == 4
    approvals = [a["person"] for a in change["causes"][1]["approvals"]]
    assert approvals == ["tesla-independent-1", "tesla-independent-2"]
    # a second apply finds nothing to do and writes nothing
    assert _apply(register, "--apply", *lock) == 0
    assert capsys.readouterr().out.endswith("0 change(s)\nnothing to do\n")
    with register.read() as s:
        assert (
            len(
                list(
                    s.scalars(select(AuditRecord).where(AuditRecord.object_type == "slurm-cluster"))
                )
            )
            == 4
        )


class RefuseSecond(SubprocessExecutor):
    """The real commands, except that the second one names an account Slurm does not have:
    the real sacctmgr refuses it ("Nothing modified", exit 1)."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.calls = 0

    def run(self, argv: Sequence[str]) -> Outcome:
        self.calls += 1
        if self.calls == 2:
            argv = [a.replace("name=xai", "name=gpufleet-no-such-account") for a in argv]
        return super().run(argv)


def test_a_change_slurm_refuses_mid_apply_rolls_back_the_ones_before_it(
    cluster: DevCluster, register: Store
) -> None:
    from gpufleet.live.enact.current import read_cluster
    from gpufleet.live.enact.desired import desired_state
    from gpufleet.live.enact.model import ClusterSettings
    from gpufleet.live.enact.register import read_rows
    from gpufleet.live.enact.slurm_apply import EnactFailedError, apply
    from gpufleet.live.mapping import load_mapping
    from gpufleet.live.runner import SubprocessRunner

    lend(register)
    with register.read() as s:
        rows = read_rows(s)
    mapping = load_mapping(ROOT / "tests/live/samples/mapping/devcluster.yaml")
    desired = desired_state(
        rows, mapping, ClusterSettings("gfdev"), datetime.now(UTC).replace(tzinfo=None)
    )
    runner = SubprocessRunner(cluster.env)
    before = read_cluster(runner, "gfdev")
    with pytest.raises(EnactFailedError) as failed:
        apply(desired, runner, RefuseSecond(cluster.env), register, "test:enact")
    assert "name=gpufleet-no-such-account" in str(failed.value)
    assert "Nothing modified" in str(failed.value)
    assert "rolled back" in str(failed.value)
    assert read_cluster(runner, "gfdev") == before  # tesla's new cap undone
    with register.read() as s:
        actions = [
            r.action
            for r in s.scalars(
                select(AuditRecord).where(AuditRecord.object_type == "slurm-cluster")
            )
        ]
        end = s.scalars(select(AuditRecord).where(AuditRecord.action == "enact-end")).one()
    assert actions == ["enact-begin", "enact-change", "enact-rollback", "enact-end"]
    assert json.loads(end.after)["outcome"] == "rolled-back"


def test_after_a_kill_9_mid_apply_the_next_run_says_partly_and_rolls_back(
    cluster: DevCluster, register: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lend(register)
    conf = cluster.env["SLURM_CONF"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-m", "tests.live.enact.killer", register.url, conf],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the first change (tesla: no cap -> 4) ran; the second (xai 4 -> 12) never did
    assert _apply(register) == 0
    out = capsys.readouterr().out
    assert "did not finish: partly: changes 1 applied" in out
    lock = ["--lock-file", str(tmp_path / "apply.lock")]
    assert _apply(register, "--apply", "--rollback-unfinished", *lock) == 0
    assert "was partly: changes 1 applied; rolled back 1 change(s)" in capsys.readouterr().out
    assert _xai_cap(cluster) == "gres/gpu=4"
    tesla = cluster.slurm(
        "sacctmgr", "-P", "-n", "show", "assoc", "where", "account=tesla", "user=", "format=GrpTRES"
    )
    assert tesla == ""  # back to no cap: the old state
    with register.read() as s:
        ends = [json.loads(r.after)["outcome"] for r in s.scalars(
            select(AuditRecord).where(AuditRecord.action == "enact-end"))]  # fmt: skip
        assert verify(s).ok
    assert ends == ["recovered-rolled-back"]


def test_apply_tells_a_hand_made_cap_as_drift_and_reverts_it_only_with_enforce(
    cluster: DevCluster, register: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lend(register)
    lock = ["--lock-file", str(tmp_path / "apply.lock")]
    assert _apply(register, "--apply", *lock) == 0
    first = capsys.readouterr().out
    assert "set tesla gres/gpu: none -> 4" in first and "set xai gres/gpu: 4 -> 12" in first, first
    cluster.slurm("sacctmgr", "-i", "modify", "account", "xai", "set", "GrpTRES=gres/gpu=7")
    assert _apply(register, "--apply", *lock) == 0
    out = capsys.readouterr().out
    assert "0 change(s)" in out and "nothing to do" in out
    assert "drift: gfdev: xai gres/gpu is 7, the register says 12 (changed by root at " in out
    assert "; not reverted (--enforce would)\nnothing to do\n" in out
    assert _xai_cap(cluster) == "gres/gpu=7"
    assert _apply(register, "--apply", "--enforce", *lock) == 0
    out = capsys.readouterr().out
    assert "set xai gres/gpu: 7 -> 12" in out and "reverted (--enforce)" in out
    assert _xai_cap(cluster) == "gres/gpu=12"
    assert _apply(register, "--status") == 0
    status = capsys.readouterr().out.splitlines()
    # two runs: the lease (2 changes) and the enforced revert (1), each begin .. end, and
    # between them the drift, audited once (the enforcing apply found the same drift)
    assert [line.split()[3] for line in status] == [
        "enact-begin:", "enact-change:", "enact-change:", "enact-end:", "enact-drift:",
        "enact-begin:", "enact-change:", "enact-end:",
    ]  # fmt: skip
    assert "xai gres/gpu is 7, the register says 12 (changed by root at" in status[4]
    assert status[-2].endswith("xai gres/gpu -> 12")

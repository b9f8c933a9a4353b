"""The enactment worker on the real dev cluster (scripts/devcluster), under its lock and
with its associations restored exactly afterwards (``cluster``, conftest.py):

- a lease (approved through the register's governance) is enacted at the tick at its
  start, the worker having asked to wake exactly then, and reverted at its end;
- a worker process killed with ``kill -9`` mid-apply: the next worker says what it found
  (partly: change 1 applied) and finishes the run forward, the cluster consistent;
- a hand-made ``sacctmgr modify account xai set GrpTRES=gres/gpu=7`` is drift, with root
  and the time from sacctmgr's transactions, audited once, reverted only with enforce.

The register's instant is the worker's injected clock (the lease's start and end are
whole days), the cluster and its commands are real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gpufleet.governance.store.audit import verify
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord, TransferRow
from gpufleet.live.enact.slurm_apply import SubprocessExecutor
from gpufleet.live.enact.worker import EnactOptions, EnactWorker, utc_now
from gpufleet.live.mapping import load_mapping
from gpufleet.live.runner import SubprocessRunner
from tests.live.devcluster import DevCluster
from tests.live.enact.killer import MAPPING
from tests.live.enact.lease import lend

pytestmark = [pytest.mark.live, pytest.mark.slow]  # .ci/run runs them: -m slow tests/live
ROOT = Path(__file__).parents[3]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _worker(
    dc: DevCluster, store: Store, lock: Path, clock: Clock | None = None, enforce: bool = False
) -> EnactWorker:
    return EnactWorker(
        store, EnactOptions("gfdev", enforce=enforce), load_mapping(MAPPING),
        SubprocessRunner(dc.env), SubprocessExecutor(dc.env), lock,
        clock=clock or utc_now, actor="test:worker",
    )  # fmt: skip


def _caps(dc: DevCluster) -> dict[str, str]:
    out = dc.slurm("sacctmgr", "-P", "-n", "show", "assoc", "where", "account=tesla,xai",
                   "user=", "format=Account,GrpTRES")  # fmt: skip
    return dict(line.split("|") for line in out.splitlines())


def _actions(store: Store, action: str) -> list[dict[str, object]]:
    with store.read() as s:
        q = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        return [json.loads(r.after) for r in s.scalars(q)]


def _lease_window(store: Store) -> tuple[datetime, datetime]:
    with store.read() as s:
        t = s.scalars(select(TransferRow)).one()
    start, end = datetime.fromisoformat(str(t.start)), datetime.fromisoformat(str(t.end))
    return start, end


def test_the_worker_enacts_a_lease_at_its_start_and_reverts_it_at_its_end(
    cluster: DevCluster, register: Store, tmp_path: Path
) -> None:
    lend(register)
    start, end = _lease_window(register)
    clock = Clock(start - timedelta(seconds=1))
    worker = _worker(cluster, register, tmp_path / "apply.lock", clock)
    # a second before the lease: the register's own caps (tesla 8 H100 + 4 A100 = 12, xai 4),
    # and the worker asks to wake in 1 s, at the lease's start, not a 60 s tick later
    assert worker.tick() == 1.0
    assert worker.state.last is not None and worker.state.last.outcome == "applied"
    assert _caps(cluster) == {"tesla": "gres/gpu=12", "xai": "gres/gpu=4"}
    clock.at = start
    worker.tick()
    # in force: tesla 12 - 8 = 4, xai 4 + 8 = 12
    assert _caps(cluster) == {"tesla": "gres/gpu=4", "xai": "gres/gpu=12"}
    assert worker.state.last.changes == 2 and worker.state.drift == ()
    clock.at = end - timedelta(seconds=5)
    assert worker.tick() == 5.0  # nothing to do; wakes at the end
    assert worker.state.last.outcome == "nothing-to-do"
    clock.at = end
    worker.tick()
    assert _caps(cluster) == {"tesla": "gres/gpu=12", "xai": "gres/gpu=4"}
    assert [e["outcome"] for e in _actions(register, "enact-end")] == ["applied"] * 3
    with register.read() as s:
        assert verify(s).ok


def test_a_worker_killed_mid_apply_is_said_partly_and_finished_forward_by_the_next(
    cluster: DevCluster, register: Store, tmp_path: Path
) -> None:
    lend(register)
    lock = tmp_path / "apply.lock"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-m", "tests.live.enact.worker_killer", register.url,
         cluster.env["SLURM_CONF"], str(lock)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the first change (tesla: none -> 4) ran, the second (xai 4 -> 12) never did
    assert _caps(cluster) == {"tesla": "gres/gpu=4", "xai": "gres/gpu=4"}
    worker = _worker(cluster, register, lock)
    worker.tick()
    assert worker.state.recovered is not None
    assert "was cut short: partly: changes 1 applied" in worker.state.recovered
    assert _caps(cluster) == {"tesla": "gres/gpu=4", "xai": "gres/gpu=12"}
    ends = _actions(register, "enact-end")
    assert [e["outcome"] for e in ends] == ["finished-by", "applied"]
    assert ends[0]["by"] == ends[1]["run"]
    with register.read() as s:
        assert verify(s).ok


def test_a_cap_changed_by_hand_is_drift_with_root_and_its_time_reverted_only_with_enforce(
    cluster: DevCluster, register: Store, tmp_path: Path
) -> None:
    lend(register)
    lock = tmp_path / "apply.lock"
    worker = _worker(cluster, register, lock)
    worker.tick()
    assert _caps(cluster) == {"tesla": "gres/gpu=4", "xai": "gres/gpu=12"}
    before = utc_now()
    cluster.slurm("sacctmgr", "-i", "modify", "account", "xai", "set", "GrpTRES=gres/gpu=7")
    worker.tick()
    (d,) = worker.state.drift
    assert (d.target, d.attribute, d.found, d.desired) == ("xai", "gres/gpu", 7, 12)
    assert d.actor == "root"  # the tests run sacctmgr as root
    assert d.changed_at is not None
    changed = datetime.fromisoformat(d.changed_at)
    assert before - timedelta(seconds=2) <= changed <= utc_now()
    assert _caps(cluster)["xai"] == "gres/gpu=7"  # told, not reverted
    worker.tick()  # the same drift again: audited once
    drift = _actions(register, "enact-drift")
    assert len(drift) == 1 and drift[0]["actor"] == "root" and drift[0]["found"] == 7
    enforcing = _worker(cluster, register, lock, enforce=True)
    enforcing.tick()
    assert _caps(cluster)["xai"] == "gres/gpu=12"
    change = _actions(register, "enact-change")[-1]
    assert (change["target"], change["value"]) == ("xai", 12)
    assert len(_actions(register, "enact-drift")) == 1


def test_a_revoked_lease_is_reverted_at_the_next_tick(
    cluster: DevCluster, register: Store, tmp_path: Path
) -> None:
    from gpufleet.governance.store.models import PersonRow
    from gpufleet.governance.transfers import lifecycle

    tid = lend(register)
    worker = _worker(cluster, register, tmp_path / "apply.lock")
    worker.tick()
    assert _caps(cluster) == {"tesla": "gres/gpu=4", "xai": "gres/gpu=12"}
    with register.read() as s:
        director = s.scalars(select(PersonRow).where(PersonRow.name == "tesla-independent-1")).one()
    with register.write("cli:tesla-independent-1") as tx:
        lifecycle.revoke(tx, tid, "not needed", by=director.id)
    worker.tick()
    # out of the plan: tesla's 8 H100 + 4 A100 = 12 again, xai's own 4
    assert _caps(cluster) == {"tesla": "gres/gpu=12", "xai": "gres/gpu=4"}
    assert worker.state.last is not None and worker.state.last.changes == 2
    assert worker.state.drift == ()  # a revocation is scheduled, not drift

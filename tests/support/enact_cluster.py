"""Fixtures of the tests that change the real dev cluster's accounts (enact, metering):
``cluster`` (held under its lock, its associations and reservations restored exactly
afterwards, even on failure) and ``register`` (the enact story's register on SQLite).
The conftest of each such test folder imports them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.db import Store
from tests.live.devcluster import DevCluster

ROOT = Path(__file__).parents[2]
HERE = ROOT / "tests/live/enact"  # the story's register.yaml
GOVERNANCE = ROOT / "src/gpufleet/data/article-governance.yaml"
ASSOC = ("sacctmgr", "-P", "-n", "show", "assoc", "format=Account,User,ParentName,Share,GrpTRES")
TEST_JOBS = ("enact-xai", "meter-xai")  # the jobs the tests submit, cancelled after each


def _snapshot(dc: DevCluster) -> tuple[str, str]:
    return dc.slurm(*ASSOC), dc.slurm("scontrol", "-o", "show", "reservation")


def _accounts(assoc_text: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    """Each account's own association: parent, shares, GPU caps."""
    out = {}
    for line in assoc_text.splitlines():
        account, user, parent, share, tres = line.split("|")
        if not user:
            caps = dict(t.split("=") for t in tres.split(",") if t.startswith("gres/gpu"))
            out[account] = (parent, share, caps)
    return out


def _restore(dc: DevCluster, assoc_text: str) -> None:
    """Put back every account's parent, shares and GPU caps that differ; delete the
    accounts that were added and gpufleet's reservations."""
    before, now = _accounts(assoc_text), _accounts(dc.slurm(*ASSOC))
    for account in now.keys() - before.keys():
        dc.slurm("sacctmgr", "-i", "delete", "account", "where", f"name={account}")
    for account, (parent, share, caps) in before.items():
        held = now.get(account)
        if account == "root" or held is None or held == (parent, share, caps):
            continue
        # one attribute a command, only those that differ: sacctmgr answered "Nothing
        # modified" (exit 1) to parent, fairshare and GrpTRES set together on tesla
        where = ("sacctmgr", "-i", "modify", "account", "where", f"name={account}",
                 "cluster=gfdev", "set")  # fmt: skip
        if held[0] != parent:
            dc.slurm(*where, f"parent={parent}")
        if held[1] != share:
            dc.slurm(*where, f"fairshare={share}")
        # one TRES a command, only those that differ: a command naming a TRES the cluster
        # does not track, or changing nothing, is refused whole ("Nothing modified", exit 1)
        for tres in sorted(caps.keys() | held[2].keys()):
            if caps.get(tres) != held[2].get(tres):
                dc.slurm(*where, f"GrpTRES={tres}={caps.get(tres, -1)}")
    for line in dc.slurm("scontrol", "-o", "show", "reservation").splitlines():
        name = line.split()[0].removeprefix("ReservationName=")
        if name.startswith("gpufleet-"):
            dc.slurm("scontrol", "delete", f"ReservationName={name}")


@pytest.fixture
def cluster(devcluster: DevCluster) -> Iterator[DevCluster]:
    """The dev cluster, held; afterwards the test jobs cancelled and every account's
    parent, shares and GPU caps restored, even on failure, and checked equal."""
    with devcluster.exclusive(timeout_s=900):
        before = _snapshot(devcluster)
        try:
            yield devcluster
        finally:
            for name in TEST_JOBS:
                devcluster.slurm("scancel", f"--name={name}", "--full")
            _restore(devcluster, before[0])
            assert _snapshot(devcluster) == before


@pytest.fixture
def register(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'register.db'}")
    store.upgrade()
    with store.write("cli:test") as tx:
        seed_from_scenario(tx, HERE / "register.yaml")
        load_governance(tx, GOVERNANCE)
    return store

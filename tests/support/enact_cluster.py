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
from gpufleet.live.enact.restore import restore, take
from tests.live.devcluster import DevCluster

ROOT = Path(__file__).parents[2]
HERE = ROOT / "tests/live/enact"  # the story's register.yaml
GOVERNANCE = ROOT / "src/gpufleet/data/article-governance.yaml"
TEST_JOBS = ("enact-xai", "meter-xai")  # the jobs the tests submit, cancelled after each


@pytest.fixture
def cluster(devcluster: DevCluster) -> Iterator[DevCluster]:
    """The dev cluster, held; afterwards the test jobs cancelled and every account's
    parent, shares and GPU caps restored, even on failure, and checked equal."""
    with devcluster.exclusive(timeout_s=900):
        before = take(devcluster.slurm)
        try:
            yield devcluster
        finally:
            for name in TEST_JOBS:
                devcluster.slurm("scancel", f"--name={name}", "--full")
            assert restore(devcluster.slurm, before, "gfdev")


@pytest.fixture
def register(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'register.db'}")
    store.upgrade()
    with store.write("cli:test") as tx:
        seed_from_scenario(tx, HERE / "register.yaml")
        load_governance(tx, GOVERNANCE)
    return store

"""The ``live`` marker (tests against the dev cluster of scripts/devcluster/up) and the
fixture that skips them, saying why, when the cluster is not up."""

from __future__ import annotations

import os

import pytest

from tests.live.devcluster import DevCluster, find_devcluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "live: needs the dev cluster (scripts/devcluster/up); skips when it is down"
    )


@pytest.fixture(scope="session")
def devcluster() -> DevCluster:
    """The running dev cluster. Where it is not up the live tests skip, saying why; with
    ``GPUFLEET_REQUIRE_DEVCLUSTER=1`` (CI, after ``scripts/devcluster/up``) they fail
    instead, so that a broken cluster cannot pass as a skipped one."""
    cluster, why_not = find_devcluster()
    if cluster is None:
        if os.environ.get("GPUFLEET_REQUIRE_DEVCLUSTER") == "1":
            pytest.fail(f"GPUFLEET_REQUIRE_DEVCLUSTER=1 but {why_not}")
        pytest.skip(why_not)
    return cluster

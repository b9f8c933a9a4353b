"""The ``live`` marker (tests against the dev cluster of scripts/devcluster/up) and the
fixture that skips them, saying why, when the cluster is not up."""

from __future__ import annotations

import pytest

from tests.live.devcluster import DevCluster, find_devcluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "live: needs the dev cluster (scripts/devcluster/up); skips when it is down"
    )


@pytest.fixture(scope="session")
def devcluster() -> DevCluster:
    cluster, why_not = find_devcluster()
    if cluster is None:
        pytest.skip(why_not)
    return cluster

"""The fixture of the ``live`` tests (marker in pyproject.toml): the dev cluster of
scripts/devcluster/up, or a skip saying why when it is not up."""

from __future__ import annotations

import os

import pytest

from tests.live.devcluster import DevCluster, find_devcluster


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

"""Fixtures shared by every test.

- ``store``: a fresh register on SQLite and on PostgreSQL (when ``GPUFLEET_TEST_PG_URL`` is
  set), with ``module_url`` for one database per module and backend
  (:mod:`tests.support.stores`).
- ``server_factory``: starts real ``gpufleet serve`` processes and kills every one at
  teardown, whatever the test did (:mod:`tests.support.servers`).

At the end of a run, the suites skipped for want of PostgreSQL, Chromium, the dev cluster
or the traces are counted, with what each needs and ``make test-all``
(:mod:`tests.support.skips`).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ServerFactory, servers
from tests.support.skips import write_summary

pytest_plugins = ["tests.support.stores"]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    with servers(tmp_path / "logs") as factory:
        yield factory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``), every test on the dev cluster runs in one worker,
    one after another: they submit, hold and cancel jobs on one real Slurm and read its
    queue, so two at once would see each other's jobs."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "devcluster" in getattr(item, "fixturenames", ()) or item.get_closest_marker("live"):
            item.add_marker(pytest.mark.xdist_group("devcluster"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write_summary(terminalreporter)

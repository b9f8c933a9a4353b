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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write_summary(terminalreporter)

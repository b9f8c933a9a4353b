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

from collections import Counter
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


@pytest.hookimpl(trylast=True)  # after xdist's own hook, which the last part mends
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Three things for pytest-xdist (``make test``):

    - schemathesis (4.x) names each operation's item ``test[GET /api/v1/me]`` but leaves
      its node id at the bare function's, so the 74 operations of a schemathesis test share
      one id; xdist schedules by id and would run one of them. The id is set from the name.
    - every test on the dev cluster runs in one worker, one after another: they submit,
      hold and cancel jobs on one real Slurm and read its queue, so two at once would see
      each other's jobs.
    - ``--dist loadgroup`` sends the tests of one ``xdist_group`` to one worker by a suffix
      ``@GROUP`` on their node ids, which xdist (3.8) writes to ``item._nodeid``; pytest 9
      reads a node id from ``item._id``, so the suffix was lost and a group's tests (one
      document's commands, which build on one another) went to different workers. The
      suffix is written here, in the form xdist reads, when it is not there already."""
    for item in items:
        bare = item.nodeid.rsplit("::", 1)[-1]
        if item.name != bare and item.name.startswith(bare + "[") and item.parent is not None:
            item._id = item.parent.id.child(item.name)  # pytest 9's structured node id
    seen = Counter(item.nodeid for item in items)
    twice = sorted(nodeid for nodeid, n in seen.items() if n > 1)
    if twice:  # xdist would run each of these once, silently
        raise pytest.UsageError(f"{len(twice)} node ids name several tests: {twice[:3]}")
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "devcluster" in getattr(item, "fixturenames", ()) or item.get_closest_marker("live"):
            item.add_marker(pytest.mark.xdist_group("devcluster"))
    if getattr(config.option, "loadgroup", False):  # set in xdist's workers
        for item in items:
            _suffix_group(item)


def _suffix_group(item: pytest.Item) -> None:
    """``NODEID@GROUP`` for an item in xdist groups, as xdist names it (the groups sorted,
    joined by ``_``), where the node id lacks it."""
    groups = sorted(
        {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
    )
    suffix = "@" + "_".join(groups)
    if not groups or item.nodeid.endswith(suffix):
        return
    if hasattr(item, "_id"):  # pytest 9: a structured node id
        item._id = type(item._id).parse(item.nodeid + suffix)
    else:  # pytest 8: the string itself
        setattr(item, "_nodeid", item.nodeid + suffix)  # noqa: B010 (not in pytest 9's types)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write_summary(terminalreporter)

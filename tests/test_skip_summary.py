"""The end of ``make test``: suites skipped for want of PostgreSQL, Chromium, the dev
cluster or the traces are counted by group with what each needs and ``make test-all``
(tests/support/skips.py, hooked in tests/conftest.py); nothing is added when no skip is in
a group. Checked on a tiny test folder run by a real pytest in a subprocess, with the skip
reasons the suites really give."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT
from tests.support.skips import GROUPS, group_of, summary

CONFTEST = """\
from tests.support.skips import write_summary


def pytest_terminal_summary(terminalreporter):
    write_summary(terminalreporter)
"""
# the reasons the suites give (tests/support/stores.py, test_dashboard_browser.py,
# tests/live/devcluster.py, tests/support/traces.py), and two outside every group
TESTS = """\
import pytest

@pytest.mark.parametrize("case", range(3))
def test_pg(case):
    pytest.skip("GPUFLEET_TEST_PG_URL is not set: the PostgreSQL cases need a server")

@pytest.mark.skipif(True, reason="no Chromium at /usr/bin/chromium (Debian package 'chromium')")
def test_browser():
    pass

def test_live():
    pytest.skip("dev cluster not up (no PIDs in /tmp/x/pids): run scripts/devcluster/up")

def test_trace():
    pytest.skip("trace 'philly-2017' not found at /x: set GPUFLEET_TRACES to the folder")

def test_sqlite_only():
    pytest.skip("SQLite locks the whole file: a stale reader cannot write at all")

def test_runs():
    pass
"""
OTHER_ONLY = """\
import pytest

def test_sqlite_only():
    pytest.skip("SQLite locks the whole file: a stale reader cannot write at all")

def test_runs():
    pass
"""


def _pytest(folder: Path, tests: str) -> str:
    (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (folder / "test_tiny.py").write_text(tests, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_default_run_ends_with_the_skipped_suites_and_the_command_that_runs_them(
    tmp_path: Path,
) -> None:
    out = _pytest(tmp_path, TESTS)
    section = out[out.index("skipped suites: what they need") :].splitlines()[1:6]
    # 3 PostgreSQL cases, 1 each for the others; the SQLite-only skip is in no group
    assert section == [
        "PostgreSQL absent: 3 skipped; `make test-all` starts a throwaway PostgreSQL "
        "where its binaries are installed (or set GPUFLEET_TEST_PG_URL)",
        "Chromium absent: 1 skipped; install Debian's chromium (/usr/bin/chromium; "
        "or set GPUFLEET_TEST_CHROMIUM)",
        "dev cluster absent: 1 skipped; bring it up with `make dev-cluster`, as root (a real "
        "Slurm and Prometheus, docs/live.md)",
        "traces absent: 1 skipped; set GPUFLEET_TRACES to the folder of the public traces",
        "then one command runs them all: make test-all",
    ]


def test_a_run_whose_skips_need_no_service_adds_nothing(tmp_path: Path) -> None:
    out = _pytest(tmp_path, OTHER_ONLY)
    assert "1 passed, 1 skipped" in out
    assert "skipped suites" not in out
    assert "make test-all" not in out


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("Skipped: GPUFLEET_TEST_PG_URL is not set: no PostgreSQL server to test against", 0),
        ("live tests submit jobs as the cluster's users: they need root", None),
        ("Slurm's commands are not installed: run scripts/devcluster/up", 2),
        ("trace 'helios' is not under /x (GPUFLEET_TRACES)", 3),
        # a documented block that no run executes, whatever it mentions
        ("Skipped: not run (postgres): needs a PostgreSQL server", None),
    ],
    ids=["postgres", "root-only", "no-slurm", "trace", "never-run-docs-block"],
)
def test_each_reason_the_suites_give_lands_in_its_group(reason: str, group: int | None) -> None:
    assert group_of(reason) == (GROUPS[group] if group is not None else None)


def test_no_grouped_skip_means_no_lines() -> None:
    assert summary(["SQLite locks the whole file"]) == []

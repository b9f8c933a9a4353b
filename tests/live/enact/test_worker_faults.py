"""The worker's safe waits, on real parts: two appliers on one PostgreSQL register (the
second refused while the first holds ``pg_advisory_lock``, free again once the first
process is killed), and a cluster whose clock is skewed (nothing enacted, said, backed
off). The PostgreSQL cases need ``GPUFLEET_TEST_PG_URL`` (tests/support/stores.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpufleet.errors import BusyError
from gpufleet.governance.store.db import Store
from gpufleet.live.enact.lock import advisory_key, register_lock
from gpufleet.live.enact.slurm_apply import RecordingExecutor
from gpufleet.live.enact.worker import EnactOptions, EnactWorker
from gpufleet.live.errors import SourceUnavailableError
from tests.live.enact.builders import mapping

ROOT = Path(__file__).parents[3]


@contextmanager
def holder(url: str, cluster: str) -> Iterator[subprocess.Popen[str]]:
    """Another process (another service) holding the register's lock on ``cluster``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.live.enact.lock_holder", url, cluster],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_second_applier_on_one_postgresql_register_is_refused_until_the_first_dies(
    pg_url: str,
) -> None:
    store = Store(pg_url)
    with holder(pg_url, "gfdev") as proc:
        with pytest.raises(BusyError) as busy, register_lock(store, "gfdev"):
            pass
        assert "another gpufleet applier holds the register's lock on cluster 'gfdev'" in str(
            busy.value
        )
        with register_lock(store, "other-cluster"):  # one lock per cluster
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with register_lock(store, "gfdev"):  # the server released it with the killed session
        pass
    store.dispose()


class ClockOnly:
    """Answers ``scontrol show config`` with a header at ``at``; anything else (and
    everything when ``at`` is None) is the cluster down, as the real runner says it (a
    skewed worker must ask nothing else)."""

    def __init__(self, at: str | None) -> None:
        self.at = at
        self.asked: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str]) -> str:
        self.asked.append(tuple(argv))
        if self.at is not None and tuple(argv) == ("scontrol", "show", "config"):
            return f"Configuration data as of {self.at}\nAccountingStorageBackupHost = (null)\n"
        raise SourceUnavailableError(" ".join(argv), "", "slurmctld is not responding")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'r.db'}")
    s.upgrade()
    return s


def test_a_cluster_clock_two_minutes_ahead_is_a_safe_wait_said_and_backed_off(
    sqlite_store: Store, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    ahead = (datetime.now(UTC) + timedelta(seconds=120)).replace(tzinfo=None, microsecond=0)
    runner, executor = ClockOnly(ahead.isoformat()), RecordingExecutor()
    worker = EnactWorker(
        sqlite_store, EnactOptions("gfdev", max_skew_s=30), mapping(), runner, executor,
        tmp_path / "lock", rng=random.Random(7),
    )  # fmt: skip
    wait = worker.tick()
    state = worker.state
    assert state.last is not None and state.last.outcome == "skew"
    assert "more than max_skew 30 s" in state.last.detail
    assert state.skew_s is not None and 118 <= state.skew_s <= 121  # +120 s, a read's jitter
    # back-off after the first failure: step 5 s, waits 2.5 + u * 2.5 (u from the seed)
    u = random.Random(7).random()
    assert wait == pytest.approx(2.5 + u * 2.5)
    assert runner.asked == [("scontrol", "show", "config")] and executor.calls == []


def test_a_cluster_that_is_down_backs_off_doubling_up_to_the_cap(
    sqlite_store: Store, tmp_path: Path
) -> None:
    worker = EnactWorker(
        sqlite_store, EnactOptions("gfdev", retry_max_s=12), mapping(),
        ClockOnly(None), RecordingExecutor(), tmp_path / "lock", rng=random.Random(3),
    )  # fmt: skip
    rng = random.Random(3)
    # steps min(12, 5 * 2^(n-1)): 5, 10, 12, 12; each wait is step/2 + u * step/2
    for step in (5, 10, 12, 12):
        assert worker.tick() == pytest.approx(step / 2 + rng.random() * step / 2)
    assert worker.state.failures == 4 and worker.state.last is not None
    assert worker.state.last.outcome == "failed"


def test_the_advisory_key_is_stable_and_differs_per_cluster() -> None:
    # sha256("gpufleet-apply:gfdev")[:8] as a signed big-endian 64-bit integer
    import hashlib

    raw = hashlib.sha256(b"gpufleet-apply:gfdev").digest()[:8]
    assert advisory_key("gfdev") == int.from_bytes(raw, "big", signed=True)
    assert advisory_key("gfdev") != advisory_key("gfprod")

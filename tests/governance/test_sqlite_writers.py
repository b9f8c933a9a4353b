"""Many writers at once on SQLite (issue 10, item 7): they queue first come, first served
inside the server, and a writer that cannot get its turn in time is told so with a 503
and ``Retry-After``, never a 500 "database is locked".

1. **Through a real server**: 64 clients, each with its own connection, released together
   by a barrier, each create two people. Every answer is a 2xx, or a 503 ``busy`` with
   ``Retry-After`` in the one error shape; none is a 500. The audit chain verifies and
   holds exactly one record per successful write (a person created is one record), and
   the people stored are exactly those acknowledged. The latencies go to the test's
   ``user_properties`` and its log (logger ``tests.writers``: p50, p99, max), not asserted:
   they depend on the machine.
2. **The queue itself**: writers are granted in the order they arrived; one that waits
   past the store's ``write_wait_s`` gets :class:`BusyError` and leaves the queue.
3. **The API's answer to a busy store**: a write that finds the queue held past the bound
   is a 503 ``busy`` with ``Retry-After`` and nothing written; a database that says
   "database is locked" (another process holds it) is the same 503, never a 500.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gpufleet.errors import BusyError
from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.store.db import RETRY_AFTER_S, Store, WriterQueue
from gpufleet.governance.store.models import AccessRole, PersonRow
from tests.support.api import API, bearer, client
from tests.support.servers import Api, ServerFactory, error_code, sqlite_url

pytestmark = pytest.mark.security

log = logging.getLogger("tests.writers")

WRITERS = 64
WRITES_EACH = 2


def fleet_admin(url: str) -> str:
    store = Store(url)
    try:
        store.upgrade()
        with store.write("test:setup") as tx:
            return create_token(tx, "operator", AccessRole.FLEET_ADMIN)[1]
    finally:
        store.dispose()


def burst(base_url: str, secret: str) -> list[tuple[str, httpx.Response, float]]:
    """WRITERS threads, released together, each creating WRITES_EACH people; every
    (name, response, seconds) in the order they finished."""
    start = threading.Barrier(WRITERS)
    done: list[tuple[str, httpx.Response, float]] = []
    lock = threading.Lock()

    def writer(i: int) -> None:
        with Api(base_url, secret, timeout_s=120) as api:
            api.get("/me")  # the connection is open before the barrier
            start.wait()
            for j in range(WRITES_EACH):
                name = f"w{i:02}-{j}"
                t0 = time.perf_counter()
                resp = api.post("/people", {"name": name, "email": f"{name}@example.com"})
                with lock:
                    done.append((name, resp, time.perf_counter() - t0))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a writer never got an answer"
    return done


def test_64_concurrent_writers_get_2xx_or_a_503_to_retry_never_a_500_and_the_log_holds_each_write(
    tmp_path: Path, server_factory: ServerFactory, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url(tmp_path)
    secret = fleet_admin(url)
    server = server_factory(url, worker=False)
    done = burst(server.url, secret)

    assert len(done) == WRITERS * WRITES_EACH
    statuses = sorted({r.status_code for _, r, _ in done})
    assert set(statuses) <= {201, 503}, [r.text for _, r, _ in done if r.status_code >= 400][:3]
    for _, resp, _ in done:
        if resp.status_code == 503:
            assert error_code(resp) == "busy"
            assert resp.headers["Retry-After"] == str(RETRY_AFTER_S)
    created = {name for name, r, _ in done if r.status_code == 201}

    seconds = sorted(s for _, _, s in done)
    counts = {s: sum(r.status_code == s for _, r, _ in done) for s in statuses}
    figures = {
        "p50_s": round(statistics.median(seconds), 3),
        "p99_s": round(seconds[int(0.99 * (len(seconds) - 1))], 3),
        "max_s": round(seconds[-1], 3),
    }
    request.node.user_properties += [("statuses", counts), *figures.items()]
    log.info("%d writers x %d writes: %s, %s", WRITERS, WRITES_EACH, counts, figures)

    with Api(server.url, secret) as api:
        verdict = api.ok("GET", "/audit/verify")
        assert verdict["ok"], verdict["message"]
        # 1 record for the token + 1 per person created; none for a refused write
        assert verdict["records"] == 1 + len(created)
    store = Store(url)
    try:
        with store.read() as s:
            assert set(s.scalars(select(PersonRow.name))) == created
    finally:
        store.dispose()


# --- the queue ----------------------------------------------------------------------------


def test_the_writer_queue_grants_in_arrival_order_and_a_writer_that_gives_up_leaves_it() -> None:
    queue = WriterQueue()
    assert queue.acquire(0.1)
    order: list[int] = []
    waiting = []

    def wait_then_note(i: int) -> None:
        if queue.acquire(10):
            order.append(i)

    for i in range(5):
        t = threading.Thread(target=wait_then_note, args=(i,))
        t.start()
        waiting.append(t)
        deadline = time.monotonic() + 5  # each in the queue before the next starts
        while queue.waiting() < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    assert not queue.acquire(0.05)  # a sixth gives up: the lock is held, five wait
    assert queue.waiting() == 5  # ... and is no longer queued
    for n in range(5):
        queue.release()  # hands the lock to the longest waiter
        deadline = time.monotonic() + 5
        while len(order) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    for t in waiting:
        t.join(5)
    assert order == [0, 1, 2, 3, 4]
    queue.release()
    assert queue.acquire(0)  # free again


def test_a_write_that_waits_past_the_bound_is_a_busy_error_and_the_next_one_proceeds(
    tmp_path: Path,
) -> None:
    store = Store(sqlite_url(tmp_path), write_wait_s=0.2)
    store.upgrade()
    try:
        assert store.writers.acquire(1)  # another thread's write, running long
        with pytest.raises(BusyError, match="busy") as caught, store.write("test"):
            pass
        assert caught.value.retry_after_s == RETRY_AFTER_S
        store.writers.release()
        with store.write("test") as tx:  # the queue is free again
            assert tx.records == 0
    finally:
        store.dispose()


# --- the API's answers --------------------------------------------------------------------


@pytest.fixture
def quick_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(sqlite_url(tmp_path), write_wait_s=0.2)
    store.upgrade()
    try:
        yield store
    finally:
        store.dispose()


def admin_of(store: Store) -> dict[str, str]:
    with store.write("test:setup") as tx:
        return bearer(create_token(tx, "operator", AccessRole.FLEET_ADMIN)[1])


def test_a_write_finding_the_queue_held_past_the_bound_is_a_503_with_retry_after(
    quick_store: Store,
) -> None:
    admin = admin_of(quick_store)
    with client(quick_store) as c:
        assert quick_store.writers.acquire(1)
        try:
            resp = c.post(f"{API}/people", headers=admin, json={"name": "ann"})
        finally:
            quick_store.writers.release()
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert resp.json()["error"]["code"] == "busy"
        assert c.get(f"{API}/people", headers=admin).json()["total"] == 0


def test_a_database_locked_by_another_process_is_a_503_not_a_500(
    quick_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = admin_of(quick_store)

    def locked(*_a: object, **_k: object) -> None:
        raise OperationalError("INSERT ...", {}, Exception("database is locked"))

    monkeypatch.setattr("gpufleet.governance.register.ops.create", locked)
    with client(quick_store) as c:
        resp = c.post(f"{API}/people", headers=admin, json={"name": "ann"})
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert resp.json()["error"]["code"] == "busy"
    assert quick_store.writers.acquire(0)  # the failed write gave its turn back
    quick_store.writers.release()


def test_a_postgresql_deadlock_or_lock_timeout_counts_as_busy() -> None:
    from gpufleet.governance.store.db import is_busy

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    # 40P01 deadlock_detected, 55P03 lock_not_available, 40001 serialization_failure
    for state in ("40P01", "55P03", "40001"):
        assert is_busy(OperationalError("UPDATE ...", {}, PgError(state)))
    assert not is_busy(OperationalError("SELECT 1", {}, PgError("08006")))  # connection lost

"""Opening the store and the two kinds of transaction it offers.

- :meth:`Store.read` gives a session for reading;
- :meth:`Store.write` gives a :class:`Tx`: one transaction that first locks the audit
  chain's head row, so writers run one at a time (``SELECT ... FOR UPDATE`` on PostgreSQL;
  ``BEGIN IMMEDIATE`` on SQLite), and every change it makes is recorded by
  :meth:`Tx.audit` in the same transaction: the data and its audit records commit
  together or not at all.

Writers of one process queue first come, first served (:class:`WriterQueue`) before
they open their transaction, so the threads of one server never race for SQLite's write
lock (its busy handler sleeps and retries, unfairly: at 64 concurrent writers some waited
18 s and then failed). Between processes SQLite's ``busy_timeout`` and PostgreSQL's row
lock still order them. A writer that waits past ``write_wait_s`` in the queue, or whose
database stays locked (SQLite's "database is locked", PostgreSQL's lock timeouts,
deadlocks and serialization failures), gets :class:`~gpufleet.errors.BusyError`: the
API's 503 with ``Retry-After``, never a 500.

The URL comes from the argument, else ``GPUFLEET_DATABASE_URL``, else the SQLite file
``gpufleet.db`` in the working folder. ``postgresql://`` URLs use psycopg 3.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from gpufleet.errors import BusyError, InputError
from gpufleet.extras import require
from gpufleet.governance.store import audit
from gpufleet.governance.store.canonical import GENESIS
from gpufleet.governance.store.models import AuditHead

DEFAULT_URL = "sqlite:///gpufleet.db"
URL_ENV = "GPUFLEET_DATABASE_URL"
WRITE_WAIT_S = 30.0
"""How long a writer waits for its turn in the process's queue before :class:`BusyError`
(the same as SQLite's ``busy_timeout`` between processes)."""
RETRY_AFTER_S = 2
"""What a busy writer is told to wait before trying again, in seconds."""


def database_url(url: str | None = None) -> str:
    raw = url or os.environ.get(URL_ENV) or DEFAULT_URL
    try:
        u = make_url(raw)
    except ArgumentError as e:
        raise InputError(
            f"database URL {raw!r} is not a URL",
            (),
        ) from e
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(
            f"database URL {raw!r}: backend {u.get_backend_name()!r} is not supported "
            "(expected sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB)"
        )
    return u.render_as_string(hide_password=False)


def now() -> datetime:
    return datetime.now(UTC)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(WRITE_WAIT_S * 1000)}")
        if ":memory:" not in url and url != "sqlite://":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("gf_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class WriterQueue:
    """A lock granted first come, first served: each waiter has its own event, set by
    the holder's :meth:`release` in the order they arrived (``threading.Lock`` promises
    no order). A waiter that gives up leaves the queue."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def acquire(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the lock; whether it was granted."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout_s):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ran out: it is ours
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False

    def waiting(self) -> int:
        with self._mutex:
            return len(self._waiting)


_BUSY_SQLSTATES = {"55P03": "lock not available", "40P01": "deadlock", "40001": "serialization"}
"""PostgreSQL's errors that mean "another transaction holds what this one needs"."""


def is_busy(error: BaseException) -> bool:
    """Whether a database error says the data is locked by other writers (try again)
    rather than something broken."""
    if not isinstance(error, OperationalError):
        return False
    if getattr(error.orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    text = str(error.orig).lower()
    return "database is locked" in text or "database table is locked" in text


class Store:
    """The database behind the register, the transfers, the tokens and the audit log."""

    def __init__(self, url: str | None = None, write_wait_s: float = WRITE_WAIT_S) -> None:
        self.url = database_url(url)
        self.write_wait_s = write_wait_s
        self.writers = WriterQueue()
        self.backend = make_url(self.url).get_backend_name()
        if self.backend == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:  # psycopg comes with the `postgres` (and `service`) extra
            require("postgres", "psycopg", "a PostgreSQL register (postgresql:// URL)")
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._writer = self.engine.execution_options(gf_write=True)

    def upgrade(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        from gpufleet.governance.store.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def write(self, actor: str) -> Iterator[Tx]:
        """One writing transaction, after this process's earlier writers (FIFO); raises
        :class:`BusyError` when the turn or the database's lock does not come in time."""
        if not self.writers.acquire(self.write_wait_s):
            raise BusyError(
                f"the register is busy: {self.writers.waiting()} other writes are queued "
                f"and this one waited {self.write_wait_s:g} s; try again",
                RETRY_AFTER_S,
            )
        try:
            with Session(self._writer, expire_on_commit=False) as s, s.begin():
                yield self._begin(s, actor)
        except OperationalError as e:
            if is_busy(e):
                raise BusyError(
                    f"the register is busy: another process holds its lock ({e.orig}); try again",
                    RETRY_AFTER_S,
                ) from e
            raise
        finally:
            self.writers.release()

    def _begin(self, s: Session, actor: str) -> Tx:
        """Lock the audit chain's head row (creating it on a store without one)."""
        head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        row = head.scalar_one_or_none()
        if row is None:
            row = AuditHead(id=1, seq=0, hash=GENESIS)
            s.add(row)
        return Tx(s, actor, row)


class Tx:
    """One writing transaction: the session, who acts, and the audit records it appends."""

    def __init__(self, session: Session, actor: str, head: AuditHead) -> None:
        self.session = session
        self.actor = actor
        self._head = head
        self.records = 0

    def audit(
        self,
        action: str,
        object_type: str,
        object_id: object,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        rec = audit.make_record(
            self._head.seq + 1,
            now(),
            self.actor,
            action,
            object_type,
            str(object_id),
            before,
            after,
            self._head.hash,
        )
        self.session.add(rec)
        self._head.seq, self._head.hash = rec.seq, rec.hash
        self.records += 1
        self.session.flush()

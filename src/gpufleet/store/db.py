"""Opening the store and the two kinds of transaction it offers.

- :meth:`Store.read` gives a session for reading;
- :meth:`Store.write` gives a :class:`Tx`: one transaction that first locks the audit
  chain's head row, so writers run one at a time (``SELECT ... FOR UPDATE`` on PostgreSQL;
  ``BEGIN IMMEDIATE`` on SQLite), and every change it makes is recorded by
  :meth:`Tx.audit` in the same transaction: the data and its audit records commit
  together or not at all.

The URL comes from the argument, else ``GPUFLEET_DATABASE_URL``, else the SQLite file
``gpufleet.db`` in the working folder. ``postgresql://`` URLs use psycopg 3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from gpufleet.errors import InputError
from gpufleet.store import audit
from gpufleet.store.models import AuditHead

DEFAULT_URL = "sqlite:///gpufleet.db"
URL_ENV = "GPUFLEET_DATABASE_URL"
# A failpoint for the crash tests: with this set to "after-audit", a writing transaction
# kills the process after its audit record is written and before it commits.
FAULT_ENV = "GPUFLEET_FAULT"


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
        cur.execute("PRAGMA busy_timeout=30000")
        if ":memory:" not in url and url != "sqlite://":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("gf_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Store:
    """The database behind the register, the transfers, the tokens and the audit log."""

    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        self.backend = make_url(self.url).get_backend_name()
        if self.backend == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._writer = self.engine.execution_options(gf_write=True)

    def upgrade(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        from gpufleet.store.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def write(self, actor: str) -> Iterator[Tx]:
        with Session(self._writer, expire_on_commit=False) as s, s.begin():
            head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
            row = head.scalar_one_or_none()
            if row is None:
                row = AuditHead(id=1, seq=0, hash=audit.GENESIS)
                s.add(row)
            tx = Tx(s, actor, row)
            yield tx
            if tx.records and os.environ.get(FAULT_ENV) == "after-audit":
                s.flush()
                os._exit(137)


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

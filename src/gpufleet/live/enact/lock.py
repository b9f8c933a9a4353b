"""One applier per cluster at a time: an exclusive ``flock`` on a lock file.

Why a lock file and not the register's database: the kernel releases a ``flock`` when
its holder dies, ``kill -9`` included, so a crashed apply never leaves a stale lock to
clear by hand; and it works the same whatever the register's backend (SQLite has no
advisory locks). Its limit: appliers on one machine only. Two machines applying to one
cluster (item 3's worker on several hosts) also take PostgreSQL's advisory lock
(:func:`register_lock`), which the server also releases with the session.

The file is opened without following a symbolic link (``O_NOFOLLOW``) and never
truncated, so a link planted in a shared folder cannot make the applier write elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from gpufleet.errors import BusyError
from gpufleet.governance.store.db import Store

RETRY_AFTER_S = 5


def default_lock_path(cluster: str) -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(base) / f"gpufleet-apply-{re.sub(r'[^A-Za-z0-9_.-]', '_', cluster)}.lock"


@contextmanager
def apply_lock(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock, or raise :class:`BusyError` at once if another applier does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise BusyError(
            f"{path}: cannot open the apply lock: {exc.strerror}", RETRY_AFTER_S
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"another apply holds {path}: nothing was changed; try again when it is done",
                RETRY_AFTER_S,
            ) from None
        yield
    finally:
        os.close(fd)


def advisory_key(cluster: str) -> int:
    """A stable signed 64-bit key for ``cluster`` (PostgreSQL's advisory locks take a
    bigint): the first 8 bytes of SHA-256 of ``gpufleet-apply:CLUSTER``."""
    digest = hashlib.sha256(f"gpufleet-apply:{cluster}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def register_lock(store: Store, cluster: str) -> Iterator[None]:
    """On PostgreSQL, also hold ``pg_try_advisory_lock`` for the cluster on a connection
    of its own for the whole apply: two services on two machines sharing one register
    cannot both apply (the server releases it when the session ends, a killed process
    included: https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS).
    Another holder: :class:`BusyError` at once. SQLite: nothing to do (one machine; the
    flock covers it)."""
    if store.backend != "postgresql":
        yield
        return
    key = advisory_key(cluster)
    with store.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if not got:
            raise BusyError(
                f"another gpufleet applier holds the register's lock on cluster {cluster!r} "
                f"(pg advisory lock {key}): nothing was changed; it is tried again later",
                RETRY_AFTER_S,
            )
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


@contextmanager
def cluster_lock(path: Path, store: Store, cluster: str) -> Iterator[None]:
    """The machine's flock, then the register's advisory lock."""
    with apply_lock(path), register_lock(store, cluster):
        yield

"""One applier per cluster at a time: an exclusive ``flock`` on a lock file.

Why a lock file and not the register's database: the kernel releases a ``flock`` when
its holder dies, ``kill -9`` included, so a crashed apply never leaves a stale lock to
clear by hand; and it works the same whatever the register's backend (SQLite has no
advisory locks). Its limit: appliers on one machine only. Two machines applying to one
cluster (item 3's worker on several hosts) need PostgreSQL's ``pg_advisory_lock``, which
the server also releases with the session.

The file is opened without following a symbolic link (``O_NOFOLLOW``) and never
truncated, so a link planted in a shared folder cannot make the applier write elsewhere.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gpufleet.errors import BusyError

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

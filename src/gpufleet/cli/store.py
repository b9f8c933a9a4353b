"""The store the ``db``, ``admin``, ``audit`` and ``serve`` groups open: named by ``--db``
(else ``GPUFLEET_DATABASE_URL``, else ``sqlite:///gpufleet.db``), its schema upgraded first
so that a fresh folder just works."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from gpufleet.errors import InputError
from gpufleet.governance.store.db import Store


@contextmanager
def open_store(args: argparse.Namespace) -> Iterator[Store]:
    """The store named on the command line, its schema upgraded; closed afterwards."""
    store = Store(args.db)
    try:
        try:
            store.upgrade()
        except OperationalError as e:
            reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
            raise InputError(
                f"cannot open the database {store.engine.url.render_as_string()}: {reason} "
                "(expected a reachable sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB)"
            ) from None
        yield store
    finally:
        store.dispose()


def db_arg(p: argparse.ArgumentParser) -> None:
    """``--db URL`` and ``--actor NAME``, for every command that opens the store."""
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $GPUFLEET_DATABASE_URL, else sqlite:///gpufleet.db)",
    )
    p.add_argument("--actor", default="admin", help="who the audit log names for this command")

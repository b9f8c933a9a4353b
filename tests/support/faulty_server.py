"""``gpufleet`` with a failpoint installed, for the crash tests only: fault injection lives
here, in the tests, and nowhere in the package.

    python -m tests.support.faulty_server after-audit serve --db URL --port N ...

``after-audit``: a writing transaction that appended audit records kills the process
(exit 137, as SIGKILL) after flushing them and before it commits; a crash at the worst
moment, between the audit append and the commit. The rest of the command line is
``gpufleet``'s own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from gpufleet.cli.main import main
from gpufleet.governance.store.db import Store, Tx

KILLED = 137
"""The exit status of the killed process (128 + SIGKILL's 9)."""


def die_after_audit(
    write: Callable[[Store, str], AbstractContextManager[Tx]],
) -> Callable[[Store, str], AbstractContextManager[Tx]]:
    """``Store.write``, dying after the body of a transaction that audited something."""

    @contextmanager
    def faulty(store: Store, actor: str) -> Iterator[Tx]:
        with write(store, actor) as tx:
            yield tx
            if tx.records:
                tx.session.flush()
                os._exit(KILLED)

    return faulty


FAULTS = {"after-audit": die_after_audit}


def install(fault: str) -> None:
    """Wrap :meth:`Store.write` with the named failpoint, in this process only."""
    if fault not in FAULTS:
        raise SystemExit(f"unknown fault {fault!r}; faults: {', '.join(FAULTS)}")
    Store.write = FAULTS[fault](Store.write)  # type: ignore[assignment,method-assign]


if __name__ == "__main__":
    install(sys.argv[1])
    sys.exit(main(sys.argv[2:]))

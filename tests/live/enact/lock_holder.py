"""Run as a process by the lock tests: a second service's applier holding the register's
advisory lock on CLUSTER until it is killed.

    python -m tests.live.enact.lock_holder DB_URL CLUSTER
"""

from __future__ import annotations

import sys
import time

from gpufleet.governance.store.db import Store
from gpufleet.live.enact.lock import register_lock


def main(db_url: str, cluster: str) -> None:
    with register_lock(Store(db_url), cluster):
        sys.stdout.write("held\n")
        sys.stdout.flush()
        time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Run as a process by the worker's live test: one tick of the enactment worker on the
dev cluster with the register at DB_URL, ``kill -9`` of its own process right after the
first change's command returned (before its audit record), as a crash mid-apply would.

    python -m tests.live.enact.worker_killer DB_URL SLURM_CONF LOCK_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

from gpufleet.governance.store.db import Store
from gpufleet.live.enact.worker import EnactOptions, EnactWorker
from gpufleet.live.mapping import load_mapping
from gpufleet.live.runner import SubprocessRunner
from tests.live.enact.killer import MAPPING, DieAfterFirst


def main(db_url: str, slurm_conf: str, lock: str) -> None:
    env = {"SLURM_CONF": slurm_conf}
    worker = EnactWorker(
        Store(db_url), EnactOptions("gfdev"), load_mapping(MAPPING), SubprocessRunner(env),
        DieAfterFirst(env), Path(lock), actor="test:worker-killed",
    )  # fmt: skip
    worker.tick()


if __name__ == "__main__":
    main(*sys.argv[1:4])

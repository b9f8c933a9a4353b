"""Run as a process by the live test: apply the register at DB_URL to the dev cluster and
``kill -9`` itself right after the first change's command returned (before its audit
record), as a crash mid-apply would."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gpufleet.governance.store.db import Store
from gpufleet.live.enact.desired import desired_state
from gpufleet.live.enact.model import ClusterSettings
from gpufleet.live.enact.register import read_rows
from gpufleet.live.enact.slurm_apply import Outcome, SubprocessExecutor, apply
from gpufleet.live.mapping import load_mapping
from gpufleet.live.runner import SubprocessRunner

MAPPING = Path(__file__).parents[1] / "samples/mapping/devcluster.yaml"


class DieAfterFirst(SubprocessExecutor):
    def run(self, argv: Sequence[str]) -> Outcome:
        done = super().run(argv)
        os.kill(os.getpid(), signal.SIGKILL)
        return done


def main(db_url: str, slurm_conf: str) -> None:
    store = Store(db_url)
    with store.read() as s:
        rows = read_rows(s)
    at = datetime.now(UTC).replace(tzinfo=None)
    desired = desired_state(rows, load_mapping(MAPPING), ClusterSettings("gfdev"), at)
    env = {"SLURM_CONF": slurm_conf}
    apply(desired, SubprocessRunner(env), DieAfterFirst(env), store, "test:killed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

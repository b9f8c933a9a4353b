"""The recorded outputs of the dev cluster (scripts/devcluster/record_samples.py) and a
client that replays them, read at a fixed instant so elapsed times are exact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gpufleet.live.runner import ReplayRunner
from gpufleet.live.slurm import SlurmCliSource, SlurmRestSource

SAMPLES = Path(__file__).parent / "samples" / "slurm"
# the samples were recorded at 18:11:38 UTC; reading them "at" 18:12:00 gives running
# jobs that started at 18:11:37 an elapsed time of 23 s
READ_AT = datetime(2026, 12, 6, 18, 12, 0, tzinfo=UTC)
SACCT_SINCE = datetime(2026, 12, 6, 18, 10, 33, 728376, tzinfo=UTC)


def replay() -> ReplayRunner:
    return ReplayRunner.from_directory(SAMPLES)


def cli_client(runner: ReplayRunner | None = None) -> SlurmCliSource:
    return SlurmCliSource(runner or replay(), clock=lambda: READ_AT)


def rest_client(runner: ReplayRunner | None = None) -> SlurmRestSource:
    recorded = runner or replay()
    return SlurmRestSource(
        "/recorded/slurmrestd.sock",
        get=lambda _socket, path: (200, recorded.run(["GET", path])),
        clock=lambda: READ_AT,
    )

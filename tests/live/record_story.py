"""Record the story's answers from the running dev cluster for the observation's unit
tests: Prometheus's (samples/prometheus/) and Slurm's squeue and sinfo at the same
moment (samples/story-slurm/). The scene is tests/live/scene.py's.

Run as root with the dev cluster up: ``.venv/bin/python -m tests.live.record_story``.
Besides the three DCGM queries at one instant it records a range query and a query
Prometheus refuses (HTTP 400), so that the error path reads a real refusal.

Re-recording gives new job ids and a new instant, and Slurm may place the jobs otherwise:
the hand-computed values of test_prometheus.py and test_observe.py (which GPUs each job
holds, the 8 of 30 scrapes in the window) and story_samples.py's docstring must then be
worked out again from the new recording.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpufleet.live.errors import SourceError
from gpufleet.live.prometheus import PrometheusSource, RecordingTransport, UrllibTransport
from gpufleet.live.runner import RecordingRunner, SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource
from tests.live.devcluster import find_devcluster
from tests.live.scene import story_scene

SAMPLES = Path(__file__).parent / "samples"
PROMETHEUS = SAMPLES / "prometheus"
SLURM = SAMPLES / "story-slurm"
BAD_QUERY = "DCGM_FI_DEV_GPU_UTIL{"


def main() -> None:
    cluster, why_not = find_devcluster()
    if cluster is None:
        sys.exit(f"record_story: {why_not}")
    for folder in (PROMETHEUS, SLURM):
        shutil.rmtree(folder, ignore_errors=True)
    with cluster.exclusive(), story_scene(cluster) as scene:
        time.sleep(2)  # a whole scrape after the last change, before the instant asked
        at = datetime.now(UTC).replace(microsecond=0)
        prometheus = PrometheusSource(
            cluster.prometheus_url, RecordingTransport(UrllibTransport(), PROMETHEUS)
        )
        prometheus.gpu_samples(at)
        prometheus.gpu_samples(at, util_window_s=30)
        prometheus.query_range(
            'DCGM_FI_DEV_GPU_UTIL{Hostname="gf-h100-1"}', at - timedelta(seconds=20), at, 5
        )
        with contextlib.suppress(SourceError):  # recorded: the refusal is the point
            prometheus.query(BAD_QUERY, at)
        slurm = SlurmCliSource(RecordingRunner(SubprocessRunner(env=cluster.env), SLURM))
        slurm.jobs(), slurm.nodes()
        meta = {"recorded_at": at.isoformat(), "scene": scene.__dict__}
        (PROMETHEUS / "recorded.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()

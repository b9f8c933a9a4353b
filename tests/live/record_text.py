"""Record the story's Slurm answers in both job formats, with Prometheus's at the same
instant, for the unit test of the text job list against the JSON one
(tests/live/test_slurm_text.py): samples/slurm-text/slurm/ and samples/slurm-text/prometheus/.

Run as root with the dev cluster up: ``.venv/bin/python -m tests.live.record_text``.

Recorded: ``squeue --json``, ``sinfo --json``, the text list (``SQUEUE_TEXT``) and
``scontrol -d show job ID`` for every job the text lists as holding GPUs (the per-job
lookups, recorded even where the cold read took them from the JSON instead), then the
three DCGM queries at the instant read.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from gpufleet.live.prometheus import PrometheusSource, RecordingTransport, UrllibTransport
from gpufleet.live.runner import RecordingRunner, SubprocessRunner
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.jobs_text import SQUEUE_TEXT, parse_squeue_text, scontrol_detail
from tests.live.devcluster import find_devcluster
from tests.live.scene import story_scene

FOLDER = Path(__file__).parent / "samples" / "slurm-text"


def main() -> None:
    cluster, why_not = find_devcluster()
    if cluster is None:
        sys.exit(f"record_text: {why_not}")
    shutil.rmtree(FOLDER, ignore_errors=True)
    with cluster.exclusive(), story_scene(cluster) as scene:
        time.sleep(2)  # a whole scrape after the last change, before the instant asked
        at = datetime.now(UTC).replace(microsecond=0)
        runner = RecordingRunner(SubprocessRunner(env=cluster.env), FOLDER / "slurm")
        json_source = SlurmCliSource(runner, clock=lambda: at)
        json_source.jobs(), json_source.nodes()
        text = runner.run(SQUEUE_TEXT)
        for line in parse_squeue_text("squeue", text):
            if line.holds:
                runner.run(scontrol_detail(line.job_id))
        transport = RecordingTransport(UrllibTransport(), FOLDER / "prometheus")
        PrometheusSource(cluster.prometheus_url, transport).gpu_samples(at)
        meta = {"recorded_at": at.isoformat(), "scene": scene.__dict__}
        (FOLDER / "recorded.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()

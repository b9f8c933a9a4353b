"""The story recorded on the dev cluster by record_story.py: Prometheus's answers
(samples/prometheus/) and Slurm's squeue and sinfo of the same moment
(samples/story-slurm/), with replaying clients read at the recorded instant.

The scene (tests/live/scene.py), as it fell: tesla1's jobs 70 (gf-h100-1 GPUs 4-7) and 71
(gf-h100-2 GPUs 0-3) at 73 %; xai1's jobs 72 (gf-h100-1 GPUs 0-1) at 90 % and 73
(gf-h100-1 GPUs 2-3) at 4 %; pending: 74 (xai, 2 H100, AssocGrpGRES), 75 (tesla2, 8 H100,
Resources), 76 (tesla1, 2 A100, Resources: its partition's one node is down); gf-a100-1
DOWN "no power". The jobs had run 8 one-second scrapes when the instant was recorded.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from gpufleet.live.prometheus import PrometheusSource, ReplayTransport
from gpufleet.live.runner import ReplayRunner, command_text
from gpufleet.live.slurm import SlurmCliSource
from gpufleet.live.slurm.cli import SACCTMGR_ASSOC

SAMPLES = Path(__file__).parent / "samples"
PROMETHEUS = SAMPLES / "prometheus"
SLURM = SAMPLES / "story-slurm"
RECORDED = json.loads((PROMETHEUS / "recorded.json").read_text())
READ_AT = datetime.fromisoformat(RECORDED["recorded_at"])
PROMETHEUS_URL = "http://127.0.0.1:19090"


def prometheus(transport: ReplayTransport | None = None) -> PrometheusSource:
    replay = transport or ReplayTransport.from_directory(PROMETHEUS)
    return PrometheusSource(PROMETHEUS_URL, replay, clock=lambda: READ_AT)


def story_runner() -> ReplayRunner:
    """squeue and sinfo of the story's instant; the associations (the accounts' GPU caps)
    from samples/slurm/, recorded 19 minutes earlier on the same cluster, whose accounts
    did not change in between (scripts/devcluster/accounts.sh: xai GrpTRES gres/gpu=4)."""
    runner = ReplayRunner.from_directory(SLURM)
    earlier = ReplayRunner.from_directory(SAMPLES / "slurm")
    assoc = command_text(SACCTMGR_ASSOC)
    runner.outputs[assoc] = earlier.outputs[assoc]
    return runner


def slurm(runner: ReplayRunner | None = None) -> SlurmCliSource:
    return SlurmCliSource(runner or story_runner(), clock=lambda: READ_AT)

"""The run queue executes kinds registered by the units above it (runs sits below
transfers): every process that executes runs must have every kind it can queue."""

from __future__ import annotations

import subprocess
import sys

import pytest

# what a process imports before it executes runs, and the kinds it must then know
ENTRY_POINTS = [
    "gpufleet.service.app",  # the worker's composition root (gpufleet serve)
    "gpufleet.cli.demo",  # gpufleet demo executes the article's assessment
]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_that_executes_runs_knows_every_kind(module: str) -> None:
    code = (
        f"import {module}\n"
        "from gpufleet.governance.runs.kinds import RUN_KINDS\n"
        "print(','.join(sorted(RUN_KINDS)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "assessment,whatif"


def test_the_queue_alone_knows_only_its_own_kind() -> None:
    # the queue may not import transfers, so the assessment kind comes only from above
    code = (
        "import gpufleet.governance.runs.queue\n"
        "from gpufleet.governance.runs.kinds import RUN_KINDS\n"
        "print(','.join(sorted(RUN_KINDS)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "whatif"

"""The dev cluster's DCGM-format exporter (scripts/devcluster/dcgm_exporter.py) on what it
read from the real Slurm and what it then served (recorded together by
``record_samples.py --multinode``): job 9 holds 3 H100 with ``--comment gpu_util=73``, job
10 holds 2 H100 on each of two nodes with no setting (the default 90), job 11 pends."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gpufleet.live.runner import ReplayRunner

SCRIPT = Path(__file__).parents[2] / "scripts/devcluster/dcgm_exporter.py"
SAMPLES = Path(__file__).parent / "samples" / "dcgm"
METRICS = "curl -sf http://127.0.0.1:19400/metrics"

# dcgm-exporter's line: its fixed labels in this order, then the driver version label, then
# the pod attributes (internal/pkg/rendermetrics, gpuMetricsFormat), then hpc_job
LINE = re.compile(
    r'(?P<name>DCGM_FI_DEV_\w+)\{gpu="(?P<gpu>\d+)",UUID="GPU-[0-9a-f-]{36}",'
    r'pci_bus_id="[0-9A-F]{8}:[0-9A-F]{2}:00\.0",device="nvidia(?P=gpu)",'
    r'modelName="(?P<model>[^"]+)",Hostname="(?P<host>[^"]+)",DCGM_FI_DRIVER_VERSION="[\d.]+",'
    r'container="(?P<container>[^"]*)",namespace="(?P<namespace>[^"]*)",pod="(?P<pod>[^"]*)"'
    r'(?:,hpc_job="(?P<job>\d+)")?\} (?P<value>[\d.]+)'
)


@pytest.fixture(scope="module")
def exporter() -> ModuleType:
    """The script, imported from its path (it is not part of the package)."""
    name = "gpufleet_devcluster_dcgm_exporter"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded() -> ReplayRunner:
    return ReplayRunner.from_directory(SAMPLES)


def test_it_renders_exactly_what_it_served_from_the_same_slurm_answers(
    exporter: ModuleType, recorded: ReplayRunner
) -> None:
    nodes = exporter.slurm_nodes(recorded.run)
    held = exporter.slurm_holders(recorded.run, {}, 90.0)
    assert exporter.render(nodes, held) == recorded.outputs[METRICS]


def test_every_sample_line_has_dcgm_exporters_labels_in_its_order(
    recorded: ReplayRunner,
) -> None:
    lines = [ln for ln in recorded.outputs[METRICS].splitlines() if not ln.startswith("#")]
    # 3 fields x (8 + 8 + 4 GPUs)
    assert len(lines) == 60
    assert all(LINE.fullmatch(line) for line in lines)


def test_gpus_slurm_gave_to_jobs_report_their_utilisation_and_the_rest_idle(
    recorded: ReplayRunner,
) -> None:
    util = {}
    for line in recorded.outputs[METRICS].splitlines():
        m = LINE.fullmatch(line)
        if m and m["name"] == "DCGM_FI_DEV_GPU_UTIL":
            util[(m["host"], int(m["gpu"]))] = (m["job"], m["value"], m["namespace"], m["pod"])
    assert {k: v for k, v in util.items() if v[0]} == {
        ("gf-h100-1", 0): ("9", "73", "tesla", "slurm-job-9"),  # IDX:0-2, gpu_util=73
        ("gf-h100-1", 1): ("9", "73", "tesla", "slurm-job-9"),
        ("gf-h100-1", 2): ("9", "73", "tesla", "slurm-job-9"),
        ("gf-h100-1", 3): ("10", "90", "xai", "slurm-job-10"),  # IDX:3-4 on the first node
        ("gf-h100-1", 4): ("10", "90", "xai", "slurm-job-10"),
        ("gf-h100-2", 0): ("10", "90", "xai", "slurm-job-10"),  # IDX:0-1 on the second
        ("gf-h100-2", 1): ("10", "90", "xai", "slurm-job-10"),
    }
    idle = [v for v in util.values() if not v[0]]
    assert len(idle) == 20 - 7
    assert {v[1:] for v in idle} == {("0", "", "")}


def test_power_and_memory_follow_the_utilisation(recorded: ReplayRunner) -> None:
    values = {}
    for line in recorded.outputs[METRICS].splitlines():
        m = LINE.fullmatch(line)
        if m and m["host"] == "gf-h100-1" and m["gpu"] in ("0", "7"):
            values[(m["name"], m["gpu"])] = m["value"]
    # H100: 70 W idle, 700 W at 100 %: 70 + 630 x 0.73 = 529.9 W; 81,559 MiB x 0.73 = 59,538
    assert values[("DCGM_FI_DEV_POWER_USAGE", "0")] == "529.900000"
    assert values[("DCGM_FI_DEV_FB_USED", "0")] == "59538"
    assert values[("DCGM_FI_DEV_POWER_USAGE", "7")] == "70.000000"
    assert values[("DCGM_FI_DEV_FB_USED", "7")] == "0"


def test_the_control_file_overrides_the_job_comment(
    exporter: ModuleType, recorded: ReplayRunner, tmp_path: Path
) -> None:
    control = tmp_path / "util"
    control.write_text("9 35\nnot a line\n10 5.5\n")
    held = exporter.slurm_holders(recorded.run, exporter.read_control(control), 90.0)
    assert {held[("gf-h100-1", 0)].util_pct, held[("gf-h100-2", 1)].util_pct} == {35.0, 5.5}

"""What gpufleet reads from Prometheus, as frozen dataclasses (times in UTC, utilisation in
percent, framebuffer in MiB, power in watts, as the DCGM exporter reports them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# The DCGM fields gpufleet reads, each with its unit and highest sane value. The names are
# dcgm-exporter's (its default counters file, dcp-metrics-included.csv).
GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent of time a kernel ran, 0-100
FB_USED = "DCGM_FI_DEV_FB_USED"  # framebuffer memory used, MiB
POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"  # board power draw, W

# Labels every DCGM series must carry for gpufleet to place it: the device index on its
# host (``gpu``), the board (``UUID``), its model (``modelName``) and the host.
REQUIRED_LABELS = ("gpu", "UUID", "modelName", "Hostname")
# Labels dcgm-exporter adds when a pod (or, with its HPC mapping, a job) holds the GPU;
# empty or absent when none does.
WORKLOAD_LABELS = ("namespace", "pod", "container")


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and value at ``at``."""

    labels: Mapping[str, str]
    at: datetime
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and (time, value) points, oldest first."""

    labels: Mapping[str, str]
    points: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True)
class GpuSample:
    """One GPU as DCGM saw it at ``at``. ``fb_used_mib`` and ``power_w`` are None where
    Prometheus had no series of that metric for the GPU (an exporter configured without
    the field)."""

    hostname: str
    gpu: int  # the device index on its host: DCGM's ``gpu`` label, Slurm's GRES index
    uuid: str
    model_name: str
    utilisation_pct: float
    fb_used_mib: float | None
    power_w: float | None
    namespace: str
    pod: str
    container: str
    at: datetime

    @property
    def key(self) -> tuple[str, int]:
        return (self.hostname, self.gpu)

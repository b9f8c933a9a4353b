"""Prometheus as a live source: its HTTP query API, read-only, and the NVIDIA DCGM
exporter's GPU metrics read through it (``DCGM_FI_DEV_GPU_UTIL``, ``DCGM_FI_DEV_FB_USED``,
``DCGM_FI_DEV_POWER_USAGE`` with their ``gpu``, ``UUID``, ``modelName``, ``Hostname`` and
pod labels) into one :class:`GpuSample` per GPU.

Every request goes through :class:`HttpTransport` (``UrllibTransport`` for real,
``ReplayTransport`` for answers recorded from the dev cluster's Prometheus,
``RecordingTransport`` to record them).
"""

from gpufleet.live.prometheus.client import PrometheusSource
from gpufleet.live.prometheus.model import (
    FB_USED,
    GPU_UTIL,
    POWER_USAGE,
    GpuSample,
    RangeSeries,
    Sample,
)
from gpufleet.live.prometheus.transport import (
    HttpAnswer,
    HttpTransport,
    RecordingTransport,
    ReplayTransport,
    UrllibTransport,
)

__all__ = [
    "FB_USED",
    "GPU_UTIL",
    "POWER_USAGE",
    "GpuSample",
    "HttpAnswer",
    "HttpTransport",
    "PrometheusSource",
    "RangeSeries",
    "RecordingTransport",
    "ReplayTransport",
    "Sample",
    "UrllibTransport",
]

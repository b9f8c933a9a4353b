"""Kubernetes and Kueue as a live source, read-only, through ``kubectl ... -o json``:
nodes with their ``nvidia.com/gpu`` capacity, allocatable GPUs and GPU product label; pods
with their GPU requests, phase and node; Kueue ClusterQueues' nominal GPU quota per
flavor, LocalQueues, and Workloads' admission and conditions (why one is pending).

No Kubernetes API server can run where gpufleet is built and tested, so the tests read
snapshot files written by hand from the Kubernetes and Kueue API references
(tests/live/samples/kubernetes/README.md says which fields and versions).
"""

from gpufleet.live.kubernetes.model import (
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    ClusterQueue,
    FlavorQuota,
    KubeNode,
    KubePod,
    LocalQueue,
    PodPhase,
    Workload,
    WorkloadCondition,
)
from gpufleet.live.kubernetes.source import KubernetesSource

__all__ = [
    "GPU_PRODUCT_LABEL",
    "GPU_RESOURCE",
    "ClusterQueue",
    "FlavorQuota",
    "KubeNode",
    "KubePod",
    "KubernetesSource",
    "LocalQueue",
    "PodPhase",
    "Workload",
    "WorkloadCondition",
]

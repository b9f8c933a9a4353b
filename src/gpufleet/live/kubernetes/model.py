"""What gpufleet reads from Kubernetes and Kueue, as frozen dataclasses (GPU counts as
whole GPUs of the ``nvidia.com/gpu`` extended resource).

Kueue's reasons and messages are kept as Kueue writes them: mapping them onto gpufleet's
reasons is the observer's job, as with Slurm's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by NVIDIA's GPU feature discovery
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"


class PodPhase(Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class KubeNode:
    name: str
    gpu_product: str  # the nvidia.com/gpu.product label; "" where absent
    gpu_capacity: int
    gpu_allocatable: int
    ready: bool  # the Ready condition is True
    unschedulable: bool  # cordoned (spec.unschedulable)
    reason: str  # why not ready (the Ready condition's reason: message), or cordoned

    @property
    def usable(self) -> bool:
        return self.ready and not self.unschedulable


@dataclass(frozen=True)
class KubePod:
    namespace: str
    name: str
    node: str  # spec.nodeName; "" until scheduled
    phase: PodPhase
    gpus: int  # GPUs the pod requests (the scheduler's effective request)
    queue_name: str  # Kueue's LocalQueue label; "" where none
    unschedulable_reason: str  # PodScheduled=False's message, for a pod not yet placed

    @property
    def holds_gpus(self) -> bool:
        """Placed on a node and not finished: the node's GPUs are allocated to it."""
        return bool(self.node) and self.phase in (PodPhase.PENDING, PodPhase.RUNNING)


@dataclass(frozen=True)
class FlavorQuota:
    """One resource of one flavor in a ClusterQueue's resource group."""

    flavor: str
    resource: str
    nominal: int
    borrowing_limit: int | None  # None: unlimited (within the cohort)
    lending_limit: int | None


@dataclass(frozen=True)
class ClusterQueue:
    name: str
    cohort: str
    quotas: tuple[FlavorQuota, ...]
    pending_workloads: int
    admitted_workloads: int

    def gpu_quota(self) -> dict[str, int]:
        """Nominal GPUs per flavor."""
        return {q.flavor: q.nominal for q in self.quotas if q.resource == GPU_RESOURCE}


@dataclass(frozen=True)
class LocalQueue:
    namespace: str
    name: str
    cluster_queue: str


@dataclass(frozen=True)
class WorkloadCondition:
    type: str  # QuotaReserved, Admitted, Evicted, Finished, PodsReady, ...
    status: bool
    reason: str
    message: str
    since: datetime | None


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    queue_name: str  # the LocalQueue
    created: datetime | None
    gpus: int  # all pods of all pod sets
    cluster_queue: str  # the admitting ClusterQueue; "" until quota is reserved
    flavors: tuple[str, ...]  # the flavors assigned to its GPUs
    conditions: tuple[WorkloadCondition, ...]

    def condition(self, kind: str) -> WorkloadCondition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def admitted(self) -> bool:
        cond = self.condition("Admitted") or self.condition("QuotaReserved")
        return cond is not None and cond.status

    @property
    def finished(self) -> bool:
        cond = self.condition("Finished")
        return cond is not None and cond.status

    @property
    def pending(self) -> bool:
        return not self.admitted and not self.finished

    @property
    def pending_reason(self) -> tuple[str, str]:
        """Kueue's (reason, message) of a pending workload: of QuotaReserved=False, else
        of Admitted=False, else ("", "")."""
        for kind in ("QuotaReserved", "Admitted"):
            cond = self.condition(kind)
            if cond is not None and not cond.status:
                return cond.reason, cond.message
        return "", ""

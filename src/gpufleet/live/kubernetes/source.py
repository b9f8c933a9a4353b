"""Kubernetes and Kueue read through ``kubectl ... -o json``, each command through a
:class:`CommandRunner`: the real one runs kubectl with the operator's kubeconfig; the
replay one answers from snapshot files (``ReplayRunner.from_directory``: a folder of the
commands' outputs with a ``manifest.json``), which is how gpufleet's tests read it: no
Kubernetes API server runs on the machines gpufleet is built on.
"""

from __future__ import annotations

from pathlib import Path

from gpufleet.live.jsonread import parse_json
from gpufleet.live.kubernetes.model import ClusterQueue, KubeNode, KubePod, LocalQueue, Workload
from gpufleet.live.kubernetes.parse import (
    parse_cluster_queues,
    parse_local_queues,
    parse_nodes,
    parse_pods,
    parse_workloads,
)
from gpufleet.live.runner import CommandRunner, ReplayRunner, command_text

NODES = ("kubectl", "get", "nodes", "-o", "json")
PODS = ("kubectl", "get", "pods", "-A", "-o", "json")
CLUSTER_QUEUES = ("kubectl", "get", "clusterqueues.kueue.x-k8s.io", "-o", "json")
LOCAL_QUEUES = ("kubectl", "get", "localqueues.kueue.x-k8s.io", "-A", "-o", "json")
WORKLOADS = ("kubectl", "get", "workloads.kueue.x-k8s.io", "-A", "-o", "json")


class KubernetesSource:
    """The read-only Kubernetes and Kueue client over kubectl."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    @classmethod
    def from_snapshots(cls, folder: Path) -> KubernetesSource:
        """Read from saved ``kubectl ... -o json`` outputs (see the module docstring)."""
        return cls(ReplayRunner.from_directory(folder))

    def nodes(self) -> tuple[KubeNode, ...]:
        return parse_nodes(parse_json(command_text(NODES), self.runner.run(NODES)))

    def pods(self) -> tuple[KubePod, ...]:
        return parse_pods(parse_json(command_text(PODS), self.runner.run(PODS)))

    def cluster_queues(self) -> tuple[ClusterQueue, ...]:
        text = self.runner.run(CLUSTER_QUEUES)
        return parse_cluster_queues(parse_json(command_text(CLUSTER_QUEUES), text))

    def local_queues(self) -> tuple[LocalQueue, ...]:
        text = self.runner.run(LOCAL_QUEUES)
        return parse_local_queues(parse_json(command_text(LOCAL_QUEUES), text))

    def workloads(self) -> tuple[Workload, ...]:
        text = self.runner.run(WORKLOADS)
        return parse_workloads(parse_json(command_text(WORKLOADS), text))

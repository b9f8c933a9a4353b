"""Kubernetes and Kueue read from ``kubectl ... -o json`` snapshots. No API server can run
here: the snapshots are written by hand from the API references
(samples/kubernetes/README.md); the one real part is kubectl itself, asked with no
cluster to answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpufleet.errors import exit_code
from gpufleet.live.errors import SourceError, SourceUnavailableError
from gpufleet.live.jsonread import At
from gpufleet.live.kubernetes import KubernetesSource, PodPhase
from gpufleet.live.kubernetes.parse import gpu_quantity
from gpufleet.live.kubernetes.source import NODES, PODS, WORKLOADS
from gpufleet.live.runner import ReplayRunner, SubprocessRunner, command_text

SNAPSHOTS = Path(__file__).parent / "samples" / "kubernetes"


def source() -> KubernetesSource:
    return KubernetesSource.from_snapshots(SNAPSHOTS)


def test_nodes_give_gpu_capacity_product_and_why_they_are_not_usable() -> None:
    nodes = {n.name: n for n in source().nodes()}
    pool1 = nodes["gke-a3-pool-1"]
    assert (pool1.gpu_capacity, pool1.gpu_allocatable, pool1.gpu_product) == (
        8,
        8,
        "NVIDIA-H100-80GB-HBM3",
    )
    assert pool1.usable and pool1.reason == ""
    lost = nodes["gke-a3-pool-3"]
    assert (lost.ready, lost.usable) == (False, False)
    assert lost.reason == "NodeStatusUnknown: Kubelet stopped posting node status."
    cordoned = nodes["gke-a3-pool-4"]
    assert (cordoned.ready, cordoned.unschedulable, cordoned.usable) == (True, True, False)
    assert cordoned.reason == "cordoned (spec.unschedulable)"
    system = nodes["gke-sys-pool-1"]
    assert (system.gpu_capacity, system.gpu_product) == (0, "")


def test_pods_give_their_effective_gpu_request_phase_and_node() -> None:
    pods = {p.name: p for p in source().pods()}
    assert (pods["fsd-pretrain-0"].gpus, pods["fsd-pretrain-0"].node) == (8, "gke-a3-pool-1")
    # containers ask 4, the init container 1: max(4, 1)
    assert pods["fsd-finetune-0"].gpus == 4
    assert pods["grok-eval-0"].gpus == 2  # limits only: the request defaults to the limit
    assert pods["nvidia-device-plugin-x7k2p"].gpus == 0
    held = {p.name for p in pods.values() if p.holds_gpus and p.gpus}
    assert held == {"fsd-pretrain-0", "fsd-finetune-0", "grok-eval-0"}  # not the finished one
    assert pods["fsd-smoke-0"].phase is PodPhase.SUCCEEDED
    waiting = pods["notebook-0"]
    assert (waiting.node, waiting.phase, waiting.gpus) == ("", PodPhase.PENDING, 4)
    assert "3 Insufficient nvidia.com/gpu" in waiting.unschedulable_reason
    assert pods["grok-eval-0"].queue_name == "grok-lq"


def test_cluster_queues_give_nominal_gpu_quota_per_flavor_and_limits() -> None:
    queues = {q.name: q for q in source().cluster_queues()}
    assert {n: q.gpu_quota() for n, q in queues.items()} == {
        "tesla-cq": {"h100": 16},
        "xai-cq": {"h100": 4},
    }
    (xai,) = queues["xai-cq"].quotas  # cpu and memory quotas are not read
    assert (xai.borrowing_limit, xai.lending_limit) == (0, None)
    assert (queues["tesla-cq"].quotas[0].lending_limit, queues["tesla-cq"].cohort) == (8, "article")
    assert (queues["xai-cq"].pending_workloads, queues["xai-cq"].admitted_workloads) == (2, 1)
    local = {(q.namespace, q.name): q.cluster_queue for q in source().local_queues()}
    assert local == {("fsd", "fsd-lq"): "tesla-cq", ("grok", "grok-lq"): "xai-cq"}


def test_workloads_give_their_gpus_admission_and_kueues_pending_reason() -> None:
    loads = {w.name.removeprefix("job-").rsplit("-", 1)[0]: w for w in source().workloads()}
    admitted = loads["fsd-pretrain"]
    assert (admitted.admitted, admitted.cluster_queue, admitted.flavors, admitted.gpus) == (
        True,
        "tesla-cq",
        ("h100",),
        8,
    )
    sft = loads["grok-sft"]
    assert (sft.pending, sft.cluster_queue, sft.gpus) == (True, "", 2 * 2)  # 2 pods x 2 GPUs
    reason, message = sft.pending_reason
    assert reason == "Pending"
    assert message.endswith(
        "insufficient unused quota for nvidia.com/gpu in flavor h100, 2 more needed"
    )
    assert loads["grok-pretrain"].gpus == 2 * 8
    assert "> maximum capacity (4)" in loads["grok-pretrain"].pending_reason[1]


@pytest.mark.parametrize(
    ("given", "gpus"),
    [(8, 8), ("8", 8), ("2k", 2000), ("1Ki", 1024), ("0", 0), ("4000m", 4)],
    ids=["number", "text", "decimal-suffix", "binary-suffix", "zero", "milli-whole"],
)
def test_gpu_quantities_read_as_kubernetes_writes_them(given: object, gpus: int) -> None:
    assert gpu_quantity(At("kubectl", "q", given)) == gpus


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1.5", "a whole number of GPUs, 0 or more"),
        ("500m", "a whole number of GPUs, 0 or more"),
        ("-2", "a whole number of GPUs, 0 or more"),
        ("eight", 'a Kubernetes quantity such as "8"'),
        (True, 'a quantity such as 8 or "8"'),
    ],
    ids=["fraction", "milli", "negative", "word", "boolean"],
)
def test_gpu_quantities_that_are_not_whole_gpus_are_refused(given: object, expected: str) -> None:
    with pytest.raises(SourceError) as err:
        gpu_quantity(At("kubectl", "status.capacity.nvidia.com/gpu", given))
    assert err.value.expected == expected


def broken(argv: tuple[str, ...], edit: Callable[[dict[str, Any]], None]) -> KubernetesSource:
    runner = ReplayRunner.from_directory(SNAPSHOTS)
    doc = json.loads(runner.outputs[command_text(argv)])
    edit(doc)
    runner.outputs[command_text(argv)] = json.dumps(doc)
    return KubernetesSource(runner)


def test_a_fractional_gpu_capacity_names_the_node_and_field() -> None:
    bad = broken(
        NODES, lambda d: d["items"][2]["status"]["capacity"].update({"nvidia.com/gpu": "7.5"})
    )
    with pytest.raises(SourceError) as err:
        bad.nodes()
    assert str(err.value) == (
        "kubectl get nodes -o json: items[2].status.capacity.nvidia.com/gpu: is '7.5' "
        "(expected a whole number of GPUs, 0 or more)"
    )


def test_an_unknown_pod_phase_lists_the_phases() -> None:
    bad = broken(PODS, lambda d: d["items"][0]["status"].update(phase="Evicting"))
    with pytest.raises(SourceError) as err:
        bad.pods()
    assert err.value.field == "items[0].status.phase"
    assert err.value.expected == "one of Pending, Running, Succeeded, Failed, Unknown"


def test_a_list_of_the_wrong_kind_is_refused_at_the_first_item() -> None:
    bad = broken(WORKLOADS, lambda d: d["items"][0].update(kind="Job"))
    with pytest.raises(SourceError) as err:
        bad.workloads()
    assert str(err.value).endswith("items[0].kind: is 'Job' (expected 'Workload')")


def test_a_workload_without_pod_sets_names_the_missing_field() -> None:
    bad = broken(WORKLOADS, lambda d: d["items"][3]["spec"].pop("podSets"))
    with pytest.raises(SourceError) as err:
        bad.workloads()
    assert err.value.field == "items[3].spec.podSets"


def test_kubectl_with_no_cluster_to_ask_is_unavailable_and_says_why() -> None:
    runner = SubprocessRunner(env={"KUBECONFIG": "/nonexistent/kubeconfig"}, timeout_s=20)
    with pytest.raises(SourceUnavailableError) as err:
        KubernetesSource(runner).nodes()
    assert err.value.source == "kubectl get nodes -o json"
    # kubectl is installed here: it runs, and fails for want of a server
    assert "exit 1:" in str(err.value) or "not installed" in str(err.value)
    assert exit_code(err.value) == 2

"""The Kubernetes importer on small lists shaped like ``kubectl get pods -A -o json`` and
``kubectl get workloads.kueue.x-k8s.io -A -o json``: what each field becomes, and errors that
name the item and its JSON path."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gpufleet.inputs.traces.detect import load_file, sniff
from gpufleet.inputs.traces.importers.gpu_names import catalog_name
from gpufleet.inputs.traces.importers.kubernetes import load_kubernetes
from gpufleet.inputs.traces.rows import RowError, RowPolicy
from gpufleet.inputs.traces.workload import Workload

EXPECTED_LIST = (
    "a Kubernetes List as written by kubectl get pods -A -o json "
    "(or kubectl get workloads.kueue.x-k8s.io -A -o json)"
)


def container(
    name: str = "trainer", gpus: Any = "4", cpu: str = "16", memory: str = "128Gi", key: str = ""
) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": cpu, "memory": memory}}
    if gpus is not None:
        resources["limits"] = {key or "nvidia.com/gpu": gpus}
        resources["requests"][key or "nvidia.com/gpu"] = gpus
    return {"name": name, "image": "nvcr.io/nvidia/pytorch:24.04-py3", "resources": resources}


def pod(
    name: str = "train-llm-0",
    namespace: str = "team-vision",
    created: str = "2024-05-01T10:00:00Z",
    started: str | None = "2024-05-01T10:02:00Z",
    finished: str | None = "2024-05-01T12:02:30Z",
    phase: str = "Succeeded",
    containers: list[dict[str, Any]] | None = None,
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": containers if containers is not None else [container()],
        "restartPolicy": "Never",
        "schedulerName": "default-scheduler",
    }
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    status: dict[str, Any] = {"phase": phase, "qosClass": "Burstable"}
    if started is not None:
        status["startTime"] = started
        state: dict[str, Any] = {"running": {"startedAt": started}}
        if finished is not None:
            state = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": started,
                    "finishedAt": finished,
                }
            }
        status["containerStatuses"] = [
            {"name": "trainer", "ready": False, "restartCount": 0, "state": state}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "5f0c1c7e-8a1d-4d0e-9d3c-6f1f2b7a9e01",
            "creationTimestamp": created,
            "labels": {"job-name": name.rsplit("-", 1)[0]},
        },
        "spec": spec,
        "status": status,
    }


def workload(
    created: str = "2024-05-01T10:00:00Z",
    admitted: str | None = "2024-05-01T10:10:00Z",
    finished: str | None = "2024-05-01T14:10:00Z",
    reason: str = "Succeeded",
    count: Any = 2,
) -> dict[str, Any]:
    template = {
        "spec": {
            "containers": [container(gpus="8", cpu="96", memory="1000Gi")],
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "restartPolicy": "Never",
        }
    }
    conditions = [
        {
            "type": "QuotaReserved",
            "status": "True",
            "reason": "QuotaReserved",
            "lastTransitionTime": admitted or created,
            "message": "Quota reserved in ClusterQueue cluster-queue",
        }
    ]
    status: dict[str, Any] = {"conditions": conditions}
    if admitted is not None:
        status["admission"] = {
            "clusterQueue": "research-cq",
            "podSetAssignments": [
                {"name": "main", "count": count, "flavors": {"nvidia.com/gpu": "h100"}}
            ],
        }
        conditions.append(
            {
                "type": "Admitted",
                "status": "True",
                "reason": "Admitted",
                "lastTransitionTime": admitted,
                "message": "The workload is admitted",
            }
        )
    if finished is not None:
        conditions.append(
            {
                "type": "Finished",
                "status": "True",
                "reason": reason,
                "lastTransitionTime": finished,
                "message": "Job finished successfully",
            }
        )
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "Workload",
        "metadata": {
            "name": "job-pretrain-7b-3c1f2",
            "namespace": "team-nlp",
            "creationTimestamp": created,
        },
        "spec": {
            "active": True,
            "queueName": "nlp-queue",
            "podSets": [{"name": "main", "count": count, "template": template}],
        },
        "status": status,
    }


def write(tmp_path: Path, items: Any, name: str = "pods.json") -> Path:
    path = tmp_path / name
    doc = {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
    path.write_text(json.dumps(doc, indent=4), encoding="utf-8")
    return path


def load(path: Path, skip: bool = False) -> Workload:
    return load_kubernetes(path, RowPolicy(str(path), skip=skip))


def error_of(path: Path) -> str:
    with pytest.raises(RowError) as info:
        load(path)
    return str(info.value)


# --- pods ----------------------------------------------------------------------------------


def test_a_finished_pod_reads_times_gpus_type_resources_namespace_and_phase(
    tmp_path: Path,
) -> None:
    w = load(
        write(tmp_path, [pod(node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})])
    )
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert (w.submit_s[0], w.start_s[0], w.duration_s[0]) == (0.0, 120.0, 7230.0)
    assert (w.gpus[0], w.gpu_type[0]) == (4.0, "H100-SXM")
    assert (w.cpus[0], w.memory_gb[0]) == (16.0, 128.0)
    assert (w.queue[0], w.user[0], w.status[0]) == ("team-vision", "", "Succeeded")
    assert "GPU type 'NVIDIA-H100-80GB-HBM3' read as H100-SXM (1 item(s))" in w.notes


def test_timestamps_with_offsets_are_normalized_to_utc(tmp_path: Path) -> None:
    p = pod(
        created="2024-05-01T12:00:00+02:00",
        started="2024-05-01T10:00:30Z",
        finished="2024-05-01T05:10:30-05:00",
    )
    w = load(write(tmp_path, [p]))
    assert w.origin == datetime(2024, 5, 1, 10, 0, 0)
    assert (w.start_s[0], w.duration_s[0]) == (30.0, 600.0)


def test_limits_alone_give_the_gpu_count_and_init_containers_count_as_the_scheduler_does(
    tmp_path: Path,
) -> None:
    main = {"name": "main", "resources": {"limits": {"nvidia.com/gpu": 2, "cpu": "500m"}}}
    sidecar = container(name="logger", gpus=None, cpu="250m", memory="512Mi")
    init = container(name="fetch", gpus="1", cpu="4", memory="1Gi")
    p = pod(containers=[main, sidecar])
    p["spec"]["initContainers"] = [init]
    w = load(write(tmp_path, [p]))
    assert w.gpus.tolist() == [2.0]  # max(2 + 0, 1)
    assert w.cpus.tolist() == [4.0]  # max(0.5 + 0.25, 4)
    assert w.memory_gb.tolist() == [1.0]  # max(0.5, 1)


def test_a_gpu_model_in_required_node_affinity_is_the_type(tmp_path: Path) -> None:
    p = pod()
    p["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "nvidia.com/gpu.product",
                                "operator": "In",
                                "values": ["NVIDIA-A100-SXM4-80GB"],
                            }
                        ]
                    }
                ]
            }
        }
    }
    assert load(write(tmp_path, [p])).gpu_type.tolist() == ["A100-80GB"]


def test_a_model_that_is_not_in_the_catalog_keeps_its_label_value(tmp_path: Path) -> None:
    p = pod(node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"})
    w = load(write(tmp_path, [p]))
    assert w.gpu_type.tolist() == ["nvidia-l4"]
    assert any(n.startswith("GPU type 'nvidia-l4' is not a built-in type") for n in w.notes)


def test_running_and_pending_pods_are_kept_with_an_unknown_duration(tmp_path: Path) -> None:
    running = pod(name="a-0", finished=None, phase="Running")
    pending = pod(name="b-0", started=None, finished=None, phase="Pending")
    w = load(write(tmp_path, [running, pending]))
    assert w.status.tolist() == ["Running", "Pending"]
    assert w.start_s[0] == 120.0 and math.isnan(w.start_s[1])
    assert all(math.isnan(d) for d in w.duration_s)
    assert "1 pod(s) not finished (Running): duration NaN" in w.notes
    assert "1 pod(s) not finished (Pending): duration NaN" in w.notes


def test_a_pod_without_gpus_is_kept_with_zero(tmp_path: Path) -> None:
    w = load(write(tmp_path, [pod(containers=[container(gpus=None)])]))
    assert w.gpus.tolist() == [0.0]
    assert "1 pod(s) without GPUs kept with gpus=0" in w.notes


def test_mig_slices_count_as_sevenths_of_a_gpu(tmp_path: Path) -> None:
    p = pod(containers=[container(gpus="2", key="nvidia.com/mig-1g.10gb")])
    assert load(write(tmp_path, [p])).gpus.tolist() == [2 / 7]


def test_a_finished_pod_that_never_started_lasts_zero(tmp_path: Path) -> None:
    p = pod(started=None, finished=None, phase="Failed")
    w = load(write(tmp_path, [p]))
    assert (w.duration_s[0], w.status[0]) == (0.0, "Failed")


# --- Kueue workloads -----------------------------------------------------------------------


def test_a_finished_kueue_workload_reads_pod_sets_admission_and_finish(tmp_path: Path) -> None:
    w = load(write(tmp_path, [workload()], name="workloads.json"))
    assert (w.submit_s[0], w.start_s[0], w.duration_s[0]) == (0.0, 600.0, 4 * 3600.0)
    assert (w.gpus[0], w.gpu_type[0]) == (16.0, "H100-SXM")
    assert (w.cpus[0], w.memory_gb[0]) == (192.0, 2000.0)
    assert (w.queue[0], w.status[0]) == ("research-cq", "Succeeded")


def test_a_workload_waiting_for_quota_takes_its_local_queue_and_status_pending(
    tmp_path: Path,
) -> None:
    wl = workload(admitted=None, finished=None)
    wl["status"]["conditions"][0]["status"] = "False"
    w = load(write(tmp_path, [wl]))
    assert (w.queue[0], w.status[0]) == ("nlp-queue", "Pending")
    assert math.isnan(w.start_s[0]) and math.isnan(w.duration_s[0])
    assert "1 workload(s) not admitted: queue is the LocalQueue (spec.queueName)" in w.notes


def test_pods_and_workloads_may_share_one_list(tmp_path: Path) -> None:
    w = load(write(tmp_path, [pod(), workload(reason="Failed")]))
    assert w.status.tolist() == ["Succeeded", "Failed"]


# --- errors --------------------------------------------------------------------------------


def test_a_gpu_count_that_is_not_a_number_names_the_item_and_json_path(tmp_path: Path) -> None:
    items = [pod(), pod(), pod(), pod(containers=[container(gpus="two")])]
    path = write(tmp_path, items)
    assert error_of(path) == (
        f"{path}: items[3].spec.containers[0].resources.requests.nvidia.com/gpu: 'two' is not "
        'a number (expected a whole number of GPUs, such as "1")'
    )


def test_half_a_gpu_is_not_a_whole_number(tmp_path: Path) -> None:
    path = write(tmp_path, [pod(containers=[container(gpus="0.5")])])
    assert error_of(path) == (
        f"{path}: items[0].spec.containers[0].resources.requests.nvidia.com/gpu: '0.5' is not "
        'a whole number (expected a whole number of GPUs, such as "1")'
    )


def test_a_finish_before_the_start_is_a_bad_item(tmp_path: Path) -> None:
    path = write(tmp_path, [pod(finished="2024-05-01T10:01:00Z")])
    assert error_of(path) == (
        f"{path}: items[0].status.containerStatuses[0].state.terminated.finishedAt: "
        "'2024-05-01T10:01:00Z' is before the pod's start '2024-05-01T10:02:00Z' "
        "(expected a finish at or after status.startTime)"
    )


def test_a_missing_creation_timestamp_is_named(tmp_path: Path) -> None:
    p = pod()
    del p["metadata"]["creationTimestamp"]
    path = write(tmp_path, [p])
    assert error_of(path) == (
        f"{path}: items[0].metadata.creationTimestamp: missing (expected a string)"
    )


def test_a_timestamp_that_is_not_a_time_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, [pod(created="yesterday")])
    assert error_of(path) == (
        f"{path}: items[0].metadata.creationTimestamp: 'yesterday' is not a time "
        "(expected an RFC 3339 time such as 2024-05-01T10:00:00Z)"
    )


def test_a_kueue_pod_set_count_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, [workload(count="2")])
    assert error_of(path) == (
        f"{path}: items[0].spec.podSets[0].count: '2' is not a pod count "
        "(expected a whole number of pods, 0 or more)"
    )


def test_an_item_of_another_kind_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, [{"kind": "Deployment", "metadata": {}, "spec": {}}])
    assert error_of(path) == (
        f"{path}: items[0].kind: 'Deployment' is neither a Pod nor a Kueue Workload "
        f"(expected {EXPECTED_LIST})"
    )


def test_broken_json_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text('{\n  "items": [\n    {"kind": "Pod",}\n  ]\n}\n', encoding="utf-8")
    assert error_of(path) == (
        f"{path}:3: JSON: Expecting property name enclosed in double quotes (column 20) "
        f"(expected {EXPECTED_LIST})"
    )


def test_an_empty_list_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, [])
    assert error_of(path) == (
        f"{path}: items: the list is empty (expected at least one item: {EXPECTED_LIST})"
    )


def test_json_that_is_not_a_list_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text('{"apiVersion": "v1", "kind": "Status"}', encoding="utf-8")
    assert error_of(path) == (
        f"{path}: items: not found: this JSON is not a Kubernetes List (expected {EXPECTED_LIST})"
    )


def test_skipping_counts_reasons_by_generalized_path_and_keeps_the_items(tmp_path: Path) -> None:
    bad = pod(containers=[container(gpus="two")])
    path = write(tmp_path, [pod(), bad, pod(), bad])
    policy = RowPolicy(str(path), skip=True)
    w = load_kubernetes(path, policy)
    assert len(w) == 2
    reason = "items[*].spec.containers[*].resources.requests.nvidia.com/gpu: 'two' is not a number"
    assert policy.skipped == {reason: 2}
    assert [index for index, _, _ in policy.rejects] == [1, 3]
    assert json.loads(policy.rejects[0][2]) == bad
    assert f"skipped 2 row(s): {reason}" in w.notes


def test_load_file_recognizes_json_by_its_content(tmp_path: Path) -> None:
    path = write(tmp_path, [pod()], name="export.txt")
    assert sniff(path) == "kubernetes"
    assert load_file(path, RowPolicy(str(path))).gpus.tolist() == [4.0]


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("h100", "H100-SXM"),
        ("NVIDIA-H100-80GB-HBM3", "H100-SXM"),
        ("nvidia_h100_80gb_hbm3", "H100-SXM"),
        ("nvidia-h100-80gb", "H100-SXM"),
        ("NVIDIA-H100-PCIe", None),
        ("H100 NVL", None),
        ("NVIDIA-H200", "H200"),
        ("b200", "B200"),
        ("a100", "A100-80GB"),
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-SXM4-40GB", None),
        ("nvidia-tesla-a100", None),  # GKE's name for the 40 GB part
        ("Tesla-V100-SXM2-16GB", None),
    ],
)
def test_gpu_names_map_to_the_catalog_only_when_the_name_settles_the_model(
    raw: str, name: str | None
) -> None:
    assert catalog_name(raw) == name

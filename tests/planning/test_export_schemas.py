"""The Kubernetes exports (Kueue, KAI, Volcano) and YuniKorn's queues.yaml against the
schema subsets of gpufleet.planning.export.schemas, and the checker itself: an unknown field, a
wrong
type, a value outside an enum or a range, a missing required field must each fail."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.planning.allocation import Allocation, allocation_at
from gpufleet.planning.export import target
from gpufleet.planning.export.schemas import (
    KAI_QUEUE,
    KUEUE_CLUSTER_QUEUE,
    VOLCANO_QUEUE,
    YUNIKORN_CONFIG,
    problems,
    problems_of_object,
)
from tests.support.scenarios import mixed

ROOT = Path(__file__).resolve().parents[2]


def _allocations() -> list[tuple[str, Allocation]]:
    article = load_scenario(ROOT / "src" / "gpufleet" / "data" / "article.yaml")
    lab = load_scenario(ROOT / "examples" / "small-lab.yaml")
    return [
        ("article-move-after", allocation_at(article.variant("move"), datetime(2024, 6, 15))),
        ("small-lab-after", allocation_at(lab, datetime(2025, 3, 17))),
        ("mixed", allocation_at(mixed(), datetime(2025, 1, 2))),
    ]


ALLOCATIONS = _allocations()


def _docs(name: str, alloc: Allocation) -> list[Any]:
    return [d for d in yaml.safe_load_all(target(name).write(alloc).text) if d is not None]


@pytest.mark.parametrize("name", ["kueue", "kai", "volcano"])
@pytest.mark.parametrize(("case", "alloc"), ALLOCATIONS, ids=[c for c, _ in ALLOCATIONS])
def test_every_kubernetes_object_written_fits_its_crd(
    name: str, case: str, alloc: Allocation
) -> None:
    docs = _docs(name, alloc)
    assert docs
    for doc in docs:
        assert problems_of_object(doc) == [], doc["metadata"]["name"]


@pytest.mark.parametrize(("case", "alloc"), ALLOCATIONS, ids=[c for c, _ in ALLOCATIONS])
def test_the_yunikorn_queues_yaml_fits_the_queue_configuration(
    case: str, alloc: Allocation
) -> None:
    (doc,) = _docs("yunikorn", alloc)
    assert problems(doc, YUNIKORN_CONFIG) == []


def _cluster_queue() -> dict[str, Any]:
    docs = _docs("kueue", ALLOCATIONS[1][1])
    return copy.deepcopy(next(d for d in docs if d["kind"] == "ClusterQueue"))


def _queue(name: str) -> dict[str, Any]:
    """The first leaf queue (a program's) of a KAI or Volcano export."""
    docs = _docs(name, ALLOCATIONS[1][1])
    return copy.deepcopy(
        next(d for d in docs if "gpufleet.io/program" in d["metadata"]["annotations"])
    )


def test_a_v1beta2_field_in_a_v1beta1_cluster_queue_is_an_unknown_field() -> None:
    cq = _cluster_queue()
    cq["spec"]["cohortName"] = cq["spec"].pop("cohort")
    assert problems(cq, KUEUE_CLUSTER_QUEUE, "ClusterQueue") == [
        "ClusterQueue.spec.cohortName: unknown field"
    ]


def test_a_list_where_kueue_wants_a_quantity_is_a_wrong_type() -> None:
    cq = _cluster_queue()
    cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = [48]
    assert problems_of_object(cq) == [
        "ClusterQueue.spec.resourceGroups[0].flavors[0].resources[0].nominalQuota: "
        "expected an integer or a string, got array"
    ]


def test_a_quantity_with_a_made_up_unit_does_not_match_the_grammar() -> None:
    cq = _cluster_queue()
    cq["spec"]["fairSharing"]["weight"] = "2x"
    (problem,) = problems_of_object(cq)
    assert problem.startswith("ClusterQueue.spec.fairSharing.weight: '2x' does not match")


def test_a_preemption_policy_kueue_does_not_know_is_refused() -> None:
    cq = _cluster_queue()
    cq["spec"]["preemption"]["withinClusterQueue"] = "Always"
    (problem,) = problems_of_object(cq)
    assert problem.startswith("ClusterQueue.spec.preemption.withinClusterQueue: 'Always' is not")


def test_a_flavor_without_its_nominal_quota_misses_a_required_field() -> None:
    cq = _cluster_queue()
    del cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"]
    assert problems_of_object(cq) == [
        "ClusterQueue.spec.resourceGroups[0].flavors[0].resources[0].nominalQuota: required"
    ]


def test_an_uppercase_object_name_is_not_a_dns_name() -> None:
    cq = _cluster_queue()
    cq["metadata"]["name"] = "Vision"
    (problem,) = problems_of_object(cq)
    assert problem.startswith("ClusterQueue.metadata.name: 'Vision' does not match")


def test_a_kai_quota_written_as_text_is_a_wrong_type() -> None:
    q = _queue("kai")
    q["spec"]["resources"]["gpu"]["quota"] = "48"
    assert problems(q, KAI_QUEUE, "Queue") == [
        "Queue.spec.resources.gpu.quota: expected number, got string"
    ]


def test_a_kai_resource_it_does_not_have_is_an_unknown_field() -> None:
    q = _queue("kai")
    q["spec"]["resources"]["nvidia.com/gpu"] = {"quota": 1}
    assert problems(q, KAI_QUEUE, "Queue") == ["Queue.spec.resources.nvidia.com/gpu: unknown field"]


@pytest.mark.parametrize(
    ("weight", "problem"),
    [
        (1.5, "Queue.spec.weight: expected integer, got float"),
        (True, "Queue.spec.weight: expected integer, got boolean"),
        (0, "Queue.spec.weight: 0 is less than 1"),
        (2**31, "Queue.spec.weight: 2147483648 is outside int32"),
    ],
)
def test_a_volcano_weight_must_be_an_int32_of_at_least_one(weight: Any, problem: str) -> None:
    q = _queue("volcano")
    q["spec"]["weight"] = weight
    assert problems(q, VOLCANO_QUEUE, "Queue") == [problem]


def test_volcano_guarantee_holds_its_resources_under_resource() -> None:
    q = _queue("volcano")
    q["spec"]["guarantee"] = {"nvidia.com/gpu": 4}
    assert problems(q, VOLCANO_QUEUE, "Queue") == [
        "Queue.spec.guarantee.nvidia.com/gpu: unknown field"
    ]


def test_a_yunikorn_queue_name_with_a_dot_and_a_numeric_resource_are_refused() -> None:
    (doc,) = _docs("yunikorn", ALLOCATIONS[1][1])
    cohort = doc["partitions"][0]["queues"][0]["queues"][0]
    cohort["name"] = "lab.one"
    cohort["resources"]["max"]["nvidia.com/gpu"] = 144
    found = problems(doc, YUNIKORN_CONFIG)
    assert len(found) == 2
    assert found[0].startswith("partitions[0].queues[0].queues[0].name: 'lab.one' does not")
    assert found[1] == (
        "partitions[0].queues[0].queues[0].resources.max.nvidia.com/gpu: expected string, got int"
    )


def test_an_object_of_a_kind_without_a_schema_is_reported() -> None:
    assert problems_of_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}) == [
        "document: no schema for v1 Pod"
    ]

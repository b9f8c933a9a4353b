"""Kueue manifests against the CRD schemas bundled from Kueue v0.19.2
(src/gpufleet/data/kueue-crds): every manifest gpufleet writes fits, in both versions; a
wrong one is refused with the object and the JSON path."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from gpufleet.live.enact.kueue_desired import kueue_desired
from gpufleet.live.enact.kueue_schema import ManifestSchemaError, check, problems
from tests.live.enact.builders import lease, rows
from tests.live.enact.test_kueue_desired import kube_mapping


def manifests(version: str) -> list[dict[str, Any]]:
    d = kueue_desired(rows(lease()), kube_mapping(), version, datetime(2026, 7, 15))
    return [o.manifest for o in d.objects]


def cluster_queue(version: str = "v1beta2") -> dict[str, Any]:
    return copy.deepcopy(next(m for m in manifests(version) if m["kind"] == "ClusterQueue"))


@pytest.mark.parametrize("version", ["v1beta2", "v1beta1"])
def test_every_manifest_fits_the_bundled_schema_of_its_version(version: str) -> None:
    docs = manifests(version)
    assert {d["kind"] for d in docs} == {"ResourceFlavor", "Cohort", "ClusterQueue", "LocalQueue"}
    assert [p for d in docs for p in problems(d)] == []
    check(docs)  # raises on any problem


GPU = "$.spec.resourceGroups[0].flavors[0].resources[0]"


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "where", "what"),
    [
        pytest.param(
            ["spec", "resourceGroups", 0, "flavors", 0, "resources", 0, "nominalQuota"],
            "eight", f"{GPU}.nominalQuota", "does not match",
            id="a-quota-that-is-not-a-quantity",
        ),
        pytest.param(
            ["spec", "queueingStrategy"], "Fastest", "$.spec.queueingStrategy",
            "'Fastest' is not one of ['StrictFIFO', 'BestEffortFIFO']",
            id="a-queueing-strategy-kueue-lacks",
        ),
        pytest.param(
            ["spec", "cohort"], "tesla", "$.spec",
            "Additional properties are not allowed ('cohort' was unexpected)",
            id="v1beta1s-cohort-field-in-a-v1beta2-queue",
        ),
        pytest.param(
            ["spec", "resourceGroups", 0, "flavors", 0, "resources", 0, "lendingLimit"],
            # tesla-cq's H100 during the lease: 12 - 4 = 8
            9, f"{GPU}.lendingLimit", "9 is more than nominalQuota 8",
            id="a-lending-limit-above-the-nominal-quota",
        ),
        pytest.param(
            ["metadata", "name"], "Tesla CQ", "$.metadata.name", "is not a DNS-1123 subdomain",
            id="a-name-kubernetes-refuses",
        ),
    ],
)  # fmt: skip
def test_a_wrong_manifest_is_refused_naming_the_object_and_the_json_path(
    path: list[Any], value: Any, where: str, what: str
) -> None:
    doc = _set(cluster_queue(), path, value)
    with pytest.raises(ManifestSchemaError) as e:
        check([doc])
    found = [(p.path, p.message) for p in e.value.schema_problems]
    assert any(p == where and what in m for p, m in found), found
    assert f"ClusterQueue {doc['metadata']['name']}: {where}: " in str(e.value)


def test_v1beta2s_cohort_name_in_a_v1beta1_queue_is_refused() -> None:
    doc = cluster_queue("v1beta1")
    doc["spec"]["cohortName"] = doc["spec"].pop("cohort")
    assert [(p.path, p.message) for p in problems(doc)] == [
        ("$.spec", "Additional properties are not allowed ('cohortName' was unexpected)")
    ]


def test_a_borrowing_limit_without_a_cohort_breaks_kueues_cel_rule() -> None:
    doc = cluster_queue()
    del doc["spec"]["cohortName"]
    doc["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["borrowingLimit"] = 2
    assert [(p.path, p.message) for p in problems(doc)] == [
        (f"{GPU}.borrowingLimit", "needs a cohort")
    ]


def test_a_kind_or_version_without_a_bundled_schema_is_named() -> None:
    doc = cluster_queue()
    doc["apiVersion"] = "kueue.x-k8s.io/v1alpha1"
    [p] = problems(doc)
    assert p.path == "$.apiVersion"
    assert "expected kueue.x-k8s.io/v1beta2|v1beta1" in p.message

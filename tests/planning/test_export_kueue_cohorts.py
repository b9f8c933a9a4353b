"""A scenario with a cohort tree exported for Kueue: one Cohort object per declared cohort
(parent, own quota, weight), every ClusterQueue in its program's cohort, every object within
its CRD's schema subset, and the file read back to the same tree. A flat scenario, with or
without a declared root alone, exports exactly as before trees existed."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.cli.main import main
from gpufleet.domain.org import Quota
from gpufleet.inputs.scenario.load import load_scenario_text
from gpufleet.planning.allocation import Allocation, allocation_at
from gpufleet.planning.export import target
from gpufleet.planning.export.kueue import CohortView, cohort_view, read_cohorts
from gpufleet.planning.export.schemas import KUEUE_COHORT, problems, problems_of_object

TREE = """
name: tree
start: 2025-01-01
horizon_days: 30
policy: kueue
sites: [{name: dc, power_kw: 2000}]
cohorts:
  - name: Group
    quotas: {H100-SXM: {nominal: 8}}
  - name: Research_Org
    parent: Group
    weight: 0.75
    quotas:
      H100-SXM: {nominal: 0, borrowing_limit: 0}
      A100-80GB: {nominal: 16, lending_limit: 24}
  - name: production
    parent: Group
    weight: 0.25
  - name: training
    parent: Research_Org
    quotas: {A100-80GB: {nominal: 4, borrowing_limit: 8, lending_limit: 2}}
entities:
  - name: lab
    cohort: Research_Org
    programs:
      - name: vision
        quotas: {H100-SXM: {nominal: 16, borrowing_limit: 4, lending_limit: 8}}
      - name: LLM.pretrain
        cohort: training
        weight: 2
        quotas: {A100-80GB: {nominal: 8}}
      - name: serving
        cohort: production
        quotas: {H100-SXM: {nominal: 8}}
  - name: other
    programs:
      - {name: solo, quotas: {H100-SXM: {nominal: 8}}}
pools:
  - {name: h, site: dc, gpu_type: H100-SXM, nodes: 4, owner: lab}
  - {name: a, site: dc, gpu_type: A100-80GB, nodes: 2, owner: lab}
  - {name: o, site: dc, gpu_type: H100-SXM, nodes: 1, owner: other}
timeline:
  - quota: {at: 2025-01-10, program: vision, gpu_type: H100-SXM, nominal: 24,
            borrowing_limit: 4, lending_limit: 8}
"""

# the tree as the file above declares it, written out by hand
DECLARED = {
    "Group": CohortView("Group", None, 1.0, (("H100-SXM", Quota(8)),)),
    "Research_Org": CohortView(
        "Research_Org",
        "Group",
        0.75,
        (("A100-80GB", Quota(16, None, 24)), ("H100-SXM", Quota(0, 0, None))),
    ),
    "production": CohortView("production", "Group", 0.25, ()),
    "training": CohortView("training", "Research_Org", 1.0, (("A100-80GB", Quota(4, 8, 2)),)),
}


def _alloc(at: str = "2025-01-01", text: str = TREE) -> Allocation:
    return allocation_at(load_scenario_text(text, "tree.yaml"), datetime.fromisoformat(at))


def _docs(alloc: Allocation) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(target("kueue").write(alloc).text) if d is not None]


def _of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_declared_cohort_becomes_a_kueue_cohort_with_its_parent_quota_and_weight() -> None:
    cohorts = _of_kind(_docs(_alloc()), "Cohort")
    assert list(cohorts) == ["group", "research-org", "production", "training"]  # parents first
    assert cohorts["group"]["spec"] == {
        "resourceGroups": [
            {
                "coveredResources": ["nvidia.com/gpu"],
                "flavors": [
                    {
                        "name": "h100-sxm",
                        "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 8}],
                    }
                ],
            }
        ],
        "fairSharing": {"weight": 1},
    }
    research = cohorts["research-org"]
    assert research["metadata"]["annotations"] == {"gpufleet.io/cohort": "Research_Org"}
    assert research["spec"]["parentName"] == "group"
    assert research["spec"]["fairSharing"] == {"weight": "0.75"}
    (group,) = research["spec"]["resourceGroups"]
    # a cohort's lending limit is written as given, here above its nominal (16 < 24): it
    # bounds the whole subtree, and Kueue's Cohort webhook does not compare the two
    assert group["flavors"] == [
        {
            "name": "h100-sxm",
            "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 0, "borrowingLimit": 0}],
        },
        {
            "name": "a100-80gb",
            "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 16, "lendingLimit": 24}],
        },
    ]
    assert cohorts["production"]["spec"] == {
        "parentName": "group",
        "fairSharing": {"weight": "0.25"},
    }
    assert "other" not in cohorts  # a flat cohort beside the tree: no Cohort object


def test_each_cluster_queue_joins_its_programs_cohort_else_its_entitys() -> None:
    queues = _of_kind(_docs(_alloc()), "ClusterQueue")
    joined = {
        name: (q["spec"]["cohort"], q["metadata"]["annotations"]["gpufleet.io/cohort"])
        for name, q in queues.items()
    }
    assert joined == {
        "vision": ("research-org", "Research_Org"),  # the entity's cohort
        "llm-pretrain": ("training", "training"),  # its own
        "serving": ("production", "production"),  # its own
        "solo": ("other", "other"),  # flat, as before
    }


@pytest.mark.parametrize("at", ["2025-01-01", "2025-01-10", "2025-01-31"])
def test_the_kueue_export_reads_back_to_the_same_tree_and_queues(at: str) -> None:
    a = _alloc(at)
    text = target("kueue").write(a).text
    assert read_cohorts(text) == cohort_view(a) == DECLARED
    view = target("kueue").read(text)
    assert view == target("kueue").view(a)
    assert {p: q.parent for p, q in view.items()} == {
        "vision": "Research_Org",
        "LLM.pretrain": "training",
        "serving": "production",
        "solo": "other",
    }
    # the quota change of 2025-01-10 reaches the ClusterQueue; the cohorts stay as declared
    nominal = 24 if at >= "2025-01-10" else 16
    assert view["vision"].gpus[0][1].nominal_gpus == nominal


def test_every_object_of_a_tree_export_fits_its_crd() -> None:
    docs = _docs(_alloc())
    assert {d["kind"] for d in docs} >= {"Cohort", "ClusterQueue", "ResourceFlavor"}
    for doc in docs:
        assert problems_of_object(doc) == [], doc["metadata"]["name"]


def test_a_flavor_only_a_cohort_has_a_quota_for_still_gets_its_resource_flavor() -> None:
    text = TREE.replace("        quotas: {A100-80GB: {nominal: 8}}\n", "        quotas: {}\n")
    flavors = _of_kind(_docs(_alloc(text=text)), "ResourceFlavor")
    assert sorted(flavors) == ["a100-80gb", "h100-sxm"]


def _cohort() -> dict[str, Any]:
    return copy.deepcopy(_of_kind(_docs(_alloc()), "Cohort")["research-org"])


def test_the_v1alpha1_parent_field_in_a_v1beta1_cohort_is_an_unknown_field() -> None:
    k = _cohort()
    k["spec"]["parent"] = k["spec"].pop("parentName")
    assert problems(k, KUEUE_COHORT, "Cohort") == ["Cohort.spec.parent: unknown field"]


def test_a_cohort_quota_written_as_a_list_is_a_wrong_type() -> None:
    k = _cohort()
    k["spec"]["resourceGroups"][0]["flavors"][1]["resources"][0]["lendingLimit"] = [24]
    assert problems_of_object(k) == [
        "Cohort.spec.resourceGroups[0].flavors[1].resources[0].lendingLimit: "
        "expected an integer or a string, got array"
    ]


def test_a_cohort_tree_export_through_the_cli_names_the_kueue_version_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tree.yaml"
    path.write_text(TREE)
    assert main(["export", "kueue", str(path)]) == 0
    out = capsys.readouterr().out
    assert "# The Cohort objects (a cohort tree) need Kueue v0.13 or later" in out
    assert read_cohorts(out) == DECLARED


# --- flat scenarios: unchanged ------------------------------------------------------------
FLAT = """
name: flat
start: 2025-01-01
horizon_days: 2
entities:
  - name: a
    cohort: shared
    programs: [{name: p, quotas: {H100-SXM: {nominal: 8, borrowing_limit: 2}}}]
  - name: b
    cohort: shared
    programs: [{name: q, quotas: {H100-SXM: {nominal: 8, lending_limit: 4}}}]
sites: [{name: dc, power_kw: 100}]
pools: [{name: n, site: dc, gpu_type: H100-SXM, nodes: 2, owner: a}]
"""


def test_a_declared_root_alone_exports_exactly_as_a_scenario_without_cohorts() -> None:
    # a root without quota and without children is a flat cohort (Scenario.cohort_trees)
    declared = FLAT.replace("entities:\n", "cohorts:\n  - name: shared\nentities:\n")
    flat = target("kueue").write(_alloc(text=FLAT)).text
    assert target("kueue").write(_alloc(text=declared)).text == flat
    assert "kind: Cohort\n" not in flat
    assert read_cohorts(flat) == {}

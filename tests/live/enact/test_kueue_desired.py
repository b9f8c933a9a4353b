"""The register's desired state as Kueue objects (issue 13 item 5): the enact story's rows
(tests/live/enact/builders.py) on the Kubernetes mapping of
tests/live/samples/kubernetes/enact/mapping.yaml, with hand-computed quotas."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gpufleet.domain import default_catalog
from gpufleet.errors import InputError
from gpufleet.live.enact.kueue_desired import ANN_CAUSES, KueueDesired, kueue_desired
from gpufleet.live.enact.register import QuotaRec
from gpufleet.live.mapping import ClusterMapping, parse_mapping
from tests.live.enact.builders import lease, rows

KUBE = Path(__file__).parents[1] / "samples/kubernetes/enact"
MAPPING = KUBE / "mapping.yaml"


def kube_mapping(text: str | None = None) -> ClusterMapping:
    return parse_mapping(text or MAPPING.read_text(), str(MAPPING), default_catalog())


def at(day: str) -> datetime:
    return datetime.fromisoformat(day)


def obj(d: KueueDesired, kind: str, name: str) -> dict[str, Any]:
    return next(o.manifest for o in d.objects if (o.kind, o.name) == (kind, name))


def gpus(d: KueueDesired, cq: str) -> dict[str, dict[str, Any]]:
    """Flavor -> the ClusterQueue's nvidia.com/gpu entry (less its name)."""
    spec = obj(d, "ClusterQueue", cq)["spec"]
    return {
        f["name"]: {k: v for k, v in f["resources"][0].items() if k != "name"}
        for f in spec["resourceGroups"][0]["flavors"]
    }


# builders.rows(): fsd-training 12 H100 + 4 A100; grok 4 H100 (6 from 2026-09-01), no A100.
CASES = [
    pytest.param(
        (),
        "2026-06-15",
        {"h100": 12, "a100": 4},
        {"h100": 4, "a100": 0},
        id="no-transfer-the-quota-rows-in-force",
    ),
    pytest.param(
        # 12 - 4 = 8 for the giver, 4 + 4 = 8 for the taker
        (lease(),),
        "2026-07-15",
        {"h100": 8, "a100": 4},
        {"h100": 8, "a100": 0},
        id="a-lease-in-force-moves-4-h100-from-tesla-cq-to-xai-cq",
    ),
    pytest.param(
        # the window is [start, end): at its end the quota is back
        (lease(),),
        "2026-08-01",
        {"h100": 12, "a100": 4},
        {"h100": 4, "a100": 0},
        id="at-the-lease-end-the-quota-is-back",
    ),
    pytest.param(
        # grok's row of 2026-09-01 (6) + 4 = 10; tesla 12 - 4 = 8
        (lease(start="2026-09-01", end="2026-10-01"),),
        "2026-09-15",
        {"h100": 8, "a100": 4},
        {"h100": 10, "a100": 0},
        id="a-later-quota-row-and-a-lease-add-up",
    ),
    pytest.param(
        # 12 - 16 clamps to 0 (as the simulator and the Slurm plan do); 4 + 16 = 20
        (lease(gpus=16),),
        "2026-07-15",
        {"h100": 0, "a100": 4},
        {"h100": 20, "a100": 0},
        id="a-lease-of-more-than-the-giver-holds-clamps-the-giver-at-0",
    ),
]


@pytest.mark.parametrize(("transfers", "day", "tesla", "xai"), CASES)
def test_nominal_quota_per_flavor_is_the_quota_in_force_moved_by_transfers(
    transfers: tuple[Any, ...], day: str, tesla: dict[str, int], xai: dict[str, int]
) -> None:
    d = kueue_desired(rows(*transfers), kube_mapping(), "v1beta2", at(day))
    assert {f: e["nominalQuota"] for f, e in gpus(d, "tesla-cq").items()} == tesla
    assert {f: e["nominalQuota"] for f, e in gpus(d, "xai-cq").items()} == xai


def test_the_objects_are_flavors_cohorts_queues_and_local_queues_in_apply_order() -> None:
    d = kueue_desired(rows(), kube_mapping(), "v1beta2", at("2026-06-15"))
    assert [o.ref for o in d.objects] == [
        "ResourceFlavor h100",  # memphis-h100 is the first node rule's pool
        "ResourceFlavor a100",
        "Cohort tesla",
        "Cohort xai",
        "ClusterQueue tesla-cq",
        "ClusterQueue xai-cq",
        "LocalQueue fsd/fsd-training",
        "LocalQueue grok/grok",
    ]
    assert obj(d, "ResourceFlavor", "h100")["spec"] == {
        "nodeLabels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    }
    assert obj(d, "LocalQueue", "fsd-training")["spec"] == {"clusterQueue": "tesla-cq"}
    assert obj(d, "LocalQueue", "fsd-training")["metadata"]["namespace"] == "fsd"


def test_weights_are_fair_sharing_weights_and_an_entity_cohort_sums_its_programs() -> None:
    two = replace(rows(), programs=(*rows().programs, replace(rows().programs[0], name="fsd-eval",
                                                              weight=0.15)))  # fmt: skip
    text = MAPPING.read_text().replace(
        "    xai-cq:", "    eval-cq: {entity: tesla, program: fsd-eval}\n    xai-cq:"
    )
    d = kueue_desired(two, kube_mapping(text), "v1beta2", at("2026-06-15"))
    assert obj(d, "ClusterQueue", "tesla-cq")["spec"]["fairSharing"] == {"weight": "0.6"}
    # 0.6 + 0.15 = 0.75: tesla's two programs; xai's one: 0.4
    assert obj(d, "Cohort", "tesla")["spec"] == {"fairSharing": {"weight": "0.75"}}
    assert obj(d, "Cohort", "xai")["spec"] == {"fairSharing": {"weight": "0.4"}}
    # no namespace maps to fsd-eval: its queue admits from none, and the plan says so
    assert obj(d, "ClusterQueue", "eval-cq")["spec"]["namespaceSelector"] == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "DoesNotExist"}]
    }
    assert "ClusterQueue eval-cq: no namespace maps to fsd-eval" in d.notes


def test_borrowing_and_lending_limits_come_from_the_quota_row_in_force() -> None:
    base = rows(lease())
    quotas = (
        QuotaRec("fsd-training", "H100-SXM", None, 12, borrowing_limit=2, lending_limit=10),
        *base.quotas[1:],
    )
    d = kueue_desired(replace(base, quotas=quotas), kube_mapping(), "v1beta2", at("2026-07-15"))
    # nominal 12 - 4 = 8; borrowing 2 as the row says; lending 10 > 8 is written as 8
    assert gpus(d, "tesla-cq")["h100"] == {
        "nominalQuota": 8,
        "borrowingLimit": 2,
        "lendingLimit": 8,
    }
    assert gpus(d, "xai-cq")["h100"] == {"nominalQuota": 8}  # grok's row has no limits
    assert any("lending limit 10 is more than its nominal quota 8" in n for n in d.notes)


def test_each_queue_is_annotated_with_its_transfer_and_the_approvals() -> None:
    d = kueue_desired(rows(lease()), kube_mapping(), "v1beta2", at("2026-07-15"))
    causes = json.loads(obj(d, "ClusterQueue", "xai-cq")["metadata"]["annotations"][ANN_CAUSES])
    transfer = next(c for c in causes if c["kind"] == "transfer")
    assert (transfer["transfer_id"], transfer["giver"], transfer["taker"]) == (
        7,
        "fsd-training",
        "grok",
    )
    assert [a["person"] for a in transfer["approvals"]] == ["dana", "eli"]
    quota = next(c for c in causes if c["kind"] == "quota" and c["gpu_type"] == "H100-SXM")
    assert (quota["program"], quota["nominal"], quota["effective"]) == ("grok", 4, "plan start")
    labels = obj(d, "ClusterQueue", "xai-cq")["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/managed-by": "gpufleet"}


def test_v1beta1_names_the_cohort_in_spec_cohort_and_v1beta2_in_spec_cohort_name() -> None:
    new = kueue_desired(rows(), kube_mapping(), "v1beta2", at("2026-06-15"))
    old = kueue_desired(rows(), kube_mapping(), "v1beta1", at("2026-06-15"))
    assert obj(new, "ClusterQueue", "xai-cq")["spec"]["cohortName"] == "xai"
    assert "cohort" not in obj(new, "ClusterQueue", "xai-cq")["spec"]
    assert obj(old, "ClusterQueue", "xai-cq")["spec"]["cohort"] == "xai"
    assert "cohortName" not in obj(old, "ClusterQueue", "xai-cq")["spec"]
    assert {o.manifest["apiVersion"] for o in new.objects} == {"kueue.x-k8s.io/v1beta2"}
    assert {o.manifest["apiVersion"] for o in old.objects} == {"kueue.x-k8s.io/v1beta1"}
    # otherwise the same objects, in the same order
    assert [o.ref for o in new.objects] == [o.ref for o in old.objects]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            (
                "tesla-cq: {entity: tesla, program: fsd-training}",
                "tesla-cq: {entity: tesla, program: autopilot}",
            ),
            "kubernetes.cluster_queues.tesla-cq: tesla/autopilot is not a program of the register",
            id="a-queue-of-a-program-the-register-lacks",
        ),
        pytest.param(
            ("tesla-cq:", "Tesla_CQ:"),
            "kubernetes.cluster_queues.Tesla_CQ: is not a ClusterQueue name",
            id="a-queue-name-kubernetes-refuses",
        ),
        pytest.param(
            ("    xai-cq:", "    tesla-cq2: {entity: tesla, program: fsd-training}\n    xai-cq:"),
            "fsd-training already has ClusterQueue tesla-cq: quota counted twice",
            id="two-queues-for-one-program",
        ),
        pytest.param(
            ("pool: buffalo-a100", "pool: buffalo-b200"),
            "kubernetes.nodes[1].pool: pool 'buffalo-b200' is not in the register",
            id="a-node-rule-of-a-pool-the-register-lacks",
        ),
    ],
)
def test_a_mapping_the_register_cannot_carry_is_an_error_naming_the_field(
    edit: tuple[str, str], message: str
) -> None:
    text = MAPPING.read_text().replace(*edit)
    with pytest.raises(InputError) as e:
        kueue_desired(rows(), kube_mapping(text), "v1beta2", at("2026-06-15"))
    assert message in str(e.value)
    assert str(MAPPING) in str(e.value)

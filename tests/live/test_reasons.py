"""The schedulers' pending reasons onto gpufleet's, table by table."""

from __future__ import annotations

import pytest

from gpufleet.domain import Reason
from gpufleet.live.reasons import kueue_reason, pod_reason, slurm_reason


@pytest.mark.parametrize(
    ("slurm", "ours"),
    [
        ("AssocGrpGRES", Reason.QUOTA),
        ("AssocGrpGRESMinutes", Reason.QUOTA),
        ("AssocMaxJobsLimit", Reason.QUOTA),
        ("QOSGrpGRES", Reason.QUOTA),
        ("QOSMaxGRESPerUser", Reason.QUOTA),
        ("Resources", Reason.CAPACITY),
        ("Priority", Reason.BEHIND),
        ("ReqNodeNotAvail, UnavailableNodes:gf-a100-1", Reason.CAPACITY_DOWN),
        ("ReqNodeNotAvail", Reason.CAPACITY_DOWN),
        # nodes held for another job (a reservation), not down: waiting for capacity
        ("ReqNodeNotAvail, May be reserved for other job", Reason.CAPACITY),
        ("PartitionDown", Reason.CAPACITY_DOWN),
        ("PartitionInactive", Reason.CAPACITY_DOWN),
        ("NodeDown", Reason.CAPACITY_DOWN),
        ("QOSNotAllowed", None),
        ("InvalidQOS", None),
        ("Dependency", None),
        ("BeginTime", None),
        ("JobHeldUser", None),
        ("", None),
    ],
    ids=lambda v: v if isinstance(v, str) and v else str(v),
)
def test_slurm_reasons(slurm: str, ours: Reason | None) -> None:
    assert slurm_reason(slurm) is ours


ASSIGN = "couldn't assign flavors to pod set main: "
UNUSED = ASSIGN + "insufficient unused quota for nvidia.com/gpu in flavor h100, 2 more needed"
OVER = (
    "couldn't assign flavors to pod set main: insufficient quota for nvidia.com/gpu in flavor "
    "h100, previously considered podsets requests (0) + current podset request (16) > "
    "maximum capacity (4)"
)
BORROW = ASSIGN + "borrowing limit for nvidia.com/gpu in flavor h100 exceeded"
NO_RESOURCE = (
    "couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable in ClusterQueue"
)


@pytest.mark.parametrize(
    ("reason", "message", "preempted", "ours"),
    [
        ("Pending", UNUSED, False, Reason.QUOTA),
        ("Pending", OVER, False, Reason.QUOTA),
        ("Pending", BORROW, False, Reason.BORROWING_LIMIT),
        ("Pending", NO_RESOURCE, False, Reason.NO_GPU_TYPE),
        ("Inadmissible", "ClusterQueue xai-cq is inactive", False, None),
        ("Pending", UNUSED, True, Reason.PREEMPTED),
    ],
    ids=["unused-quota", "over-nominal", "borrowing", "no-gpu-resource", "inactive", "preempted"],
)
def test_kueue_reasons(reason: str, message: str, preempted: bool, ours: Reason | None) -> None:
    assert kueue_reason(reason, message, preempted) is ours


def test_an_unschedulable_pod_short_of_gpus_waits_for_capacity_others_for_other_things() -> None:
    assert pod_reason("0/5 nodes are available: 3 Insufficient nvidia.com/gpu.") is Reason.CAPACITY
    assert pod_reason("0/5 nodes are available: 5 node(s) didn't match node affinity") is None


def test_capacity_down_has_its_sentence_and_is_not_the_engines_gpu_type_reason() -> None:
    assert Reason.CAPACITY_DOWN.value == "capacity-down"
    assert Reason.CAPACITY_DOWN.sentence == (
        "the nodes or partition it needs are down or drained: its GPUs exist but cannot "
        "take work now"
    )

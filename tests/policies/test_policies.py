"""Table-driven policy cases; every expectation is worked out by hand in the comment."""

from __future__ import annotations

import pytest

from gpufleet.domain.org import Quota
from gpufleet.domain.reasons import Reason
from gpufleet.errors import InputError, UnknownNameError
from gpufleet.policies.registry import available_policies, make_policy
from tests.support.builders import H100, Harness


def test_every_required_policy_is_registered_by_name() -> None:
    names = [n for n, _, _ in available_policies()]
    assert names[:5] == ["fifo", "fifo-backfill", "priority", "drf", "quota"]
    assert "srtf" in names


def test_an_unknown_policy_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as e:
        make_policy("fair")
    valid = ", ".join(sorted(n for n, _, _ in available_policies()))
    assert f"valid names: {valid}" in str(e.value)


def test_an_unknown_policy_option_names_the_allowed_ones() -> None:
    with pytest.raises(InputError, match="its options: backfill_depth"):
        make_policy("fifo-backfill", {"depth": 3})


# Nodes [8, 8]; a 12-GPU job takes node 0 whole and 4 GPUs of node 1 (largest-free first),
# leaving 4 free on node 1. Then B wants 8 (cannot fit) and C wants 2 (fits in the 4).
@pytest.mark.parametrize(
    ("policy", "expect_running_after"),
    [
        pytest.param("fifo", [0], id="strict-fifo-head-of-line-blocks-the-small-job"),
        pytest.param("fifo-backfill", [0, 2], id="backfill-starts-the-small-job-that-fits"),
        pytest.param("drf", [0, 2], id="drf-within-one-program-is-fifo-per-program"),
    ],
)
def test_a_waiting_big_job_and_a_small_one_behind_it(
    policy: str, expect_running_after: list[int]
) -> None:
    h = Harness(
        policy,
        nodes=[8, 8],
        programs={"a": ("org", 1.0, {H100: Quota(16)}), "b": ("org", 1.0, {H100: Quota(16)})},
    )
    h.submit("a", 12)
    h.cycle(0)
    assert h.running() == [0]
    h.submit("a", 8, at=1)
    h.submit("b", 2, at=2)
    h.cycle(2)
    assert h.running() == expect_running_after


def test_strict_fifo_reports_why_the_head_waits() -> None:
    # 4 GPUs free on node 1, 8 wanted, 4 free in total: not enough capacity.
    h = Harness("fifo", nodes=[8, 8])
    h.submit("a", 12)
    h.cycle(0)
    big = h.submit("a", 8, at=1)
    d = h.cycle(1)
    assert d.blocked == [(big, Reason.CAPACITY)]
    assert big.reason == Reason.CAPACITY


def test_free_gpus_spread_over_nodes_are_reported_as_fragmentation() -> None:
    # nodes [8, 8, 8]: two 6-GPU jobs leave 2 + 2 + 8 ... then an 8 takes node 2 whole;
    # free is 2 + 2 = 4 and a 4-GPU job fits no single node: fragmented, not short.
    h = Harness("fifo", nodes=[8, 8, 8])
    for _ in range(3):
        h.submit("a", 6 if _ < 2 else 8)
    h.cycle(0)
    four = h.submit("a", 4, at=1)
    d = h.cycle(1)
    assert d.blocked == [(four, Reason.FRAGMENTED)]


@pytest.mark.parametrize(
    ("weight_a", "first"),
    [
        # unweighted: a uses 8/16 = 0.5, b uses 6/16 = 0.375 -> b is further below its share
        pytest.param(1.0, "b", id="drf-serves-the-program-with-the-lower-dominant-share"),
        # a weight 2: a's weighted share 0.5/2 = 0.25 < b's 0.375 -> a goes first
        pytest.param(2.0, "a", id="drf-weight-halves-the-effective-share"),
    ],
)
def test_drf_orders_programs_by_weighted_dominant_share(weight_a: float, first: str) -> None:
    h = Harness(
        "drf",
        nodes=[8, 8],
        programs={"a": ("org", weight_a, {H100: Quota(16)}), "b": ("org", 1.0, {H100: Quota(16)})},
    )
    h.submit("a", 8)
    h.submit("b", 6)
    h.cycle(0)
    # 2 GPUs free: exactly one 2-GPU job can start; which program gets it is the test
    ja = h.submit("a", 2, at=1)
    jb = h.submit("b", 2, at=1)
    h.cycle(1)
    started = {ja.spec.id: "a", jb.spec.id: "b"}
    now_running = [started[i] for i in h.running() if i in started]
    assert now_running == [first]


def test_priority_preempts_the_lower_priority_job_and_it_loses_work_since_checkpoint() -> None:
    # L runs 8 GPUs from t=0 with checkpoints every 60 s; H (priority 10) arrives at t=100.
    # L's progress: 100 s at speed 1.0; kept: floor(100/60)*60 = 60 s; lost 40 s.
    h = Harness("priority", nodes=[8])
    low = h.submit("a", 8, work_s=1000, checkpoint_s=60)
    h.cycle(0)
    high = h.submit("a", 8, priority=10, at=100)
    d = h.cycle(100)
    assert [j.spec.id for j in d.preempt] == [low.spec.id]
    assert h.running() == [high.spec.id]
    assert low.remaining_s == 1000 - 60
    assert low.preemptions == 1
    assert low.lost_gpu_s == 40 * 8
    assert h.rec.stops == [(low.spec.id, 100.0, 40.0, False)]


@pytest.mark.parametrize(
    ("low_priority", "preemptible"),
    [
        pytest.param(10, True, id="equal-priority-never-preempts"),
        pytest.param(0, False, id="non-preemptible-job-is-never-a-victim"),
    ],
)
def test_priority_does_not_preempt(low_priority: int, preemptible: bool) -> None:
    h = Harness("priority", nodes=[8])
    h.submit("a", 8, priority=low_priority, preemptible=preemptible)
    h.cycle(0)
    h.submit("a", 8, priority=10, at=5)
    d = h.cycle(5)
    assert d.preempt == []
    assert h.running() == [0]


def test_priority_preempts_only_as_many_victims_as_needed() -> None:
    # Four 2-GPU low jobs on one 8-GPU node (t = 0, 1, 2, 3). A 4-GPU high job needs two
    # of them gone; victims are the most recently started first: jobs 3 and 2.
    h = Harness("priority", nodes=[8])
    for t in range(4):
        h.submit("a", 2, at=t)
        h.cycle(t)
    high = h.submit("a", 4, priority=5, at=10)
    d = h.cycle(10)
    assert sorted(j.spec.id for j in d.preempt) == [2, 3]
    assert h.running() == [0, 1, high.spec.id]


def _two_queue_cohort(policy: str = "quota", **q1: int | None) -> Harness:
    return Harness(
        policy,
        nodes=[8, 8],
        programs={
            "q1": ("org", 1.0, {H100: Quota(8, q1.get("borrow"), q1.get("lend"))}),
            "q2": ("org", 1.0, {H100: Quota(8, None, q1.get("lend2"))}),
        },
    )


@pytest.mark.parametrize(
    ("limits", "fits"),
    [
        # q1 at its nominal 8, wants 4 more: pool = 8 + 8 = 16 lendable, drawn 8 -> 12 <= 16
        pytest.param({}, True, id="borrows-unused-quota-of-the-cohort"),
        # q2 lends at most 2: pool = 8 + 2 = 10; q1 would draw 12 > 10
        pytest.param({"lend2": 2}, False, id="lending-limit-caps-what-others-borrow"),
        # q1 may borrow at most 2: 8 + 4 > 8 + 2
        pytest.param({"borrow": 2}, False, id="borrowing-limit-caps-the-borrower"),
        # q1 may borrow up to 4: 8 + 4 <= 8 + 4 and the pool has room
        pytest.param({"borrow": 4}, True, id="borrowing-up-to-the-limit-is-allowed"),
    ],
)
def test_quota_borrowing_follows_kueue_limits(limits: dict[str, int], fits: bool) -> None:
    h = _two_queue_cohort(**limits)
    h.submit("q1", 8)
    h.cycle(0)
    extra = h.submit("q1", 4, at=1)
    h.cycle(1)
    assert (extra.spec.id in h.running()) is fits


def test_quota_blocked_by_borrowing_limit_says_so() -> None:
    h = _two_queue_cohort(borrow=2)
    h.submit("q1", 8)
    h.cycle(0)
    extra = h.submit("q1", 4, at=1)
    d = h.cycle(1)
    assert d.blocked == [(extra, Reason.BORROWING_LIMIT)]


def test_quota_reclaims_borrowed_gpus_for_a_job_within_nominal() -> None:
    # q2 runs two 8-GPU jobs (t=0, t=1): 16 used, nominal 8 -> borrowing 8 from q1.
    # q1 submits 8 (within its nominal 8): the pool (16) is fully drawn by q2, so q1
    # reclaims: q2's most recently started job (id 1) is preempted.
    h = _two_queue_cohort()
    h.submit("q2", 8)
    h.cycle(0)
    h.submit("q2", 8, at=1)
    h.cycle(1)
    mine = h.submit("q1", 8, at=2)
    d = h.cycle(2)
    assert [j.spec.id for j in d.preempt] == [1]
    assert h.running() == [0, mine.spec.id]
    assert h.pending() == [1]


def test_quota_never_reclaims_from_a_program_within_its_nominal() -> None:
    # q2 uses exactly its nominal 8 and q1 its 8; a further q1 job would borrow, and
    # nothing is borrowed to take back: no preemption.
    h = _two_queue_cohort()
    h.submit("q2", 8)
    h.submit("q1", 8)
    h.cycle(0)
    h.submit("q1", 8, at=1)
    d = h.cycle(1)
    assert d.preempt == []
    assert d.blocked[0][1] == Reason.QUOTA


def test_separate_cohorts_never_share_nodes() -> None:
    # Entity "x" owns the only nodes, in cohort cx; entity "y" is in cohort cy with no
    # hardware: y's job can never start, whatever the policy.
    for policy in ("fifo", "fifo-backfill", "priority", "drf", "quota"):
        h = Harness(
            policy,
            nodes=[8],
            programs={"px": ("x", 1.0, {H100: Quota(8)}), "py": ("y", 1.0, {H100: Quota(8)})},
            cohorts={"x": "cx", "y": "cy"},
        )
        j = h.submit("py", 1)
        d = h.cycle(0)
        assert h.running() == [], policy
        assert d.blocked == [(j, Reason.NO_GPU_TYPE)], policy


def test_a_job_only_runs_on_a_gpu_type_it_allows() -> None:
    h = Harness("fifo", nodes=[8])  # H100 nodes only
    j = h.submit("a", 1, types=("A100-80GB",))
    d = h.cycle(0)
    assert d.blocked == [(j, Reason.NO_GPU_TYPE)]


@pytest.mark.parametrize(
    ("policy", "options", "message"),
    [
        pytest.param(
            "fifo-backfill",
            {"backfill_depth": 0},
            "must be a positive integer, got 0",
            id="an-integer-option-below-one",
        ),
        pytest.param(
            "slurm-multifactor",
            {"weight_age": -1.0},
            "must be a number >= 0",
            id="a-negative-weight",
        ),
        pytest.param(
            "slurm-multifactor",
            {"favor_small": "yes"},
            "must be true or false",
            id="a-boolean-given-as-text",
        ),
    ],
)
def test_policy_options_are_type_checked(
    policy: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        make_policy(policy, options)  # type: ignore[arg-type]

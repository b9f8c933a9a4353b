"""Fair-share as Slurm computes it (issue 18, item 2): Fair Tree over the configured account
tree, priorities set every ``PriorityCalcPeriod`` and kept between, and Slurm's own
factors taken as given before the first recalculation.

Sources: src/plugins/priority/multifactor/fair_tree.c (slurm-22-05-9-1; ``_calc_assoc_fs``,
``_cmp_level_fs``, ``_calc_tree_fs``) and priority_multifactor.c (``_decay_thread``,
``decay_apply_weighted_factors``)."""

from __future__ import annotations

import math

import pytest

from gpufleet.domain.org import Quota
from gpufleet.errors import InputError
from gpufleet.policies.slurm import Account, SlurmBackfill, SlurmMultifactor, SlurmSetup
from gpufleet.policies.slurm.fairtree import fair_tree_factors
from gpufleet.state.jobs import JobState
from tests.support.builders import H100
from tests.support.slurm_harness import SlurmHarness

# The dev cluster's tree as sacctmgr shows it (docs/live.md): root has two users of its
# own beside the accounts tesla (Share 60) and xai (Share 40); their users collapse into
# them (gpufleet's jobs carry no user).
DEV_TREE = {
    "root": Account("root", 1.0, ("tesla", "xai", "root/gfslurmrest", "root/root")),
    "tesla": Account("tesla", 60.0),
    "xai": Account("xai", 40.0),
    "root/gfslurmrest": Account("root/gfslurmrest", 1.0),
    "root/root": Account("root/root", 1.0),
}


@pytest.mark.parametrize(
    ("tree", "usage", "expect"),
    [
        # sshare on the dev cluster (RawUsage tesla 2317, xai 1175, root's users 0).
        # fair_tree.c _calc_assoc_fs: S = shares / siblings' shares (102 in all),
        # U = usage / parent's usage (3492): LF tesla = (60/102)/(2317/3492) = 0.887,
        # xai = (40/102)/(1175/3492) = 1.165, root's users S/0 = inf. _cmp_level_fs sorts
        # inf, inf, 1.165, 0.887; the two users tie at rank 4 of n = 4 leaves, then xai
        # gets rnt 2 and tesla 1: 1.0, 1.0, 2/4, 1/4 (Slurm's own factors put the same
        # order: root's users 1.0, xai's 0.667/0.5, tesla's 0.333/0.167, with n = 6).
        pytest.param(
            DEV_TREE,
            {"tesla": 2317.0, "xai": 1175.0},
            {"root/gfslurmrest": 1.0, "root/root": 1.0, "xai": 0.5, "tesla": 0.25},
            id="fair_tree.c-dev-cluster-sshare-order",
        ),
        # _calc_assoc_fs: "If S is 0, the assoc is assigned the lowest possible LF value",
        # even with no usage: z (Share 0, idle) ranks below y (Share 1, busy).
        pytest.param(
            {
                "root": Account("root", 1.0, ("y", "z")),
                "y": Account("y", 1.0),
                "z": Account("z", 0.0),
            },
            {"y": 10.0},
            {"y": 1.0, "z": 0.5},
            id="fair_tree.c-_calc_assoc_fs-zero-shares-is-lowest-LF",
        ),
        # _calc_tree_fs, nested: accounts A and B (Share 1 each) below root; A's usage 10,
        # B's 30: LF_A = 0.5/0.25 = 2 > LF_B = 0.5/0.75 = 0.667. A's leaves a1 (usage 10)
        # and a2 (0): LF a2 inf > a1 0.5; B's b1 (30): n = 3 -> a2 3/3, a1 2/3, b1 1/3.
        pytest.param(
            {
                "root": Account("root", 1.0, ("A", "B")),
                "A": Account("A", 1.0, ("a1", "a2")),
                "B": Account("B", 1.0, ("b1",)),
                "a1": Account("a1", 1.0),
                "a2": Account("a2", 1.0),
                "b1": Account("b1", 1.0),
            },
            {"a1": 10.0, "b1": 30.0},
            {"a2": 1.0, "a1": 2 / 3, "b1": 1 / 3},
            id="fair_tree.c-_calc_tree_fs-nested-accounts",
        ),
        # _calc_tree_fs, account_tied: A and B tie (both idle, LF inf) and are merged; all
        # their leaves tie too (inf): every leaf shares rank 3 of 3.
        pytest.param(
            {
                "root": Account("root", 1.0, ("A", "B")),
                "A": Account("A", 1.0, ("a1", "a2")),
                "B": Account("B", 1.0, ("b1",)),
            },
            {},
            {"a1": 1.0, "a2": 1.0, "b1": 1.0},
            id="fair_tree.c-_merge_accounts-tied-accounts-share-ranks",
        ),
    ],
)
def test_fair_tree_over_a_configured_tree(
    tree: dict[str, Account], usage: dict[str, float], expect: dict[str, float]
) -> None:
    got = fair_tree_factors(tree, usage)
    assert got.keys() == expect.keys()
    for k, v in expect.items():
        assert math.isclose(got[k], v), k


def two_programs(calc_period_s: float) -> tuple[SlurmHarness, list[str]]:
    """Programs a and b (Share 1 each, one entity each) on one 8-GPU node; fair-share
    weight only. a1 (a, 8 GPUs) runs 0-100 s; at 10 s a2 (a) and then b1 (b) arrive, both
    8 GPUs. Returns the harness and the names in start order after a1's end."""
    setup = SlurmSetup(weight_fairshare=10000.0, calc_period_s=calc_period_s)
    pol = SlurmMultifactor(setup=setup)
    programs = {"a": ("ea", 1.0, {H100: Quota(8)}), "b": ("eb", 1.0, {H100: Quota(8)})}
    s = SlurmHarness(pol, nodes=[8], programs=programs)
    s.submit("a", 8, work_s=100)
    s.h.cycle(0)
    a2 = s.submit("a", 8, at=10, work_s=100)
    b1 = s.submit("b", 8, at=10, work_s=100)
    s.h.cycle(10)
    s.advance()  # a1 ends at 100
    return s, [j.spec.program for j in (a2, b1) if j.state == JobState.RUNNING]


@pytest.mark.parametrize(
    ("period", "first"),
    [
        # priority_multifactor.c _decay_thread: factors and priorities are set at each pass
        # and kept between. Period 300 s: the only pass so far is the first cycle (0 s),
        # when nobody had usage: a and b tie (LF inf), so a2 (submitted first) starts.
        pytest.param(300.0, "a", id="_decay_thread-period-300-keeps-the-order-of-0s"),
        # Period 50 s: a pass falls at 100 s (0 + 2 x 50) with a's 800 GPU-s of usage and
        # b's 0: LF b inf > LF a, so b1 starts first.
        pytest.param(50.0, "b", id="_decay_thread-period-50-recalculates-at-100s"),
        # Period 0: every cycle recalculates (gpufleet's behaviour before issue 18).
        pytest.param(0.0, "b", id="period-0-recalculates-every-cycle"),
    ],
)
def test_priorities_change_only_at_a_recalculation(period: float, first: str) -> None:
    _, started = two_programs(period)
    assert started == [first]


def test_slurm_own_factors_are_used_until_the_first_recalculation() -> None:
    # sshare's FairShare given: b 0.1, a 0.9. Period 300 s, so at 100 s no recalculation
    # has happened since the first cycle: a2 (a, 0.9 x 10000) goes before b1 (0.1 x 10000)
    # although b has no usage. Computing from usage at 100 s would start b1 (case above).
    setup = SlurmSetup(
        weight_fairshare=10000.0, calc_period_s=300.0, fairshare={"a": 0.9, "b": 0.1}
    )
    pol = SlurmMultifactor(setup=setup, use_slurm_fairshare=True)
    programs = {"a": ("ea", 1.0, {H100: Quota(8)}), "b": ("eb", 1.0, {H100: Quota(8)})}
    s = SlurmHarness(pol, nodes=[8], programs=programs)
    s.submit("a", 8, work_s=100)
    s.h.cycle(0)
    b1 = s.submit("b", 8, at=10, work_s=100)
    a2 = s.submit("a", 8, at=20, work_s=100)
    s.h.cycle(20)
    s.advance()
    assert a2.state == JobState.RUNNING and b1.state == JobState.PENDING


def test_asking_for_slurm_factors_without_them_is_an_error_naming_the_option() -> None:
    with pytest.raises(InputError, match=r"use_slurm_fairshare.*slurm_sshare"):
        SlurmBackfill(use_slurm_fairshare=True)


def test_usage_at_the_start_counts_from_the_first_pass() -> None:
    # sshare's RawUsage as the start's usage: a has 1000 GPU-s, b none. At the first pass
    # (0 s) LF a = 0.5 / 1 = 0.5 < LF b = inf, so b1 goes before a1 though a1 came first.
    setup = SlurmSetup(weight_fairshare=10000.0, usage_gpu_s={"a": 1000.0})
    programs = {"a": ("ea", 1.0, {H100: Quota(8)}), "b": ("eb", 1.0, {H100: Quota(8)})}
    s = SlurmHarness(SlurmMultifactor(setup=setup), nodes=[8], programs=programs)
    a1 = s.submit("a", 8, work_s=100)
    b1 = s.submit("b", 8, work_s=100)
    s.h.cycle(0)
    assert b1.state == JobState.RUNNING and a1.state == JobState.PENDING

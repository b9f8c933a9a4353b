"""Why a job waits in a cohort tree: ``over-borrowing-limit`` when its program or a cohort on
its path would go past nominal + borrowingLimit, ``waiting-for-quota`` when the tree simply
has no unused quota left, as the flat ``kueue`` policy chooses between the two
(:func:`gpufleet.policies.basic.quota.quota_check`: a limit outranks a short pool).

Hand-worked cases with the formulas of :mod:`gpufleet.policies.kueue.tree` in the comments,
and a seeded property against KEP-79's balance, computed here independently.
"""

from __future__ import annotations

import random

import pytest

from gpufleet.domain.org import CohortTree, Quota
from gpufleet.domain.reasons import Reason
from gpufleet.policies.kueue.tree import TreeQuota
from gpufleet.state.jobs import JobState
from tests.support.builders import H100
from tests.support.kueue_trees import ROOT, _options, _random_tree, build, cohort


@pytest.mark.parametrize(
    ("root_nominal", "who", "gpus", "reason"),
    [
        # KEP-79 story 1: research's borrowingLimit 0. r (nominal 8, no lending limit, so
        # G(r) = 0) asks 16: r(research) = max(0, 0 + 16 - 0) = 16 reaches research, and
        # U + r = 16 > SQ(research) + BL = (0 + 8 - 0) + 0 = 8: the cohort's limit binds.
        pytest.param(0, "r", 16, Reason.BORROWING_LIMIT, id="kep-79/story-1/cohort-limit"),
        # p's cohort has no limit: 17 > available(p) = SQ(root) 16 - U 0 = 16, a short pool.
        pytest.param(0, "p", 17, Reason.QUOTA, id="kep-79/story-1/no-limit-short-pool"),
        # The root holds 8 more, so the tree has 24; r still asks past research's 8 + 0.
        pytest.param(8, "r", 9, Reason.BORROWING_LIMIT, id="room-above-but-the-limit-binds"),
    ],
)
def test_a_cohort_borrowing_limit_is_reported_as_over_borrowing_limit(
    root_nominal: int, who: str, gpus: int, reason: Reason
) -> None:
    h, _ = build(
        [
            cohort(ROOT, None, nominal=root_nominal),
            cohort("research", borrowing=0, nominal=0),
            cohort("production"),
        ],
        {"r": ("research", Quota(8)), "p": ("production", Quota(8))},
        nodes=[8, 8, 8],
    )
    j = h.submit(who, gpus)
    d = h.cycle(0)
    assert j.state is JobState.PENDING
    assert d.blocked == [(j, reason)]


@pytest.mark.parametrize(
    ("root_nominal", "gpus", "reason"),
    [
        # org (nominal 0, borrowingLimit 4) above team (no limit) above q (nominal 0):
        # available(q) = min(SQ(root) 16, SQ(org) 0 - 0 - 0 + BL 4) = 4. 5 GPUs: r(org) = 5
        # and 0 + 5 > 0 + 4, the limit two levels up binds.
        pytest.param(16, 5, Reason.BORROWING_LIMIT, id="a-grandparent-limit"),
        # root 3: available(q) = min(3, 4) = 3. 4 GPUs stay within org's 0 + 4 (4 > 4 is
        # false): only the pool is short.
        pytest.param(3, 4, Reason.QUOTA, id="within-the-limit-the-pool-is-short"),
        # 5 GPUs with root 3: over both; the limit is reported, as in the flat policy.
        pytest.param(3, 5, Reason.BORROWING_LIMIT, id="over-both-the-limit-is-reported"),
    ],
)
def test_a_limit_further_up_the_path_binds_only_when_the_job_passes_it(
    root_nominal: int, gpus: int, reason: Reason
) -> None:
    h, _ = build(
        [
            cohort(ROOT, None, nominal=root_nominal),
            cohort("org", nominal=0, borrowing=4),
            cohort("team", "org"),
        ],
        {"q": ("team", Quota(0))},
        nodes=[8, 8],
    )
    j = h.submit("q", gpus)
    d = h.cycle(0)
    assert d.blocked == [(j, reason)]


def test_unused_guaranteed_quota_below_a_limited_cohort_is_not_borrowing() -> None:
    # q: nominal 8, lendingLimit 0, so G(q) = 8 kept for itself; research (BL 0) has
    # SQ = 0 + (8 - 8) = 0. 8 GPUs: r(research) = max(0, 0 + 8 - 8) - 0 = 0, nothing
    # reaches research and the job runs. 9 GPUs: r = 1 and 0 + 1 > 0 + 0: over the limit.
    h, _ = build(
        [cohort(ROOT, None, nominal=8), cohort("research", nominal=0, borrowing=0)],
        {"q": ("research", Quota(8, None, 0))},
        nodes=[8, 8],
    )
    state = h.state.cohorts[ROOT]
    assert state.tree is not None
    tree = TreeQuota(state.tree, state.programs)
    q = h.state.program_by_name["q"]
    assert tree.check(q, H100, 8) is None
    assert tree.check(q, H100, 9) is Reason.BORROWING_LIMIT


# --- a seeded property: the reason against KEP-79's balance -------------------------------
def _balances(tree: CohortTree, quotas: dict[str, Quota], usage: dict[str, int]) -> dict[str, int]:
    """KEP-79's T per node: ``T(q) = nominal - usage`` for a program, ``T(x) = nominal(x) +
    sum over children c of min(LL(c), T(c))`` for a cohort (LL absent: T(c) whole)."""
    t = {p: q.nominal_gpus - usage[p] for p, q in quotas.items()}
    limit = {p: q.lending_limit_gpus for p, q in quotas.items()}
    joined = {str(p): str(k) for p, k in tree.members}
    for c in reversed(tree.cohorts):  # children before parents
        own = c.quota(H100)
        kids = [str(k.name) for k in tree.cohorts if k.parent == c.name]
        kids += [p for p in quotas if joined.get(p, ROOT) == c.name]
        total = own.nominal_gpus if own else 0
        for k in kids:
            ll = limit[k]
            total += t[k] if ll is None else min(ll, t[k])
        t[str(c.name)] = total
        limit[str(c.name)] = own.lending_limit_gpus if own else None
    return t


def _limits(tree: CohortTree, quotas: dict[str, Quota]) -> dict[str, int | None]:
    """Borrowing limits of every node but the root (which has none)."""
    out: dict[str, int | None] = {p: q.borrowing_limit_gpus for p, q in quotas.items()}
    for c in tree.cohorts[1:]:
        own = c.quota(H100)
        out[str(c.name)] = own.borrowing_limit_gpus if own else None
    return out


@pytest.mark.parametrize("seed", range(40))
def test_property_over_borrowing_limit_exactly_when_some_node_would_pass_its_limit(
    seed: int,
) -> None:
    # Random trees (tests.support.kueue_trees), usage built by admitting random jobs that
    # fit, then every program and size 1..8: the job fits iff afterwards T(root) >= 0 and
    # T(x) >= -BL(x) everywhere (KEP-79); when it does not fit, the reason is
    # BORROWING_LIMIT iff some node's T(x) < -BL(x) afterwards, else QUOTA.
    rng = random.Random(7000 + seed)
    h, _ = _random_tree(rng, _options(rng))
    state = h.state.cohorts[ROOT]
    assert state.tree is not None
    tree = TreeQuota(state.tree, state.programs)
    programs = {p.name: p for p in state.programs}
    quotas = {n: p.quotas[H100] for n, p in programs.items()}
    limits = _limits(state.tree, quotas)
    for _ in range(12):
        p = rng.choice(list(programs.values()))
        g = rng.randint(1, 4)
        if tree.check(p, H100, g) is None:
            p.add_usage(H100, g)
    seen: set[Reason | None] = set()
    for name, p in programs.items():
        for g in range(1, 9):
            usage = {n: q.usage.get(H100, 0) for n, q in programs.items()}
            usage[name] += g
            after = _balances(state.tree, quotas, usage)
            over = any(b is not None and after[x] < -b for x, b in limits.items())
            want = None if after[ROOT] >= 0 and not over else Reason.QUOTA
            if want is not None and over:
                want = Reason.BORROWING_LIMIT
            got = tree.check(p, H100, g)
            assert got == want, (name, g, usage, after)
            seen.add(got)
    assert seen <= {None, Reason.QUOTA, Reason.BORROWING_LIMIT}

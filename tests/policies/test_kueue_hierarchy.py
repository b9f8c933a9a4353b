"""The ``kueue`` policy in a cohort tree (Kueue's hierarchical cohorts, v0.11+).

Table-driven cases transcribed from Kueue's own pages (kueue.sigs.k8s.io docs/concepts/
cohort/ "Configuring Quotas" and "Hierarchical Cohorts"; KEP-79 "Hierarchical Cohorts";
KEP-1714 "Fair Sharing"; docs/concepts/preemption/ "Fair Sharing"), worked by hand with the
formulas of :mod:`gpufleet.policies.kueue.tree` in the comments, and seeded properties on
random trees checked against an independent oracle (KEP-79's balance T).
"""

from __future__ import annotations

import random

import pytest

from gpufleet.domain.org import CohortTree, Quota
from gpufleet.domain.reasons import Reason
from gpufleet.policies.basic.quota import quota_check
from gpufleet.policies.kueue.policy import KueuePolicy
from gpufleet.policies.kueue.tree import TreeQuota
from gpufleet.state.jobs import Job, JobState
from tests.support.builders import H100, Harness
from tests.support.kueue_trees import ROOT, _options, _random_tree, build, cohort


def usage(h: Harness, name: str) -> int:
    return h.state.program_by_name[name].usage.get(H100, 0)


def settle(h: Harness, t: float = 100.0, cycles: int = 300) -> float:
    """Cycles with nothing arriving or ending until one decides nothing. Jobs started in a
    cycle are victims only from the next one, and the engine reruns a cohort only when it
    changed: each step marks the cohort changed, as Kueue requeues inadmissible heads."""
    for _ in range(cycles):
        h.state.dirty.add(ROOT)
        if not h.cycle(t):
            return t
        t += 1
    raise AssertionError("the tree did not settle")


# --- docs/concepts/cohort/ "Configuring Quotas" -----------------------------------------


@pytest.mark.parametrize(
    ("quota", "gpus", "runs"),
    [
        # The cohort's nominalQuota 12 "may be thought of as a shared pool": a ClusterQueue
        # with nominalQuota 0 "may access the 12 shared CPUs defined by its Cohort".
        # SQ(hello) = 12 + (0 - 0) = 12; available(cq) = 0 + (12 - 0) = 12 >= 12.
        pytest.param(Quota(0), 12, True, id="cohort/quota-pool-usable-with-nominal-0"),
        # 13 > 12: waits for quota.
        pytest.param(Quota(0), 13, False, id="cohort/quota-pool-is-the-bound"),
        # "In order for a ClusterQueue to borrow resources from its Cohort, it must define
        # nominal quota for the desired Resource and Flavor - even if this value is 0."
        pytest.param(None, 1, False, id="cohort/no-quota-entry-no-borrowing"),
    ],
)
def test_a_cohorts_own_quota_is_a_pool_for_its_cluster_queues(
    quota: Quota | None, gpus: int, runs: bool
) -> None:
    h, _ = build(
        [cohort(ROOT, None, nominal=12)], {"my-cluster-queue": (ROOT, quota)}, nodes=[8, 8]
    )
    j = h.submit("my-cluster-queue", gpus)
    d = h.cycle(0)
    assert (j.state is JobState.RUNNING) is runs
    if not runs:
        assert (j, Reason.QUOTA) in d.blocked


@pytest.mark.parametrize(
    ("who", "gpus", "runs"),
    [
        # "this quota may also be lent out to parent Cohort(s), subject to LendingLimit".
        # lender: nominal 12, lendingLimit 4 -> G(lender) = max(0, 12 - 4) = 8 kept for its
        # subtree; SQ(root) = 0 + (12 - 8) + 0 = 4; available(outsider) = 0 + (4 - 0) = 4.
        pytest.param("outsider", 4, True, id="cohort/lending-limit-lends-4"),
        pytest.param("outsider", 5, False, id="cohort/lending-limit-not-5"),
        # inside: available(owner) = 0 + available(lender) = max(0, 8 - 0) + 4 = 12.
        pytest.param("owner", 12, True, id="cohort/lending-limit-own-subtree-gets-all-12"),
    ],
)
def test_a_cohort_lends_its_quota_up_to_its_lending_limit(who: str, gpus: int, runs: bool) -> None:
    h, _ = build(
        [cohort("lender", nominal=12, lending=4)],
        {"owner": ("lender", Quota(0)), "outsider": (ROOT, Quota(0))},
        nodes=[8, 8],
    )
    j = h.submit(who, gpus)
    h.cycle(0)
    assert (j.state is JobState.RUNNING) is runs


# --- KEP-79 "Hierarchical Cohorts", user stories -----------------------------------------


@pytest.mark.parametrize(
    ("who", "gpus", "runs"),
    [
        # Story 1: "research org's top Cohort will simply set borrowingLimit to 0" so that
        # production may borrow research quota "but not the other way round".
        # production: available(p) = 0 + available(production) = 0 + (SQ(root) 16 - 0) = 16.
        pytest.param("p", 16, True, id="kep-79/story-1/production-borrows-research-quota"),
        # research: available(research) = 0 + min(16, SQ 8 - G 0 - max(0, 0 - 0) + BL 0) = 8.
        pytest.param("r", 16, False, id="kep-79/story-1/research-may-not-borrow"),
        pytest.param("r", 8, True, id="kep-79/story-1/research-keeps-its-own"),
    ],
)
def test_kep79_story1_a_zero_borrowing_limit_on_a_subtree(who: str, gpus: int, runs: bool) -> None:
    h, _ = build(
        [cohort("research", borrowing=0, nominal=0), cohort("production")],
        {"r": ("research", Quota(8)), "p": ("production", Quota(8))},
        nodes=[8, 8],
    )
    j = h.submit(who, gpus)
    h.cycle(0)
    assert (j.state is JobState.RUNNING) is runs


@pytest.mark.parametrize(
    ("who", "gpus", "runs"),
    [
        # Story 2: organizations' cohorts "set borrowingLimit to 0"; a "special" queue at the
        # top, without a limit, "can borrow unused capacity from any of the organizations".
        # a runs 8 first. special: available = SQ(root) 16 - U(root) 8 = 8.
        pytest.param("special", 8, True, id="kep-79/story-2/special-borrows-unused"),
        pytest.param("special", 9, False, id="kep-79/story-2/special-only-what-is-unused"),
        # b uses its own 8: available(b) = 0 + min(8, 8 - 0 - 0 + 0) = 8.
        pytest.param("b", 8, True, id="kep-79/story-2/an-org-keeps-its-own"),
        # a borrows nothing: available(org-a) = 0 + min(8, SQ 8 - 0 - max(0, 8 - 0) + 0) = 0.
        pytest.param("a", 1, False, id="kep-79/story-2/orgs-do-not-borrow-from-each-other"),
    ],
)
def test_kep79_story2_a_special_queue_borrows_from_every_org(
    who: str, gpus: int, runs: bool
) -> None:
    h, _ = build(
        [cohort("org-a", nominal=0, borrowing=0), cohort("org-b", nominal=0, borrowing=0)],
        {"a": ("org-a", Quota(8)), "b": ("org-b", Quota(8)), "special": (ROOT, Quota(0))},
        nodes=[8, 8, 8],
    )
    h.submit("a", 8)
    h.cycle(0)
    j = h.submit(who, gpus, at=1)
    h.cycle(1)
    assert (j.state is JobState.RUNNING) is runs


# --- preemption in a tree: KEP-1714 "Choosing ClusterQueues to preempt from" --------------


@pytest.mark.parametrize(
    ("pool_at", "preempted"),
    [
        # S1: "A sub-organization to which CQ x belongs (its cohort, parent cohort, or CQ
        # itself) still has enough resources to admit the workload within its nominal
        # quota ... This is equivalent to reclaimWithinCohort". team holds 8 (a pool for
        # x, nominal 0); w borrowed all 8. x's 8: U(team) + 8 = 8 <= SQ(team) = 8, so w's
        # job is a hierarchical candidate although x itself borrows (0 + 8 > 0).
        pytest.param("team", [0], id="kep-1714/s1/reclaim-a-cohorts-lent-pool"),
        # The same 8 held by the root: nothing below the root fits, x borrows and
        # borrowWithinCohort is Never, so other queues' jobs are off limits.
        pytest.param(ROOT, [], id="cluster-queue/no-preempt-while-borrowing"),
    ],
)
def test_a_subtree_reclaims_its_own_quota_from_outside(pool_at: str, preempted: list[int]) -> None:
    team = 8 if pool_at == "team" else 0
    h, _ = build(
        [cohort(ROOT, None, nominal=8 - team), cohort("team", nominal=team)],
        {"x": ("team", Quota(0)), "w": (ROOT, Quota(0))},
        nodes=[8],
        reclaim_within_cohort="Any",
    )
    h.submit("w", 8)
    h.cycle(0)
    h.submit("x", 8, at=1)
    d = h.cycle(1)
    assert [j.spec.id for j in d.preempt] == preempted


@pytest.mark.parametrize(
    ("declare_tree", "victim"),
    [
        # "we check whether both y and all cohorts on the way up to AlmostLCA(y,x) are
        # borrowing": y borrows z's idle 4 inside B, but B itself does not borrow
        # (U(B) = 4 <= SQ(B) = 0 + 4); w (at the root) borrows x's 4. x reclaims 4: only w
        # qualifies, though y's job is newer and of lower priority.
        pytest.param(True, "w", id="kep-1714/only-borrowing-paths-are-reclaimed"),
        # The same quotas in a flat cohort: y and w both borrow; y's job goes first
        # (lower priority, then the most recently started).
        pytest.param(False, "y", id="preemption/flat-cohort-takes-the-lowest-priority"),
    ],
)
def test_reclaim_takes_only_borrowers_whose_path_to_the_lca_borrows(
    declare_tree: bool, victim: str
) -> None:
    programs: dict[str, tuple[str, Quota | None]] = {
        "x": ("A", Quota(4)),
        "y": ("B", Quota(0)),
        "z": ("B", Quota(4)),
        "w": (ROOT, Quota(0)),
    }
    h, _ = build([cohort("A"), cohort("B")], programs, nodes=[4, 4], reclaim_within_cohort="Any")
    if not declare_tree:
        h.state.cohorts[ROOT].tree = None
    h.submit("w", 4)
    h.cycle(0)
    h.submit("y", 4, priority=-1, at=1)
    h.cycle(1)
    assert h.running() == [0, 1]
    h.submit("x", 4, at=2)
    d = h.cycle(2)
    assert [j.program.name for j in d.preempt] == [victim]


# --- fair sharing in a tree ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("declare_tree", "admitted"),
    [
        # KEP-1714: "The algorithms take a decision from root-to-leaves. This favors
        # admission from suborganizations that, as a whole, still have unused resources."
        # Pool SQ(root) = 8 = potential(C1) = potential(C2). a runs 6 (C1: U 6 > SQ 4), d 1.
        # One GPU left; b and d each want 1. At the root: share(C1 with b's 1) =
        # (6 + 1 - 4) / 8 = 0.375, share(C2 with d's 1) = max(0, 1 + 1 - 4) / 8 = 0: d.
        pytest.param(True, "d", id="kep-1714/root-to-leaves-favors-the-idle-org"),
        # Flat: share(b with 1) = share(d with 1) = 0 (both within nominal 2): b, first
        # submitted, goes first.
        pytest.param(False, "b", id="fair-sharing/flat-tie-goes-to-earlier-submit"),
    ],
)
def test_fair_sharing_admits_root_to_leaves(declare_tree: bool, admitted: str) -> None:
    h, _ = build(
        [cohort("C1"), cohort("C2")],
        {
            "a": ("C1", Quota(2)),
            "b": ("C1", Quota(2)),
            "d": ("C2", Quota(2)),
            "e": ("C2", Quota(2)),
        },
        nodes=[1] * 8,
        fair_sharing=True,
    )
    if not declare_tree:
        h.state.cohorts[ROOT].tree = None
    for _ in range(6):
        h.submit("a", 1)
    h.submit("d", 1)
    for t in range(6):
        h.cycle(t)
    assert (usage(h, "a"), usage(h, "d")) == (6, 1)
    b = h.submit("b", 1, at=10)
    d = h.submit("d", 1, at=11)
    h.cycle(11)
    got = [n for n, j in (("b", b), ("d", d)) if j.state is JobState.RUNNING]
    assert got == [admitted]


def _backlog(h: Harness, programs: list[str], jobs: int) -> None:
    for i in range(jobs):
        for p in programs:
            h.submit(p, 1, at=float(i), work_s=1e9)


def test_cohort_page_weights_split_common_resources_three_to_one() -> None:
    # docs/concepts/cohort/ "Hierarchical Cohorts": important-org weight 0.75, regular-org
    # 0.25: "the important org will trend towards using 75% of common resources, while the
    # regular org towards using 25%". 40 common GPUs at the root, both orgs backlogged,
    # reclaimWithinCohort Any. share(org) = U / 40 / weight; fair preemption stops when
    # neither strategy holds either way: at (30, 10), important: 31/.75 = 41.3 > 9/.25
    # = 36 and > 10/.25 = 40; regular: 11/.25 = 44 > 29/.75 = 38.7 and > 30/.75 = 40.
    h, _ = build(
        [
            cohort(ROOT, None, nominal=40),
            cohort("important-org", weight=0.75),
            cohort("regular-org", weight=0.25),
        ],
        {"imp": ("important-org", Quota(0)), "reg": ("regular-org", Quota(0))},
        nodes=[1] * 40,
        fair_sharing=True,
        reclaim_within_cohort="Any",
    )
    _backlog(h, ["imp", "reg"], 40)
    settle(h, 40.0)
    assert (usage(h, "imp"), usage(h, "reg")) == (30, 10)


def test_kep1714_story3_splits_a_lending_cohort_by_org_then_by_weight() -> None:
    # KEP-1714 Story 3 at a tenth of its size: CS's one queue has 30 GPUs of nominal quota
    # and no work; C1 (1A, 1B, 1C with weight 3) and C2 (2A) are backlogged. "Both C1 and
    # C2 get 150 GPUs each" -> 15 each; "1A gets 30, 1B gets 30 and 1C gets 90" -> 3, 3, 9.
    # potential(root) = potential(C1) = potential(C2) = 30; share(C1) = U(C1) / 30,
    # share(1C) = U(1C) / 30 / 3. At C2 15, C1 15: 2A's 16/30 > C1's 14/30 (and 15/30);
    # inside C1 at (3, 3, 9): 1A's 4/30 > 1C's 8/90 (and 9/90); 1C's 10/90 > 1A's 2/30.
    h, _ = build(
        [cohort("CS"), cohort("C1"), cohort("C2")],
        {
            "cs": ("CS", Quota(30)),
            "1A": ("C1", Quota(0)),
            "1B": ("C1", Quota(0)),
            "1C": ("C1", Quota(0)),
            "2A": ("C2", Quota(0)),
        },
        nodes=[1] * 30,
        weights={"1C": 3.0},
        fair_sharing=True,
        reclaim_within_cohort="Any",
    )
    _backlog(h, ["1A", "1B", "1C", "2A"], 30)
    settle(h, 30.0)
    assert [usage(h, n) for n in ("1A", "1B", "1C", "2A")] == [3, 3, 9, 15]


# --- seeded properties on random trees ------------------------------------------------------


def _balance(h: Harness, tree: CohortTree) -> dict[str, tuple[int, int, int, Quota | None]]:
    """The oracle, straight from KEP-79: per node (T, raw nominal of its subtree, raw usage
    of its subtree, its quota), with T(q) = nominal - usage for a program and T(x) =
    nominal(x) + sum over children c of min(LL(c), T(c)) for a cohort."""
    out: dict[str, tuple[int, int, int, Quota | None]] = {}
    joined = dict(tree.members)
    for p in h.state.programs:
        q = p.quotas.get(H100)
        n, u = (q.nominal_gpus if q else 0), p.usage.get(H100, 0)
        assert u == sum(j.spec.gpus for j in p.running.values())
        out[p.name] = (n - u, n, u, q)
    for c in reversed(tree.cohorts):
        q = c.quota(H100)
        kids = [k for k in tree.cohorts if k.parent == c.name]
        names = [k.name for k in kids] + [str(p) for p, k in joined.items() if k == c.name]
        t = q.nominal_gpus if q else 0
        raw_n, raw_u = t, 0
        for k in names:
            kt, kn, ku, kq = out[k]
            ll = kq.lending_limit_gpus if kq else None
            t += min(ll, kt) if ll is not None else kt
            raw_n, raw_u = raw_n + kn, raw_u + ku
        out[c.name] = (t, raw_n, raw_u, q)
    return out


def _check_tree(h: Harness, tree: CohortTree) -> None:
    """Every node within nominal + borrowing limit, every lending limit kept (the oracle)."""
    nodes = _balance(h, tree)
    root_t, all_n, all_u, _ = nodes[ROOT]
    assert root_t >= 0, "the root is over its quota"
    for name, (t, raw_n, raw_u, q) in nodes.items():
        bl = q.borrowing_limit_gpus if q else None
        ll = q.lending_limit_gpus if q else None
        if bl is not None:
            assert t >= -bl, (name, "KEP-79: T(x) >= -borrowingLimit(x)")
            assert raw_u <= raw_n + bl, (name, "usage within nominal + borrowing limit")
        if ll is not None and name != ROOT:
            # what the rest of the tree uses beyond its own quota came from here: at most LL
            assert all_u - raw_u <= all_n - raw_n + min(ll, raw_n - raw_u), (name, "lent > LL")


def _run(
    h: Harness, policy: KueuePolicy, rng: random.Random, steps: int, pairs: list[tuple[int, int]]
) -> None:
    tree = h.state.cohorts[ROOT].tree
    assert tree is not None
    names = list(h.state.program_by_name)
    for t in range(steps):
        for _ in range(rng.randint(0, 3)):
            h.submit(rng.choice(names), rng.randint(1, 4), priority=rng.randint(0, 2), at=float(t))
        for j in [j for p in h.state.programs for j in p.running.values()]:
            if rng.random() < 0.15:
                h.finish(j, float(t))
        h.cycle(float(t))
        pairs.extend(policy.preemptions)
        _check_tree(h, tree)


@pytest.mark.parametrize("seed", range(60))
def test_property_no_level_exceeds_its_limits_and_no_two_jobs_preempt_each_other(
    seed: int,
) -> None:
    # The limits held on 3,000 seeds. The pair property is Kueue's fair-sharing proof
    # ("two workloads won't preempt each other") stretched over a whole run: over 2,000
    # seeds 8 runs break it (1 classic), each time with jobs arriving, ending or coming
    # back in between; the flat policy's own test breaks it on 7 of 1,000 seeds. With the
    # fair-sharing search made Kueue's (issue 17), seeds 0-999: 4 of 523 fair-sharing runs
    # (3 before), 0 of 477 classic.
    rng = random.Random(seed)
    h, policy = _random_tree(rng, _options(rng))
    pairs: list[tuple[int, int]] = []
    _run(h, policy, rng, 30, pairs)
    seen = set(pairs)
    assert not [(a, b) for a, b in seen if (b, a) in seen]


@pytest.mark.parametrize("seed", range(40))
def test_property_reclaim_restores_every_program_within_its_nominal(seed: int) -> None:
    # reclaimWithinCohort Any, every job preemptible, capacity = all nominal quota of the
    # tree: once it settles, no pending job could start within its program's nominal.
    # (Held on 1,000 seeds with classic preemption; under fair sharing 9 of 1,000 never
    # settle: a big job and small ones of two queues preempt each other in turn, each step
    # allowed by a strategy, as in the flat policy, whose test fails 13 of 1,000.)
    rng = random.Random(2000 + seed)
    opts = _options(rng) | {"reclaim_within_cohort": "Any", "queueing_strategy": "BestEffortFIFO"}
    h, policy = _random_tree(rng, opts)
    _run(h, policy, rng, 15, [])
    settle(h)
    tree = h.state.cohorts[ROOT].tree
    assert tree is not None
    _check_tree(h, tree)
    for p in h.state.programs:
        for j in p.pending.values():
            assert p.usage.get(H100, 0) + j.spec.gpus > p.nominal(H100), (p.name, j)


def _same_flat_fleet(rng: random.Random) -> tuple[dict[str, tuple[str, Quota | None]], int]:
    programs: dict[str, tuple[str, Quota | None]] = {}
    for i in range(rng.randint(2, 4)):
        nominal = rng.randint(1, 6)
        lending = rng.choice([None, rng.randint(0, nominal)])
        programs[f"q{i}"] = (ROOT, Quota(nominal, rng.choice([None, 0, 2, 4]), lending))
    return programs, sum(q.nominal_gpus for _, q in programs.values() if q is not None)


@pytest.mark.parametrize("seed", range(40))
def test_property_a_root_alone_checks_quota_exactly_as_a_flat_cohort(seed: int) -> None:
    # KEP-79's balance for a two-level tree is the flat cohort's formula: for random usage,
    # TreeQuota.check gives quota_check's answer for every program and size.
    rng = random.Random(4000 + seed)
    programs, total = _same_flat_fleet(rng)
    h, _ = build([], programs, nodes=[1] * total)
    state = h.state.cohorts[ROOT]
    assert state.tree is not None
    tree = TreeQuota(state.tree, state.programs)
    for _ in range(30):
        for p in h.state.programs:
            q = p.quotas[H100]
            p.add_usage(H100, rng.randint(0, q.nominal_gpus + 4) - p.usage[H100])
        for p in h.state.programs:
            for g in range(1, 9):
                assert tree.check(p, H100, g) == quota_check(p, H100, g), (p.name, g)


@pytest.mark.parametrize("seed", range(40))
def test_property_a_root_alone_decides_exactly_as_a_flat_cohort(seed: int) -> None:
    # Admission, flavors, ordering and preemption within a ClusterQueue, step by step,
    # with and without a declared root. (Reclaim is left out: for a preemptor under its
    # nominal quota with borrowWithinCohort set, the tree follows Kueue's documented third
    # heuristic, "below nominal quota ... disallowing for borrowing", which the flat
    # policy does not try; fair sharing is left out: the tree picks heads one at a time.)
    rng = random.Random(5000 + seed)
    opts = _options(rng, fair=False) | {"reclaim_within_cohort": "Never"}
    opts.pop("borrow_within_cohort", None)
    opts.pop("max_priority_threshold", None)
    programs, total = _same_flat_fleet(rng)
    tree_h, tree_p = build([], programs, nodes=[1] * total, **opts)
    flat_h, flat_p = build([], programs, nodes=[1] * total, **opts)
    flat_h.state.cohorts[ROOT].tree = None
    names = list(programs)
    for t in range(30):
        subs = [
            (rng.choice(names), rng.randint(1, 4), rng.randint(0, 2))
            for _ in range(rng.randint(0, 2))
        ]
        ends = [rng.random() < 0.15 for _ in range(64)]
        for h in (tree_h, flat_h):
            for name, g, prio in subs:
                h.submit(name, g, priority=prio, at=float(t))
            running = sorted((j for p in h.state.programs for j in p.running.values()), key=_id)
            for j, end in zip(running, ends, strict=False):
                if end:
                    h.finish(j, float(t))
            h.cycle(float(t))
        assert tree_h.running() == flat_h.running(), t
        assert tree_p.preemptions == flat_p.preemptions, t


def _id(j: Job) -> int:
    return j.spec.id

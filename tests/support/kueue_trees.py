"""Kueue cohort trees for the hierarchy tests: builders and seeded random trees."""

from __future__ import annotations

import random
from typing import Any

from gpufleet.domain.ids import CohortId, GpuTypeName, ProgramId
from gpufleet.domain.org import Cohort, Quota, cohort_trees
from gpufleet.policies.kueue.policy import KueuePolicy
from tests.support.builders import H100, Harness

_OPTIONS: dict[str, list[Any]] = {
    "when_can_borrow": ["Borrow", "TryNextFlavor"],
    "queueing_strategy": ["StrictFIFO", "BestEffortFIFO"],
    "within_cluster_queue": ["Never", "LowerPriority", "LowerOrNewerEqualPriority"],
    "reclaim_within_cohort": ["Never", "LowerPriority", "Any"],
    "fair_sharing": [False, True],
}


def _limit(rng: random.Random) -> int | None:
    return rng.choice([None, None, 0, 1, 2, 4])


ROOT = "c"  # the Harness's engine cohort: every tree here is rooted at it


def cohort(
    name: str,
    parent: str | None = ROOT,
    nominal: int | None = None,
    borrowing: int | None = None,
    lending: int | None = None,
    weight: float = 1.0,
) -> Cohort:
    """A cohort with an H100 quota when ``nominal`` is given (a parent of None: the root)."""
    quotas = () if nominal is None else ((GpuTypeName(H100), Quota(nominal, borrowing, lending)),)
    return Cohort(CohortId(name), CohortId(parent) if parent else None, quotas, weight)


def build(
    cohorts: list[Cohort],
    programs: dict[str, tuple[str, Quota | None]],
    nodes: list[int],
    weights: dict[str, float] | None = None,
    **opts: Any,
) -> tuple[Harness, KueuePolicy]:
    """Programs (ClusterQueues) name -> (their cohort, their H100 quota or None), in one
    tree (the root ``c`` added unless listed) on one site of ``nodes``."""
    if not any(c.parent is None for c in cohorts):
        cohorts = [cohort(ROOT, None), *cohorts]
    quotas = {n: {H100: q} if q is not None else {} for n, (_, q) in programs.items()}
    h = Harness(
        "fifo",
        nodes=nodes,
        programs={n: ("org", (weights or {}).get(n, 1.0), quotas[n]) for n in programs},
    )
    members = [(ProgramId(n), CohortId(c)) for n, (c, _) in programs.items()]
    (tree,) = cohort_trees(cohorts, members)
    h.state.cohorts[ROOT].tree = tree
    policy = KueuePolicy(**opts)
    h.engine.policy = policy
    return h, policy


def _options(rng: random.Random, fair: bool | None = None) -> dict[str, Any]:
    opts = {k: rng.choice(v) for k, v in _OPTIONS.items()}
    if fair is not None:
        opts["fair_sharing"] = fair
    if not opts["fair_sharing"] and opts["reclaim_within_cohort"] != "Never" and rng.random() < 0.5:
        opts["borrow_within_cohort"] = "LowerPriority"
        if rng.random() < 0.5:
            opts["max_priority_threshold"] = rng.randint(0, 2)
    return opts


def _random_tree(
    rng: random.Random, opts: dict[str, Any], limits: bool = True
) -> tuple[Harness, KueuePolicy]:
    """A root, 1-4 more cohorts (any earlier one as parent), 2-5 programs anywhere; every
    quota, limit and weight random; capacity = all nominal quota, on 1-GPU nodes."""
    cohorts = [cohort(ROOT, None, nominal=rng.randint(0, 3))]
    for i in range(rng.randint(1, 4)):
        parent = rng.choice(cohorts).name
        bl, ll = (_limit(rng), _limit(rng)) if limits else (None, None)
        cohorts.append(
            cohort(f"k{i}", parent, rng.randint(0, 4), bl, ll, rng.choice([0.5, 1.0, 2.0]))
        )
    programs: dict[str, tuple[str, Quota | None]] = {}
    for i in range(rng.randint(2, 5)):
        bl, ll = (_limit(rng), _limit(rng)) if limits else (None, None)
        programs[f"q{i}"] = (rng.choice(cohorts).name, Quota(rng.randint(0, 5), bl, ll))
    total = sum(c.quotas[0][1].nominal_gpus for c in cohorts if c.quotas)
    total += sum(q.nominal_gpus for _, q in programs.values() if q is not None)
    weights = {n: rng.choice([0.5, 1.0, 2.0]) for n in programs}
    return build(cohorts, programs, nodes=[1] * max(total, 1), weights=weights, **opts)

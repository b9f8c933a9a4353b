"""Seeded oracle: best-fit placement against brute force on tiny fleets.

The rule under test (gpufleet.state.capacity): a job of at most one node's GPUs goes on one
node, the one with the fewest free GPUs that fit; a bigger job uses the fewest nodes
possible. Brute force enumerates every way to take GPUs from the nodes.
"""

from __future__ import annotations

import itertools
import random

import pytest

from gpufleet.state.capacity import CapacityIndex


def build(free: list[int], size: int) -> CapacityIndex:
    cap = CapacityIndex()
    g = cap.group_for("c", "s", "t", size)
    for f in free:
        n = cap.add_node(g, size)
        cap.set_usable(n, True)
        if size - f:
            cap.reserve(((n, size - f),))
    return cap


def brute_min_nodes(free: list[int], size: int, gpus: int) -> int | None:
    """Fewest nodes covering ``gpus`` (one node if gpus <= size), or None if impossible."""
    if gpus <= size:
        return 1 if any(f >= gpus for f in free) else None
    for k in range(1, len(free) + 1):
        if any(sum(c) >= gpus for c in itertools.combinations(free, k)):
            return k
    return None


@pytest.mark.parametrize("seed", range(40))
def test_best_fit_matches_brute_force_on_random_tiny_fleets(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        size = rng.choice([2, 4, 8])
        free = [rng.randint(0, size) for _ in range(rng.randint(1, 5))]
        gpus = rng.randint(1, size * 3)
        cap = build(free, size)
        got = cap.fit(0, gpus)
        want = brute_min_nodes(free, size, gpus)
        case = f"free={free} size={size} gpus={gpus}"
        if want is None:
            assert got is None, case
            continue
        assert got is not None, case
        # exactly the GPUs asked for, no node over-used, each node once
        assert sum(n for _, n in got) == gpus, case
        nodes = [node for node, _ in got]
        assert len(set(nodes)) == len(nodes), case
        assert all(0 < n <= free[node] for node, n in got), case
        # the fewest nodes possible
        assert len(got) == want, case
        if gpus <= size:
            # best fit: no feasible node has fewer free GPUs than the chosen one
            chosen = free[got[0][0]]
            assert chosen == min(f for f in free if f >= gpus), case


def test_reserve_and_release_keep_the_buckets_exact() -> None:
    # free [8, 3]: a 3-GPU job fits node 1 exactly (best fit), leaving [8, 0].
    cap = build([8, 3], 8)
    slots = cap.fit(0, 3)
    assert slots == ((1, 3),)
    cap.reserve(slots)
    assert cap.groups[0].free_total == 8
    assert cap.node_free == [8, 0]
    cap.release(slots)
    assert cap.node_free == [8, 3]
    assert cap.groups[0].free_total == 11


def test_a_job_no_single_node_fits_is_not_split_even_when_gpus_are_free() -> None:
    # free [4, 4] on 8-GPU nodes: 6 GPUs are free in total but a 6-GPU job fits no node.
    cap = build([4, 4], 8)
    assert cap.fit(0, 6) is None

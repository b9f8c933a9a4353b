"""GPU fragmentation: the share of free GPUs that no job of the given shapes could use.

In the spirit of Weng et al., "Beware of Fragmentation" (USENIX ATC '23): free GPUs count as
fragmented when the workload's job sizes cannot use them. Under the placement rule of
:mod:`gpufleet.state.capacity`, per capacity group with largest node size ``top``:

- a shape ``s <= top`` runs on one node, so a node with ``f`` free GPUs can use
  ``u(f)``: the largest sum of such shapes (each any number of times) that is at most ``f``;
  the other ``f - u(f)`` are fragmented;
- a shape ``s > top`` may take any free GPUs of any nodes in the group; if one such shape is
  at most the group's free total, none of the group's free GPUs is fragmented.

The result is fragmented GPUs over free GPUs across all groups (0.0 when nothing is free).
Cost: O(groups x top x shapes), never per node: the buckets give the node counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpufleet.state.capacity import Group
from gpufleet.state.cluster import ClusterState


def fragmentation(state: ClusterState, shapes: Iterable[int]) -> float:
    """Fraction of usable free GPUs that none of ``shapes`` (GPU counts) can use."""
    sizes = sorted({s for s in shapes if s > 0})
    free = fragmented = 0
    for g in state.capacity.groups:
        free += g.free_total
        fragmented += fragmented_in(g, sizes)
    return fragmented / free if free else 0.0


def fragmented_in(g: Group, sizes: list[int]) -> int:
    """Free GPUs of one group that no job of ``sizes`` could use (rule in the module)."""
    top = g.max_gpus
    if any(top < s <= g.free_total for s in sizes):
        return 0
    usable = _packable(top, [s for s in sizes if s <= top])
    return sum(len(g.buckets[f]) * (f - usable[f]) for f in range(1, top + 1))


def _packable(top: int, sizes: list[int]) -> list[int]:
    """u[f] for f in 0..top: the largest sum of ``sizes`` (with repetition) at most f."""
    reach = [True] + [False] * top
    for x in range(1, top + 1):
        reach[x] = any(s <= x and reach[x - s] for s in sizes)
    usable = [0] * (top + 1)
    for x in range(1, top + 1):
        usable[x] = x if reach[x] else usable[x - 1]
    return usable

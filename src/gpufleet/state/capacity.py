"""The capacity index: nodes grouped by (cohort, site, GPU type), each group holding its
usable nodes in buckets by free-GPU count.

Why buckets: finding the best-fit node for a k-GPU job is a scan of at most ``max_gpus``
buckets, and "does anything fit?" is one comparison against ``free_total``. Neither grows
with the number of nodes, idle GPUs or finished jobs, which keeps a scheduling cycle's cost
independent of fleet size.

Placement rule (also in the README's Architecture section): a job of at most one node's GPUs goes
on one node, the one with the fewest free GPUs that fit it (best fit); a larger job takes
whole-or-partial nodes largest-free first, which uses the fewest nodes possible, and its last
piece goes best-fit. A job never spans groups, so never sites or GPU types.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from gpufleet.errors import InternalError

# A placement: the group it lies in and (node index, GPUs on that node) pairs.
Slots = tuple[tuple[int, int], ...]


class Placement(NamedTuple):
    """Where a job runs: immutable, a named tuple rather than a frozen dataclass because
    one is built per start and a tuple costs a fifth as much to build (issue 16)."""

    group: int
    slots: Slots

    @property
    def gpus(self) -> int:
        return sum(n for _, n in self.slots)


class Group:
    """Usable nodes of one (cohort, site, GPU type), bucketed by free GPUs."""

    __slots__ = (
        "buckets",
        "cohort",
        "free_total",
        "gpu_type",
        "index",
        "max_gpus",
        "site",
        "usable_gpus",
    )

    def __init__(self, index: int, cohort: str, site: str, gpu_type: str, max_gpus: int) -> None:
        self.index = index
        self.cohort = cohort
        self.site = site
        self.gpu_type = gpu_type
        self.max_gpus = max_gpus
        self.buckets: list[dict[int, None]] = [{} for _ in range(max_gpus + 1)]
        self.free_total = 0
        self.usable_gpus = 0

    def grow(self, max_gpus: int) -> None:
        while self.max_gpus < max_gpus:
            self.max_gpus += 1
            self.buckets.append({})


class CapacityIndex:
    """Per-node free counts and the groups' buckets. Mutated only through reserve/release
    and the node lifecycle methods; the engine and the snapshot journal call them."""

    def __init__(self) -> None:
        self.node_gpus: list[int] = []
        self.node_free: list[int] = []
        self.node_group: list[int] = []
        self.node_usable: list[bool] = []
        self.groups: list[Group] = []
        self._group_of: dict[tuple[str, str, str], int] = {}
        # cohort -> gpu type -> group indices (sites in declaration order)
        self.by_cohort_type: dict[str, dict[str, list[int]]] = {}
        # counts changes to which nodes are usable and where (not to free GPUs): a plan
        # kept between passes holds only while it stays (policies/slurm/carried.py)
        self.layout = 0

    # --- structure -------------------------------------------------------------------
    def group_for(self, cohort: str, site: str, gpu_type: str, gpus: int) -> int:
        key = (cohort, site, gpu_type)
        gi = self._group_of.get(key)
        if gi is None:
            gi = len(self.groups)
            self.layout += 1
            self.groups.append(Group(gi, cohort, site, gpu_type, gpus))
            self._group_of[key] = gi
            self.by_cohort_type.setdefault(cohort, {}).setdefault(gpu_type, []).append(gi)
        else:
            self.groups[gi].grow(gpus)
        return gi

    def add_node(self, group: int, gpus: int) -> int:
        """A new node, not yet usable (not delivered or not powered)."""
        self.layout += 1
        self.node_gpus.append(gpus)
        self.node_free.append(gpus)
        self.node_group.append(group)
        self.node_usable.append(False)
        return len(self.node_gpus) - 1

    def set_usable(self, node: int, usable: bool) -> None:
        if self.node_usable[node] == usable:
            return
        self.layout += 1
        g = self.groups[self.node_group[node]]
        free = self.node_free[node]
        if usable:
            g.buckets[free][node] = None
            g.free_total += free
            g.usable_gpus += self.node_gpus[node]
        else:
            if free != self.node_gpus[node]:
                raise InternalError(f"node {node} made unusable while jobs run on it")
            del g.buckets[free][node]
            g.free_total -= free
            g.usable_gpus -= self.node_gpus[node]
        self.node_usable[node] = usable

    def move_node(self, node: int, group: int) -> None:
        """Re-home an idle node (ownership or site changed)."""
        usable = self.node_usable[node]
        self.layout += 1
        if usable:
            self.set_usable(node, False)
        self.node_group[node] = group
        if usable:
            self.set_usable(node, True)

    # --- reservations ----------------------------------------------------------------
    def reserve(self, slots: Slots) -> None:
        free, groups, ngroup = self.node_free, self.groups, self.node_group
        for node, n in slots:
            g = groups[ngroup[node]]
            f = free[node]
            if n > f or not self.node_usable[node]:
                raise InternalError(f"node {node}: {n} GPUs reserved but {f} free")
            del g.buckets[f][node]
            g.buckets[f - n][node] = None
            free[node] = f - n
            g.free_total -= n

    def release(self, slots: Slots) -> None:
        free, groups, ngroup = self.node_free, self.groups, self.node_group
        for node, n in slots:
            g = groups[ngroup[node]]
            f = free[node]
            if f + n > self.node_gpus[node]:
                raise InternalError(f"node {node}: released beyond its {self.node_gpus[node]}")
            del g.buckets[f][node]
            g.buckets[f + n][node] = None
            free[node] = f + n
            g.free_total += n

    # --- search ----------------------------------------------------------------------
    def fit(self, group: int, gpus: int) -> Slots | None:
        """Best-fit slots for ``gpus`` GPUs in one group, or None."""
        g = self.groups[group]
        if g.free_total < gpus:
            return None
        buckets = g.buckets
        top = g.max_gpus
        if gpus <= top:
            for k in range(gpus, top + 1):
                b = buckets[k]
                if b:
                    return ((next(iter(b)), gpus),)
            return None
        return self._fit_many(buckets, top, gpus)

    @staticmethod
    def _fit_many(buckets: list[dict[int, None]], top: int, gpus: int) -> Slots | None:
        """Largest-free nodes first until the remainder fits one node, which is then chosen
        best-fit. Buckets are visited top-down, so when the remainder first fits a node in
        bucket k, every bucket below k is still untouched and holds only untaken nodes."""
        chosen: list[tuple[int, int]] = []
        rem = gpus
        for k in range(top, 0, -1):
            for node in buckets[k]:
                if rem <= k:
                    for j in range(rem, k):
                        if buckets[j]:
                            chosen.append((next(iter(buckets[j])), rem))
                            return tuple(chosen)
                    chosen.append((node, rem))
                    return tuple(chosen)
                chosen.append((node, k))
                rem -= k
        return None

    def leftover(self, slots: Slots) -> int:
        """Free GPUs left on the last node of a placement: the best-fit tie-breaker."""
        node, n = slots[-1]
        return self.node_free[node] - n

    def groups_for(self, cohort: str, gpu_types: Iterable[str]) -> list[list[int]]:
        by_type = self.by_cohort_type.get(cohort, {})
        return [by_type.get(t, []) for t in gpu_types]

    def free_in(self, cohort: str, gpu_type: str) -> int:
        return sum(
            self.groups[g].free_total for g in self.by_cohort_type.get(cohort, {}).get(gpu_type, [])
        )

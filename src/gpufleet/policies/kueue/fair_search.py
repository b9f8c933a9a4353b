"""Kueue's fair-sharing victim search, shared by a flat cohort and a cohort tree.

Source: kubernetes-sigs/kueue, pkg/scheduler/preemption/preemption.go (``fairPreemptions``,
``runFirstFsStrategy``, ``runSecondFsStrategy``, ``workloadFitsForFairSharing``) and
pkg/scheduler/preemption/fairsharing/ (ordering.go ``nextTarget``, target.go
``ComputeShares``/``ComputeTargetShareAfterRemoval``, strategy.go), read at commit ff69552.

The incoming job j is counted in its program's usage for every share below (Kueue's
``SimulateUsageAddition`` before the search; the fit test takes it out again). Candidates are
grouped by the queue (target) they come from, each group in the candidates' order.

**First strategy.** Repeatedly the side picks the target with the highest share, recomputed
from the current usage after every victim (a target that stopped borrowing, other than j's
own program, or that has no candidate left, drops out). j's own program gives up its next
candidate unconditionally. Another target's candidates are tried in order against the first
strategy, with ``new`` j's side's share now and ``old`` the target's share now:
``LessThanOrEqualToFinalShare`` ``new <= share(target without v)``, ``LessThanInitialShare``
``new < old``. A candidate that fails is kept for the second strategy and the next candidate
of the same target is tried; the first that passes is taken, and the target is picked anew.

**Within nominal** (``FairSharingPreemptWithinNominal``, pkg/features/kube_features.go:
Beta, on by default since 0.17): when j's own ClusterQueue, j counted, uses no more than
its nominal quota of the type, the targets, still picked by share, give up their candidates
without a strategy. In a flat cohort this changes nothing (j's share is then 0, and
``0 <= share(target without v)`` always holds); in a tree it does where j's cohort borrows.

**Second strategy** (rule S2-b, only ``LessThanInitialShare`` may come second): over the kept
candidates, the highest-share target gives up its first one if ``new < old`` at that moment,
and is dropped either way (at most one victim per target).

Shares compare as Kueue's ``CompareDRS``: a zero-weight queue that borrows ranks above every
other, two such queues by their unweighted ratios; :data:`Drs` encodes that order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gpufleet.state.jobs import Job

# (1 when the weight is 0 and the queue borrows, the weighted share or, then, the unweighted)
Drs = tuple[int, float]


class FairSide(Protocol):
    """What the search needs of the cohort (flat or tree); targets are keyed by an int."""

    preemptor: int

    def key(self, v: Job) -> int:
        """The target v belongs to."""

    def next_target(self, queues: dict[int, list[Job]], pruned: set[int]) -> int | None:
        """The target with the highest share among ``queues`` not in ``pruned`` (adding to
        ``pruned`` what drops out), or None when none is left."""

    def shares(self, x: int) -> tuple[Drs, Drs]:
        """(j's side's share, x's share) now, j counted."""

    def share_after(self, x: int, v: Job) -> Drs:
        """x's share (the side compared with j's) with v stopped."""


def group(jobs: list[Job], key: Callable[[Job], int]) -> dict[int, list[Job]]:
    out: dict[int, list[Job]] = {}
    for v in jobs:
        out.setdefault(key(v), []).append(v)
    return out


def passes(first_is_final: bool, new: Drs, old: Drs, after: Drs) -> bool:
    """strategy.go: LessThanOrEqualToFinalShare ``new <= after``, LessThanInitialShare
    ``new < old``."""
    return new <= after if first_is_final else new < old


def search(
    side: FairSide,
    queues: dict[int, list[Job]],
    final_first: bool,
    second: bool,
    take: Callable[[Job], bool],
    within_nominal: bool = False,
) -> bool:
    """Runs the strategies of the module docstring; ``take(v)`` stops v and says whether j
    now fits. ``final_first``: the first strategy is LessThanOrEqualToFinalShare; ``second``:
    LessThanInitialShare follows it; ``within_nominal``: j's program stays within its
    nominal quota with j, so every target's candidates are taken without a strategy (the
    ``FairSharingPreemptWithinNominal`` gate, Beta and on by default since Kueue 0.17). True
    when j fits."""
    pruned: set[int] = set()
    retry: list[Job] = []
    while (x := side.next_target(queues, pruned)) is not None:
        if x == side.preemptor or within_nominal:
            if take(queues[x].pop(0)):
                return True
            continue
        new, old = side.shares(x)
        while queues[x]:
            v = queues[x].pop(0)
            if passes(final_first, new, old, side.share_after(x, v)):
                if take(v):
                    return True
                break  # shares changed: pick the target anew
            retry.append(v)
    if not second:
        return False
    return _second(side, group(retry, side.key), take)


def _second(side: FairSide, queues: dict[int, list[Job]], take: Callable[[Job], bool]) -> bool:
    pruned: set[int] = set()
    while (x := side.next_target(queues, pruned)) is not None:
        new, old = side.shares(x)
        v = queues[x].pop(0)
        if new < old and take(v):
            return True
        pruned.add(x)  # S2-b applies at most once per target
    return False

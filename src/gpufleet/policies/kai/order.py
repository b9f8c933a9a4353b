"""KAI's queue order: which queue's job is tried next, and (reversed) whose jobs are
reclaimed first.

Source: NVIDIA/KAI-Scheduler ``pkg/scheduler/plugins/proportion/queue_order/
queue_order.go``, ``GetQueueOrderResult``: of two queues, each with the job it would run
next, the first is

1. the one not over its fair share (``prioritizeUnderUtilized``: ``fair < allocated``);
2. the one that stays within its deserved quota with the job
   (``prioritizeUnderQuotaWithJob``);
3. the higher queue priority (``prioritizePrioritized``);
4. the one that does not use GPUs with an allocatable share of 0 (``penalizeZeroShareWithJob``);
5. the lower dominant share with the job, ``(allocated + job) / allocatable`` with
   ``allocatable = min(limit, max(deserved, fair))`` (``prioritizeSmallerResourceShare``,
   ``QueueResourceShare.GetDominantResourceShare``), then without it;
6. the smaller allocatable share (``prioritizeBasedOnAllocatableShare``);
7. the older queue (``prioritizeBasedOnCreationTime``; program order, or a department's
   first program, stands for creation time).

Queues are compared level by level (``actions/utils/job_order_by_queue.go``: departments
first, then their queues). One GPU type at a time: the type the job would use. A victim
queue ranks by the same keys reversed (``buildNodeOrderFn(reverseOrder)``) and with no job.
"""

from __future__ import annotations

import math
from fractions import Fraction

from gpufleet.errors import InternalError
from gpufleet.policies.kai.queues import FairShares, Node

_NO_SHARE_INT = 10**6  # KAI's noFairShareDrfMultiplier: a zero share's heavy penalty
_NO_SHARE = Fraction(_NO_SHARE_INT)

# the rational terms are Fractions from rank(), integers from RankMemo (scaled)
Rank = tuple[bool, bool, int, bool, Fraction | int, Fraction | int, Fraction | int, int]


def dominant(alloc: int, node: Node) -> Fraction:
    """``GetDominantResourceShare`` for one resource."""
    share = node.allocatable
    return alloc * _NO_SHARE if share == 0 else alloc / share


def rank(alloc: int, job: int, node: Node, priority: int, created: int) -> Rank:
    """The allocation order's key, smaller first, for a queue holding ``alloc`` GPUs whose
    next job asks for ``job``."""
    return (
        node.fair < alloc,
        alloc + job > node.deserved,
        -priority,
        node.allocatable == 0 and alloc + job > 0,
        dominant(alloc + job, node),
        dominant(alloc, node),
        node.allocatable,
        created,
    )


def victim_rank(alloc: int, node: Node, priority: int, created: int) -> tuple[object, ...]:
    """The reverse order, smaller first: the queue to give up GPUs first sorts first."""
    over, over_quota, neg_prio, zero, dom, _, allocatable, _ = rank(
        alloc, 0, node, priority, created
    )
    return (not over, not over_quota, -neg_prio, not zero, -dom, -allocatable, -created)


class RankMemo:
    """:func:`rank` and :func:`victim_rank` remembered while the fair shares they read stay
    the same object (the policy keeps one while its inputs stay, :mod:`.policy`), in
    integers.

    A queue's rank reads only its node, its GPUs, the job's GPUs, its priority and its
    creation rank; nodes belong to the shares (or are the zero node), so within one
    shares object a node's ``id`` names it, and the memo is emptied when the shares
    change. Ranks are only compared with ranks of the same shares, so the rational terms
    are scaled to integers by one positive factor per term: a dominant share ``a / s``
    with ``s = n / d`` becomes ``a d (M / n)`` (``M`` the least common multiple of every
    node's ``n``; a zero share's ``a 10^6`` becomes ``a 10^6 M``) and an allocatable share
    ``n (D / d)`` (``D`` that of the ``d``): the same order and the same ties, without
    building or comparing a Fraction."""

    def __init__(self) -> None:
        self._shares: FairShares | None = None
        self._num = 1  # M
        self._den = 1  # D
        self._ranks: dict[tuple[int, int, int, int, int], Rank] = {}
        self._victims: dict[tuple[int, int, int, int], tuple[object, ...]] = {}

    def follow(self, shares: FairShares) -> None:
        """The shares the next ranks read; forget every rank if they changed."""
        if shares is not self._shares:
            self._shares = shares
            self._ranks.clear()
            self._victims.clear()
            cuts = [n.allocatable for by in shares.leaf.values() for n in by.values()]
            cuts += [n.allocatable for by in shares.top.values() for n in by.values()]
            self._num = math.lcm(*(c.numerator for c in cuts if c != 0))
            self._den = math.lcm(*(c.denominator for c in cuts))

    def rank(self, alloc: int, job: int, node: Node, priority: int, created: int) -> Rank:
        k = (id(node), alloc, job, priority, created)
        got = self._ranks.get(k)
        if got is None:
            got = self._ranks[k] = self._rank(alloc, job, node, priority, created)
        return got

    def victim_rank(
        self, alloc: int, node: Node, priority: int, created: int
    ) -> tuple[object, ...]:
        k = (id(node), alloc, priority, created)
        got = self._victims.get(k)
        if got is None:
            over, over_quota, neg_prio, zero, dom, _, allocatable, _ = self._rank(
                alloc, 0, node, priority, created
            )
            got = (not over, not over_quota, -neg_prio, not zero, -dom, -allocatable, -created)
            self._victims[k] = got
        return got

    def _rank(self, alloc: int, job: int, node: Node, priority: int, created: int) -> Rank:
        """:func:`rank` with its rational terms scaled (the class docstring)."""
        share = node.allocatable
        n, d = share.numerator, share.denominator
        if n == 0:
            unit = _NO_SHARE_INT * self._num
        else:
            if self._num % n or self._den % d:
                raise InternalError(f"kai: a rank read a node outside its shares ({node})")
            unit = d * (self._num // n)
        return (
            node.fair < alloc,
            alloc + job > node.deserved,
            -priority,
            n == 0 and alloc + job > 0,
            (alloc + job) * unit,
            alloc * unit,
            n * (self._den // d),
            created,
        )

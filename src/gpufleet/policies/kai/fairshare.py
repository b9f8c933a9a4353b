"""KAI Scheduler's fair-share division of one GPU type among sibling queues, in whole GPUs.

Source: NVIDIA/KAI-Scheduler ``pkg/scheduler/plugins/proportion/resource_division/
resource_division.go`` (functions named below), with ``docs/fairness/README.md``
("Resource Division Algorithm") and ``docs/queues/README.md`` ("Queue Attributes"). Notation
for one level of the queue tree, one GPU type, capacity ``C`` handed to the level:

- queue ``q`` has deserved quota ``d(q)``, over-quota weight ``w(q)``, queue priority
  ``pr(q)``, limit ``l(q)`` (``None``: no limit), demand ``r(q)`` (GPUs requested: running
  plus pending) and a creation rank ``created(q)`` (gpufleet's program order, or the order
  in which departments are first met, stands for KAI's queue ``CreationTimestamp``); its
  requestable share is ``cap(q) = min(r(q), l(q))`` (``ResourceShare.GetRequestableShare``);
- **phase 1, deserved** (``setDeservedResource``): ``fs(q) = min(d(q), cap(q))`` for every
  queue, whatever ``C`` is. Quotas that add up to more than ``C`` are *not* scaled down: what
  is left, ``R = C - sum fs``, is then negative and phase 2 hands out nothing;
- **phase 2, over quota** (``divideOverQuotaResource``), priority buckets highest first:
  rounds of ``divideUpToFairShare``: at a round's start ``A = R``; each unsatisfied queue
  (``r(q) > fs(q)`` and ``l(q) > fs(q)``, ``isQueueSatisfied``) of weight ``w > 0`` is offered
  ``x = A * s(q) / sum s`` (sums over the bucket's unsatisfied queues; ``s(q) = w(q)``
  unless time-aware fairness lowers it, ``calcShareWeights``: ``s = max(0, n + k (n - u))``
  with ``n = w / sum w`` and ``u`` the queue's decayed usage over capacity); if it still wants
  ``cap(q) - fs(q) <= x`` it takes that (and leaves the bucket's leftovers), otherwise it
  takes ``floor(x)`` and the fraction ``x - floor(x)`` is written down as its remainder
  (``getResourceToGiveInCurrentRound``: "always done in round numbers"). A round repeats only
  if some queue took less than it was offered;
- **phase 3, remainders** (``divideRemainingResource``): once every bucket has had its
  rounds, whatever is left goes, bucket by bucket highest priority first, one GPU per queue
  to the queues with a remainder, largest remainder first, ties by creation (older first,
  ``remainingRequestedOrderFn``) then name.

With whole-GPU demands, quotas and limits every share is a whole number (kept as a
``Fraction`` so that fractional time-aware weights stay exact). The same division runs at
each level: first among departments with the cohort's capacity, then inside each department
with the department's fair share (``proportion.go``, ``setFairShareForQueues``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby


@dataclass(frozen=True)
class QueueShare:
    """One queue at one level for one GPU type: the inputs of the division."""

    name: str
    deserved: int
    weight: Fraction
    priority: int
    limit: int | None
    demand: int
    created: int = 0
    usage: Fraction = Fraction(0)  # time-aware: decayed usage over capacity, in [0, 1]

    @property
    def cap(self) -> int:
        return self.demand if self.limit is None else min(self.demand, self.limit)


def divide(
    capacity: Fraction | int, queues: Sequence[QueueShare], k_value: Fraction = Fraction(1)
) -> dict[str, Fraction]:
    """Fair share per queue name: phases 1, 2 and 3 of the module docstring. Without
    time-aware usage and with a whole capacity, in integers (:func:`_divide_whole`)."""
    whole = isinstance(capacity, int) or capacity.denominator == 1
    if whole and all(q.usage == 0 for q in queues):
        return _divide_whole(int(capacity), queues)
    return divide_exact(capacity, queues, k_value)


def divide_exact(
    capacity: Fraction | int, queues: Sequence[QueueShare], k_value: Fraction = Fraction(1)
) -> dict[str, Fraction]:
    """:func:`divide` in rationals throughout, for any usage and capacity."""
    fs = {q.name: Fraction(min(q.deserved, q.cap)) for q in queues}
    remaining = Fraction(capacity) - sum(fs.values(), Fraction(0))
    if remaining <= 0:
        return fs
    buckets = _by_priority(queues)
    remainders: list[dict[str, Fraction]] = []
    for bucket in buckets:
        left: dict[str, Fraction] = {}
        remaining = _rounds(remaining, bucket, fs, left, k_value)
        remainders.append(left)
    for bucket, left in zip(buckets, remainders, strict=True):
        if remaining <= 0:
            break
        remaining = _hand_out_remainders(remaining, bucket, left, fs)
    return fs


def _by_priority(queues: Sequence[QueueShare]) -> list[list[QueueShare]]:
    ordered = sorted(queues, key=lambda q: -q.priority)
    return [list(g) for _, g in groupby(ordered, key=lambda q: q.priority)]


def _unsatisfied(q: QueueShare, fs: Mapping[str, Fraction | int]) -> bool:
    """``isQueueSatisfied`` negated: still requests more than its share, limit not reached."""
    return q.demand > fs[q.name] and (q.limit is None or q.limit > fs[q.name])


def _rounds(
    remaining: Fraction,
    bucket: list[QueueShare],
    fs: dict[str, Fraction],
    left: dict[str, Fraction],
    k_value: Fraction,
) -> Fraction:
    """``divideUpToFairShare`` for one bucket; ``left`` collects the rounded-off fractions.
    A round that gives everyone their floor and nobody less than offered is the last."""
    while remaining > 0:
        open_ = [q for q in bucket if _unsatisfied(q, fs)]
        share_w = _share_weights(open_, k_value)
        total_w = sum(share_w.values(), Fraction(0))
        if total_w == 0:
            break
        pot, again = remaining, False
        for q in open_:
            if q.weight == 0:
                continue
            offer = pot * share_w[q.name] / total_w
            want: Fraction = q.cap - fs[q.name]
            if want <= offer:
                give = want if want > 0 else Fraction(0)
                left.pop(q.name, None)
                again = again or want < offer
            else:
                give = Fraction(math.floor(offer))
                if offer > give:
                    left[q.name] = offer - give
            fs[q.name] += give
            remaining -= give
        if not again:
            break
    return remaining


def _divide_whole(capacity: int, queues: Sequence[QueueShare]) -> dict[str, Fraction]:
    """:func:`divide_exact` when every usage is 0 and the capacity is whole, in integers.

    Why it is the same division: with ``u = 0`` each share weight is ``n (1 + k)`` with
    ``n = w / W`` (``W`` the open queues' weight) and the weights sum to ``1 + k``, so the
    offer ``A s / sum s`` is exactly ``A w / W``; with the weights scaled to integers
    ``a = w L`` (``L`` the least common multiple of their denominators) it is ``A a / sum a``.
    Shares start whole (quotas, demands and limits are), and each round gives a whole
    number (``cap - fs`` or a floor), so ``A`` and every share stay whole: only the offers
    are fractions, and they are compared as ``want * sum a`` against ``A a`` instead. The
    rounded-off remainders are the same rationals, kept as such for phase 3's order.
    """
    fs = {q.name: min(q.deserved, q.cap) for q in queues}
    remaining = capacity - sum(fs.values())
    if remaining <= 0:
        return {name: Fraction(v) for name, v in fs.items()}
    scale = math.lcm(*(q.weight.denominator for q in queues))
    scaled = {q.name: int(q.weight * scale) for q in queues}
    buckets = _by_priority(queues)
    remainders: list[dict[str, Fraction]] = []
    for bucket in buckets:
        left: dict[str, Fraction] = {}
        remaining = _rounds_whole(remaining, bucket, fs, left, scaled)
        remainders.append(left)
    for bucket, left in zip(buckets, remainders, strict=True):
        if remaining <= 0:
            break
        ranked = sorted(
            (q for q in bucket if q.name in left), key=lambda q: (-left[q.name], q.created, q.name)
        )
        for q in ranked[:remaining]:  # one GPU each while any is left
            fs[q.name] += 1
            remaining -= 1
    return {name: Fraction(v) for name, v in fs.items()}


def _rounds_whole(
    remaining: int,
    bucket: list[QueueShare],
    fs: dict[str, int],
    left: dict[str, Fraction],
    scaled: dict[str, int],
) -> int:
    """:func:`_rounds` in integers: an offer is ``pot * a / total``, kept as its numerator."""
    while remaining > 0:
        open_ = [q for q in bucket if _unsatisfied(q, fs)]
        total = sum(scaled[q.name] for q in open_)
        if total == 0:
            break
        pot, again = remaining, False
        for q in open_:
            a = scaled[q.name]
            if a == 0:
                continue
            offer = pot * a  # the offer times total
            want = q.cap - fs[q.name]
            if want * total <= offer:
                give = want if want > 0 else 0
                left.pop(q.name, None)
                again = again or want * total < offer
            else:
                give = offer // total
                if offer > give * total:
                    left[q.name] = Fraction(offer - give * total, total)
            fs[q.name] += give
            remaining -= give
        if not again:
            break
    return remaining


def _share_weights(open_: list[QueueShare], k_value: Fraction) -> dict[str, Fraction]:
    """``calcShareWeights``: ``max(0, n + k (n - u))`` with ``n = w / sum w`` over the
    bucket's unsatisfied queues and ``u`` the queue's normalised usage (0 unless
    time-aware fairness is on, when the weights are simply proportional to ``w``)."""
    total = sum((q.weight for q in open_), Fraction(0))
    if total == 0:
        return {q.name: Fraction(0) for q in open_}
    out = {}
    for q in open_:
        n = q.weight / total
        out[q.name] = max(Fraction(0), n + k_value * (n - q.usage))
    return out


def _hand_out_remainders(
    remaining: Fraction,
    bucket: list[QueueShare],
    left: dict[str, Fraction],
    fs: dict[str, Fraction],
) -> Fraction:
    """``divideRemainingResource``: one GPU (or what is left) per queue, largest remainder
    first, ties by creation then name."""
    ranked = sorted(
        (q for q in bucket if q.name in left), key=lambda q: (-left[q.name], q.created, q.name)
    )
    for q in ranked:
        if remaining <= 0:
            break
        give = min(Fraction(1), remaining)
        fs[q.name] += give
        remaining -= give
    return remaining


@dataclass(frozen=True)
class ParentShare:
    """A parent queue (a department, or the whole cohort) and its children (programs)."""

    queue: QueueShare
    children: tuple[QueueShare, ...]


@dataclass(frozen=True)
class DepartmentQuota:
    """A department's own attributes for one GPU type, as KAI sets them on the parent queue
    (``docs/queues/README.md``: every queue, parent or leaf, has quota, limit and
    over-quota weight). ``limit`` None: no limit."""

    deserved: int
    weight: Fraction = Fraction(1)
    limit: int | None = None


def parent_of(
    name: str,
    priority: int,
    children: Sequence[QueueShare],
    own: DepartmentQuota | None = None,
    created: int = 0,
) -> ParentShare:
    """A parent queue over ``children``. Its demand is always the children's sum (KAI adds a
    job's request to every queue on its path, ``updateQueuesResourceUsageForPendingJob``).
    Deserved, weight and limit are the department's own (``own``) when it has them; otherwise
    they are summed from the children (no limit if any child has none). Its priority is the
    highest child's either way (KAI's parent queues have a priority of their own; gpufleet's
    entities do not)."""
    demand = sum(c.demand for c in children)
    usage = sum((c.usage for c in children), Fraction(0))
    top = max((c.priority for c in children), default=priority)
    if own is not None:
        q = QueueShare(name, own.deserved, own.weight, top, own.limit, demand, created, usage)
        return ParentShare(q, tuple(children))
    limits = [c.limit for c in children]
    limit = None if any(x is None for x in limits) else sum(x for x in limits if x is not None)
    q = QueueShare(
        name,
        sum(c.deserved for c in children),
        sum((c.weight for c in children), Fraction(0)),
        top,
        limit,
        demand,
        created,
        usage,
    )
    return ParentShare(q, tuple(children))


def divide_tree(
    capacity: int, parents: Sequence[ParentShare], k_value: Fraction = Fraction(1)
) -> dict[str, Fraction]:
    """Two levels: parents share ``capacity``, then each parent's children share its fair
    share. Returns fair shares of parents and children alike (names must be distinct)."""
    top = divide(capacity, [p.queue for p in parents], k_value)
    out = dict(top)
    for p in parents:
        out.update(divide(top[p.queue.name], p.children, k_value))
    return out

"""KAI Scheduler's fair-share division of one GPU type among sibling queues.

Source: NVIDIA/KAI-Scheduler, ``docs/fairness/README.md`` ("Resource Division Algorithm",
"Fair-Share Algorithm"), ``docs/queues/README.md`` ("Queue Attributes") and the design note
``docs/developer/designs/priority-based-fair-share.md`` (its worked examples). Notation for
one level of the queue tree, one GPU type, capacity ``C`` handed to the level:

- queue ``q`` has deserved quota ``d(q)``, over-quota weight ``w(q)``, over-quota priority
  ``pr(q)``, limit ``l(q)`` (``None``: no limit) and demand ``r(q)`` (GPUs it requests:
  running plus pending); its cap is ``cap(q) = min(r(q), l(q))``;
- **phase 1, deserved**: ``fs(q) = min(d(q), cap(q))``. The docs assume the quotas fit the
  capacity; when they do not (``sum fs > C``) we hand out ``C`` by priority bucket, higher
  first, and within a bucket in proportion to ``fs`` (the docs are silent on this case);
- **phase 2, over quota**: what is left, ``R = C - sum fs``, goes to queues with
  ``fs(q) < cap(q)`` one priority bucket at a time, highest first; inside a bucket it is
  water-filled by weight: each round every open queue gets
  ``min(R * w(q) / sum_open w, cap(q) - fs(q))``, and rounds repeat until ``R`` is gone or
  no open queue is left. A queue of weight 0 gets nothing over its quota (the design note's
  "Background"; its opt-in "phase 3" for weight-0 queues is not implemented).

Fair shares are exact fractions, so hand-computed examples compare with ``==``. The same
division runs at each level: first among parent queues with the cohort's capacity, then
inside each parent with the parent's fair share (:func:`divide_tree`).
"""

from __future__ import annotations

from collections.abc import Sequence
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

    @property
    def cap(self) -> int:
        return self.demand if self.limit is None else min(self.demand, self.limit)


def divide(capacity: Fraction | int, queues: Sequence[QueueShare]) -> dict[str, Fraction]:
    """Fair share per queue name: phase 1 then phase 2 of the module docstring."""
    fs = {q.name: Fraction(min(q.deserved, q.cap)) for q in queues}
    remaining = Fraction(capacity) - sum(fs.values(), Fraction(0))
    if remaining < 0:
        fs = _ration(Fraction(capacity), queues, fs)
        return fs
    for bucket in _by_priority(queues):
        if remaining <= 0:
            break
        remaining = _water_fill(remaining, bucket, fs)
    return fs


def _by_priority(queues: Sequence[QueueShare]) -> list[list[QueueShare]]:
    ordered = sorted(queues, key=lambda q: -q.priority)
    return [list(g) for _, g in groupby(ordered, key=lambda q: q.priority)]


def _ration(
    capacity: Fraction, queues: Sequence[QueueShare], want: dict[str, Fraction]
) -> dict[str, Fraction]:
    """Quotas exceed capacity: higher priority buckets first, proportional inside one."""
    out = {q.name: Fraction(0) for q in queues}
    left = capacity
    for bucket in _by_priority(queues):
        total = sum((want[q.name] for q in bucket), Fraction(0))
        if total == 0:
            continue
        scale = min(Fraction(1), left / total)
        for q in bucket:
            out[q.name] = want[q.name] * scale
        left -= total * scale
        if left <= 0:
            break
    return out


def _water_fill(remaining: Fraction, bucket: list[QueueShare], fs: dict[str, Fraction]) -> Fraction:
    """Phase 2 inside one priority bucket; returns what is still left. Each round either
    uses all of ``remaining`` or fills at least one queue to its cap, so it ends."""
    while remaining > 0:
        open_ = [q for q in bucket if q.weight > 0 and fs[q.name] < q.cap]
        if not open_:
            break
        total_w = sum((q.weight for q in open_), Fraction(0))
        pot = remaining
        for q in open_:
            give = min(pot * q.weight / total_w, q.cap - fs[q.name])
            fs[q.name] += give
            remaining -= give
    return remaining


@dataclass(frozen=True)
class ParentShare:
    """A parent queue (an entity, or the whole cohort) and its children (programs)."""

    queue: QueueShare
    children: tuple[QueueShare, ...]


def parent_of(name: str, priority: int, children: Sequence[QueueShare]) -> ParentShare:
    """A parent's attributes from its children: deserved, demand and limit are sums (no
    limit if any child has none), weight the sum of weights, priority the highest one.
    KAI parents carry their own attributes; an entity in gpufleet has none, so they are
    derived (the brief: "parent deserved = sum of children")."""
    limits = [c.limit for c in children]
    limit = None if any(x is None for x in limits) else sum(x for x in limits if x is not None)
    q = QueueShare(
        name,
        sum(c.deserved for c in children),
        sum((c.weight for c in children), Fraction(0)),
        max((c.priority for c in children), default=priority),
        limit,
        sum(c.demand for c in children),
    )
    return ParentShare(q, tuple(children))


def divide_tree(capacity: int, parents: Sequence[ParentShare]) -> dict[str, Fraction]:
    """Two levels: parents share ``capacity``, then each parent's children share its fair
    share. Returns fair shares of parents and children alike (names must be distinct)."""
    top = divide(capacity, [p.queue for p in parents])
    out = dict(top)
    for p in parents:
        out.update(divide(top[p.queue.name], p.children))
    return out

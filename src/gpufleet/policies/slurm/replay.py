"""A backfill pass's one-node searches answered from the cohort's previous pass, exactly.

Consecutive passes of :mod:`gpufleet.policies.slurm.plan` mostly repeat each other: between
them a running job or two ended where the last plan expected, one or two jobs started,
and the same queue is examined in the same order, so most jobs get the planned start and
node they got last time. This module proves, per job, when that answer still holds, and
searches only the few nodes where it might not (Slurm's own pass starts from scratch each
time, src/plugins/sched/backfill/backfill.c ``_attempt_backfill``; ``bf_continue`` only
resumes an interrupted pass: the reuse here is ours, and it changes no answer).

Notation. A node's *column* is its free GPUs as a function of time over ``[now, inf)``
(now being the new pass's). The previous pass P examined its jobs in order; at each job
the plan was P's *base* (free GPUs now, the running jobs' and that cycle's started jobs'
rounded ends) plus the reservations and starts P made before it. The new pass N walks
its jobs in its own order beside P's list of plan changes (``entries``: reservations and
starts, in order); ``X`` holds every node whose column in N may differ from its column
in P at the matching point:

- the nodes whose base column differs (compared per node: free GPUs now and the ends
  after now; a job ended early or late, one started since, a node down);
- the nodes of P's entries that N passes over (the job is gone, blocked by a limit,
  or no longer examined at that point), and of every change N makes that is not P's
  entry for that job (a start now, a reservation elsewhere or at another time).

Claim. Let job J, of g >= 1 GPUs on one node of its groups, limit L > 0, have got from P
the start ``s > now`` on node ``n`` not in ``X``, with P's entries before it all met; let
``s`` be an interval start of N's plan and no node outside X fit J now. Then J's earliest
start in N (:meth:`NodeSpace.earliest`: the first start, then the first group, then the
fewest GPUs left over the window, then the node's place) is the better of (s, n) and the
exact search over the nodes of X alone (:meth:`NodeSpace.search_among`).

Proof. A node m outside X has the same column in N as in P, and the same place among
the other nodes outside X. (i) m does not fit at any interval start t in ``[now, s)``:
if P tried t, P's search (exact) found no fit there; otherwise m's column is constant from
the last start t' that P tried before t (m's own changes are interval starts of P's plan)
up to t, so a fit at t means a fit at max(t', now), whose window lies within t's window
and that constant span: at t' >= now P found none, and at now none fits (tested). (ii)
At s, n fits (same column) with the same least free GPUs over the window, and beat every
node outside X in P. So no node outside X beats (s, n); the nodes of X are searched.
Where the conditions fail the full search runs. tests/policies/test_slurm_plan_replay.py
checks every start, wait reason and planned start against the full search, on seeded
simulations and a seeded live state.

Cost: per job answered, one test of the nodes with g GPUs free now and a search over the
nodes of X (a few: the nodes where jobs ended or started since P, and those whose plan
moved in this pass), instead of the full search's pass over every node's plan; per pass,
O(N + R) to compare the base with P's.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gpufleet.policies.slurm.nodespace import NodeSpace
from gpufleet.state.capacity import Slots

Ends = list[tuple[float, Slots]]


@dataclass(frozen=True)
class Entry:
    """A change a pass made to its plan: ``job`` (its GPUs, limit and groups asked)
    started now or was planned from ``start`` to ``end`` on ``slots``."""

    job: int
    ask: tuple[int, float, tuple[int, ...]]
    start: float
    end: float
    slots: Slots


@dataclass
class Record:
    """What the next pass reads of a pass: its nodes in order, each one's free GPUs now
    and the GPUs its base releases at each end, and its entries in order."""

    nodes: list[int]
    now: float
    window_s: float
    base_now: npt.NDArray[np.int32]
    ends: dict[int, dict[float, int]]  # node -> end -> GPUs released then
    entries: list[Entry] = field(default_factory=list)


def base_ends(ends: Ends) -> dict[int, dict[float, int]]:
    """Per node, the GPUs the base releases at each (rounded) end."""
    out: dict[int, dict[float, int]] = {}
    for t, slots in ends:
        for node, n in slots:
            mine = out.setdefault(node, {})
            mine[t] = mine.get(t, 0) + n
    return out


class Replay:
    """One pass's searches, answered from ``prev`` where the claim holds."""

    def __init__(self, prev: Record | None, space: NodeSpace, ends: Ends, window_s: float) -> None:
        self.space = space
        self.record = Record(
            list(space.nodes), space.now_s, window_s, space.free[0].copy(), base_ends(ends)
        )
        self.hits = 0  # searches answered from prev
        self.prev = prev if prev is not None and prev.window_s == window_s else None
        self.x = np.zeros(len(space.nodes), dtype=bool)
        self.at: dict[int, int] = {}  # job -> its entry's place in prev
        self.next = 0  # prev's first entry not yet met or passed over
        if self.prev is not None:
            self.at = {e.job: i for i, e in enumerate(self.prev.entries)}
            self._diff_base(self.prev)

    def _diff_base(self, prev: Record) -> None:
        """X starts as the nodes whose base column differs from prev's over [now, inf),
        those prev did not have, and those whose place among the others in their group
        moved (a tie between two nodes goes to the first in the group's order)."""
        sp, new = self.space, self.record
        now = sp.now_s
        was = {n: i for i, n in enumerate(prev.nodes)}
        for span in sp.span.values():
            latest = -1  # the largest place in prev of the group's nodes kept so far
            for k in range(span.start, span.stop):
                node = new.nodes[k]
                i = was.get(node)
                if i is None or i < latest:
                    self.x[k] = True
                    continue
                old = prev.ends.get(node, {})
                at_now = int(prev.base_now[i]) + sum(n for t, n in old.items() if t <= now)
                later = {t: n for t, n in old.items() if t > now}
                if at_now != int(new.base_now[k]) or later != new.ends.get(node, {}):
                    self.x[k] = True
                else:
                    latest = i

    def _mark(self, slots: Slots) -> None:
        pos = self.space.pos
        for node, _ in slots:
            k = pos.get(node)
            if k is not None:
                self.x[k] = True

    def _meet(self, job: int) -> Entry | None:
        """Prev's entry for ``job`` if it is still ahead; those passed over go into X."""
        prev = self.prev
        i = self.at.get(job)
        if prev is None or i is None or i < self.next:
            return None
        for e in prev.entries[self.next : i]:
            self._mark(e.slots)
        self.next = i + 1
        return prev.entries[i]

    def earliest(
        self, job: int, groups: list[int], gpus: int, limit_s: float, window_s: float
    ) -> tuple[float, Slots] | None:
        """:meth:`NodeSpace.earliest`, from prev's answer where the claim holds."""
        sp = self.space
        old = self._meet(job)
        ask = (gpus, limit_s, tuple(groups))
        got: tuple[float, Slots] | None = None
        done = False
        if old is not None and old.ask == ask and self._usable(old, groups, gpus, limit_s):
            got, done = self._from(old, groups, gpus, limit_s)
            if done:
                self.hits += 1
                sp.remember(groups, gpus, limit_s, got)
        if not done:
            got = sp.earliest(groups, gpus, limit_s, window_s)
        if old is not None and (got is None or (got[0], got[1]) != (old.start, old.slots)):
            self._mark(old.slots)
        return got

    def made(
        self,
        job: int,
        groups: list[int],
        gpus: int,
        limit_s: float,
        at: tuple[float, float],
        slots: Slots,
    ) -> None:
        """The pass started (``at`` from now) or planned ``job`` over ``at``: an entry for
        the next pass; a start, or a change that is not prev's entry for the job, goes
        into X."""
        start = at[0]
        e = Entry(job, (gpus, limit_s, tuple(groups)), start, at[1], slots)
        self.record.entries.append(e)
        prev = self.prev
        i = self.at.get(job)
        same = (
            prev is not None
            and i is not None
            and i == self.next - 1
            and prev.entries[i] == e
            and start != self.space.now_s
        )
        if not same:
            self._mark(slots)

    def _usable(self, old: Entry, groups: list[int], gpus: int, limit_s: float) -> bool:
        sp = self.space
        if gpus < 1 or limit_s <= 0 or old.start <= sp.now_s or len(old.slots) != 1:
            return False
        if sp.kind(groups, gpus) != 1 or sp.rounded(old.start + limit_s) != old.end:
            return False
        k = sp.pos.get(old.slots[0][0])
        return k is not None and not self.x[k]

    def _from(
        self, old: Entry, groups: list[int], gpus: int, limit_s: float
    ) -> tuple[tuple[float, Slots] | None, bool]:
        """The claim's answer, and whether it applied: ``s`` is an interval start of the
        plan and no node outside X fits now (one that does, the job starts now: the full
        search finds where). The nodes of X are searched by :meth:`NodeSpace.search_among`.
        """
        sp = self.space
        i = bisect.bisect_left(sp.times, old.start)
        if i == len(sp.times) or sp.times[i] != old.start:
            return None, False
        times = sp.times_array()
        ends = np.searchsorted(times, times[: i + 1] + limit_s, side="right")  # starts <= s
        spans = [sp.span[g] for g in groups]
        for span in spans if sp.now_free()[0] >= gpus else ():  # one outside X fits now
            row = sp.free[0, span]
            cols = np.flatnonzero((row >= gpus) & ~self.x[span])
            if len(cols) and (sp.free[: int(ends[0]), span][:, cols] >= gpus).all(axis=0).any():
                return None, False
        if not any(self.x[span].any() for span in spans):
            return (old.start, old.slots), True  # nothing else to search
        k = sp.pos[old.slots[0][0]]
        low = float(sp.free[i : int(ends[i]), k].min())
        n = next(n for n, span in enumerate(spans) if span.start <= k < span.stop)
        found = sp.search_among(self.x, groups, gpus, ends, 0, i + 1)
        if found is not None and found < (old.start, n, low, k):
            return (found[0], ((sp.nodes[found[3]], gpus),)), True
        return (old.start, old.slots), True

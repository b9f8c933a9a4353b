"""The ``kai`` policy's shortcuts against the plain computations they stand for.

Issue 16: kai's cost grew with the run. Its shortcuts: the division in integers when no
time-aware usage is given (``fairshare._divide_whole``), fair shares kept while their
inputs stay (``KaiScheduler.shares_for``), ranks remembered and compared in scaled
integers (``order.RankMemo``), and a victim search that sorts candidates once per cycle,
re-ranks only after a victim is taken, drops a queue that refuses and judges each
candidate on the holdings the victims before it left (``KaiReclaim``). Each is checked
against the plain computation on seeded inputs: the rational division, the Fraction
ranks pair by pair, and whole seeded runs under a policy that recomputes everything.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from fractions import Fraction as F

import pytest

from gpufleet.inputs.scenario.synthetic import synthetic_scenario
from gpufleet.policies.base import Decision
from gpufleet.policies.kai.fairshare import QueueShare, divide, divide_exact
from gpufleet.policies.kai.order import Rank, RankMemo, rank, victim_rank
from gpufleet.policies.kai.policy import KaiScheduler
from gpufleet.policies.kai.queues import FairShares, Node, cohort_capacity, fair_shares
from gpufleet.policies.kai.reclaim import KaiReclaim, Key, _job_key, _OnlyType, _Tally
from gpufleet.sim.digest import run_digest
from gpufleet.state.capacity import Placement
from gpufleet.state.jobs import Job, ProgramState
from gpufleet.state.snapshot import Snapshot


def _random_queues(rng: random.Random) -> list[QueueShare]:
    return [
        QueueShare(
            f"q{i}",
            rng.randint(0, 8),
            F(rng.randint(0, 6), rng.choice([1, 1, 2, 3, 4])),
            rng.randint(0, 2),
            rng.choice([None, rng.randint(0, 20)]),
            rng.randint(0, 30),
            rng.randint(0, 5),
        )
        for i in range(rng.randint(1, 8))
    ]


@pytest.mark.parametrize("seed", range(300))
def test_the_whole_gpu_division_is_the_rational_one(seed: int) -> None:
    # without usage, divide() takes the integer path; divide_exact() is the rational
    # division of resource_division.go as it was written first. k plays no part when
    # every usage is 0 (weights n (1 + k) over a total of 1 + k), so a random k too.
    rng = random.Random(seed)
    queues = _random_queues(rng)
    cap = rng.randint(0, 60)
    k = F(rng.randint(0, 4), rng.choice([1, 2]))
    got = divide(cap, queues, k)
    assert got == divide_exact(cap, queues, k)
    assert all(type(v) is F for v in got.values())  # shares stay rationals for the ranks


def _cmp(a: tuple[object, ...], b: tuple[object, ...]) -> int:
    return (a > b) - (a < b)


@pytest.mark.parametrize("seed", range(100))
def test_ranks_in_integers_order_and_tie_as_the_rational_ones(seed: int) -> None:
    # nodes with rational fair shares (time-aware ones need not be whole), zero shares
    # and limits; every pair of ranks (and of victim ranks) compares the same way
    rng = random.Random(seed)
    shares = FairShares()
    for t in ("A", "B"):
        shares.leaf[t] = {
            i: Node(
                F(rng.randint(0, 12), rng.choice([1, 1, 2, 3])),
                rng.randint(0, 8),
                rng.choice([None, rng.randint(0, 10)]),
            )
            for i in range(rng.randint(1, 4))
        }
    memo = RankMemo()
    memo.follow(shares)
    cases = [
        (rng.randint(0, 12), rng.choice([0, 1, 2, 8]), node, rng.randint(0, 2), rng.randint(0, 3))
        for by in shares.leaf.values()
        for node in by.values()
        for _ in range(3)
    ]
    plain = [rank(*c) for c in cases]
    scaled = [memo.rank(*c) for c in cases]
    vplain = [victim_rank(a, n, p, c) for a, _, n, p, c in cases]
    vscaled = [memo.victim_rank(a, n, p, c) for a, _, n, p, c in cases]
    for i in range(len(cases)):
        for j in range(len(cases)):
            assert _cmp(scaled[i], scaled[j]) == _cmp(plain[i], plain[j])
            assert _cmp(vscaled[i], vscaled[j]) == _cmp(vplain[i], vplain[j])


class _PlainReclaim(KaiReclaim):
    """Victims judged as the rules say, the whole list at each candidate; candidates
    found and sorted anew at each search, ranks computed anew at each reading."""

    def _victims(
        self, snap: Snapshot, job: Job, t: str, refused: set[int] | None = None
    ) -> Iterator[Job]:
        queues: dict[int, list[Job]] = {}
        for p in self.programs:
            if p is job.program:
                continue
            mine = [
                v
                for v in p.running.values()
                if v.spec.preemptible
                and v.placement is not None
                and v.spec.id not in snap.stopped
                and snap.gpu_type_of(v.placement) == t
            ]
            if mine:
                queues[p.index] = sorted(mine, key=_job_key)
        by_index = {p.index: p for p in self.programs}
        while queues:
            i = min(queues, key=lambda k: self._plain_key(by_index[k], t))
            v = queues[i].pop(0)
            if not queues[i]:
                del queues[i]
            yield v

    def _plain_key(self, p: ProgramState, t: str) -> tuple[object, ...]:
        fs = self.shares
        name = fs.parent[p.index]
        dept = [q for q in self.programs if fs.parent[q.index] == name]
        dept_alloc = sum(q.usage.get(t, 0) for q in dept)
        dept_rank = min(q.entity_index for q in dept)
        return (
            victim_rank(dept_alloc, fs.parent_node(name, t), 0, dept_rank),
            victim_rank(p.usage.get(t, 0), fs.leaf_node(p, t), p.priority, p.index),
        )

    def _reclaim_on(self, snap: Snapshot, job: Job, t: str, decision: Decision) -> Placement | None:
        tally = _Tally(self.shares, self.programs, t)
        me: Key = ("leaf", job.program.index)
        if tally.alloc[me] + job.spec.gpus > tally.node(me).fair:
            return None
        mark = snap.mark()
        chosen: list[Job] = []
        for v in self._victims(snap, job, t):
            if not self._valid(tally, job, [*chosen, v]):
                continue
            snap.assume_stop(v)
            chosen.append(v)
            got = self.placement.place(snap, job, _OnlyType(self.admission, t))
            if isinstance(got, Placement):
                decision.preempt.extend(chosen)
                return got
        snap.undo_to(mark)
        return None


class _NoMemo(RankMemo):
    """Every rank computed at its reading."""

    def rank(self, alloc: int, job: int, node: Node, priority: int, created: int) -> Rank:
        return rank(alloc, job, node, priority, created)


class _PlainKai(KaiScheduler):
    """kai with nothing kept: shares divided anew at every cycle, ranks computed at each
    reading, plain reclaim."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.ranks = _NoMemo()
        plain = _PlainReclaim(self.kai_admission, float(self.reclaimer.multiplier), self.flat)
        self.reclaimer = plain
        self.preemption = plain

    def shares_for(self, snap: Snapshot, cohort: str) -> FairShares:
        kept = super().shares_for(snap, cohort)  # advances time-aware usage as ever
        c = snap.cohort(cohort)
        usage = {p.index: F(0) for p in c.programs}
        if self.usage is not None:
            for p in c.programs:
                usage[p.index] = F(self.usage.score(cohort, p))
        cap = cohort_capacity(snap, cohort)
        plain = fair_shares(c, cap, self.flat, usage, self.departments, F(self.k_value))
        assert plain == kept
        return plain


@pytest.mark.parametrize(
    ("seed", "options"),
    [
        pytest.param(3, {}, id="entity-seed-3"),
        pytest.param(4, {"hierarchy": "flat"}, id="flat-seed-4"),
        pytest.param(5, {"half_life_hours": 2.0}, id="time-aware-seed-5"),
        pytest.param(6, {"reclaim_multiplier": 1.5}, id="multiplier-seed-6"),
    ],
)
def test_a_seeded_run_decides_as_the_plain_computation_does(
    seed: int, options: dict[str, object]
) -> None:
    # 400 jobs on 48 GPUs at full load: hundreds of cycles, tens of reclaims. The plain
    # policy also asserts at every cycle that the kept shares equal the rational ones.
    sc = synthetic_scenario(400, 48, policy="kai", load=1.0, seed=seed)
    kept = run_digest(sc, KaiScheduler(**options))  # type: ignore[arg-type]
    plain = run_digest(sc, _PlainKai(**options))
    assert kept == plain
    assert " halts=0" not in kept  # the run did reclaim: the victim path was exercised

"""SRTF with known durations: order, preemption rule, and the bound it is."""

from __future__ import annotations

import pytest

from gpufleet.policies.research.srtf import Srtf
from gpufleet.sim.simulator import Simulation
from tests.support.builders import Harness
from tests.support.scenarios import mixed


def srtf_harness(nodes: list[int]) -> Harness:
    h = Harness("fifo", nodes=nodes)
    h.engine.policy = Srtf()
    return h


def test_the_shortest_pending_job_starts_first() -> None:
    # One 8-GPU node; three 8-GPU jobs of 3 h, 1 h, 2 h arrive together: 1 h goes first.
    h = srtf_harness([8])
    long, short, mid = (h.submit("a", 8, work_s=s) for s in (3 * 3600, 3600, 2 * 3600))
    h.cycle(0)
    assert h.running() == [short.spec.id]
    assert h.pending() == [long.spec.id, mid.spec.id]


def test_a_shorter_arrival_preempts_the_longest_running_job_only() -> None:
    # A 10-hour job runs from t=0 (checkpoint 1 h); at t=1 h a 1-hour job arrives:
    # remaining 9 h > 1 h, so the long job is preempted, keeping its 1 h of work.
    h = srtf_harness([8])
    long = h.submit("a", 8, work_s=10 * 3600, checkpoint_s=3600)
    h.cycle(0)
    short = h.submit("a", 8, work_s=3600, at=3600)
    d = h.cycle(3600)
    assert [j.spec.id for j in d.preempt] == [long.spec.id]
    assert h.running() == [short.spec.id]
    assert long.remaining_s == 9 * 3600


def test_a_job_never_preempts_one_with_less_work_left() -> None:
    # The running job has 30 min left at t=30 min; a 1-hour arrival must wait.
    h = srtf_harness([8])
    h.submit("a", 8, work_s=3600)
    h.cycle(0)
    h.submit("a", 8, work_s=3600, at=1800)
    d = h.cycle(1800)
    assert d.preempt == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_known_durations_srtf_beats_fifo_on_mean_jct(seed: int) -> None:
    fifo = Simulation(mixed("fifo", seed)).run().summary["jct_s"]["mean"]
    srtf = Simulation(mixed("fifo", seed), policy=Srtf()).run().summary["jct_s"]["mean"]
    assert srtf < fifo

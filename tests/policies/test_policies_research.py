"""Research policies with time-driven decisions: Tiresias (2D-LAS) and Themis (rho), and
the simulator's wake-up events they rely on. Each case is computed by hand."""

from __future__ import annotations

import pytest

from gpufleet.policies.research.themis import Themis
from gpufleet.policies.research.tiresias import Tiresias
from gpufleet.sim.simulator import Simulation
from gpufleet.state.jobs import JobState
from tests.support.builders import Harness
from tests.support.runs import checked_run
from tests.support.scenarios import mixed, one_site

H = 3600.0


def harness(policy: Tiresias | Themis, nodes: list[int]) -> Harness:
    h = Harness("fifo", nodes=nodes)
    h.engine.policy = policy
    return h


def wake(h: Harness, now: float) -> None:
    """What the simulator's wake-up event does: the cohort is dirty, a cycle runs."""
    h.state.dirty.add("c")
    h.cycle(now)


# --- Tiresias --------------------------------------------------------------------------
def test_a_running_job_is_demoted_exactly_at_its_threshold_crossing_by_a_wake_up() -> None:
    # Threshold 8 GPU-h, one 8-GPU node. L (8 GPUs, 10 h) starts at 0; S (8 GPUs) arrives
    # at 0.5 h: both in Q1, S waits. L crosses 8 GPU-h at 0 + 8*3600/8 = 1 h: the cycle
    # asks to wake then, and at that instant S preempts the demoted L.
    h = harness(Tiresias(threshold_gpu_hours=8), [8])
    long = h.submit("a", 8, work_s=10 * H)
    assert h.cycle(0).wake_at is None  # nothing waits: no reason to wake
    short = h.submit("a", 8, work_s=H, at=0.5 * H)
    d = h.cycle(0.5 * H)
    assert d.preempt == [] and d.wake_at == H
    wake(h, H)
    assert h.running() == [short.spec.id]
    assert long.state is JobState.PENDING and long.attained_gpu_s == 8 * H


def test_a_short_new_job_preempts_a_demoted_long_job() -> None:
    # L ran 2 h on 8 GPUs (16 GPU-h >= 8: in Q2); a new 4-GPU job (Q1) arrives and the
    # node is full: L is preempted for it. A second Q2 arrival would not preempt anyone.
    h = harness(Tiresias(threshold_gpu_hours=8), [8])
    long = h.submit("a", 8, work_s=10 * H)
    h.cycle(0)
    short = h.submit("a", 4, work_s=H, at=2 * H)
    d = h.cycle(2 * H)
    assert [j.spec.id for j in d.preempt] == [long.spec.id]
    assert h.running() == [short.spec.id]
    assert long.attained_gpu_s == 16 * H and long.preemptions == 1


def test_a_starved_job_is_promoted_after_starve_limit_times_its_last_run() -> None:
    # STARVELIMIT 1. L runs 0..2 h and is preempted by S (10 h); S is demoted at 3 h but
    # L is in Q2 too, so nothing happens. L has waited 2 h = 1 x its 2-h run at 4 h: the
    # cycle at 2 h asks to wake then; L is promoted to Q1 and preempts S (in Q2).
    h = harness(Tiresias(threshold_gpu_hours=8, starve_limit=1.0), [8])
    long = h.submit("a", 8, work_s=10 * H)
    h.cycle(0)
    short = h.submit("a", 8, work_s=10 * H, at=2 * H)
    d = h.cycle(2 * H)
    assert [j.spec.id for j in d.preempt] == [long.spec.id]
    assert d.wake_at == 4 * H  # S's crossing at 3 h is irrelevant: L is in Q2 already
    wake(h, 3.99 * H)
    assert h.running() == [short.spec.id]
    wake(h, 4 * H)
    assert h.running() == [long.spec.id]
    assert short.preemptions == 1


def test_without_a_starve_limit_the_demoted_job_keeps_waiting() -> None:
    h = harness(Tiresias(threshold_gpu_hours=8), [8])
    h.submit("a", 8, work_s=10 * H)
    h.cycle(0)
    short = h.submit("a", 8, work_s=10 * H, at=2 * H)
    assert h.cycle(2 * H).wake_at is None
    wake(h, 4 * H)
    assert h.running() == [short.spec.id]


def test_the_simulator_runs_a_cycle_at_the_wake_up_instant() -> None:
    # The first Tiresias case end to end: S starts exactly at L's crossing (1 h), with no
    # event then but the wake-up.
    jobs = """      - name: p
        quotas: {H100-SXM: {nominal: 16}}
        workload:
          jobs: [{submit: 2025-01-01 00:00:00, gpus: 8, duration_hours: 10},
                 {submit: 2025-01-01 00:30:00, gpus: 8, duration_hours: 1}]"""
    pools = "  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 1, owner: e}"
    sim = Simulation(one_site(programs=jobs, pools=pools), policy=Tiresias(8.0))
    sim.run_until(H - 1)
    assert [j.spec.id for j in sim.state.programs[0].running.values()] == [0]
    sim.run_until(H)
    assert [j.spec.id for j in sim.state.programs[0].running.values()] == [1]


def test_a_later_wake_request_makes_the_earlier_one_stale() -> None:
    sim = Simulation(one_site())
    cohort = next(iter(sim.state.cohorts))
    sim.run_until(0)
    sim.engine.wake_cohorts = (cohort,)
    sim._ask_wake(100.0, 0.0)
    sim._ask_wake(50.0, 0.0)  # replaces 100
    seen: list[tuple[float, bool]] = []
    cycle = sim.engine.cycle

    def watching(now: float):  # type: ignore[no-untyped-def]
        seen.append((now, cohort in sim.state.dirty))
        return cycle(now)

    sim.engine.cycle = watching  # type: ignore[method-assign]
    sim.run_until(200)
    assert seen == [(50.0, True), (100.0, False)]


# --- Themis ----------------------------------------------------------------------------
def test_rho_of_three_jobs_and_their_admission_order() -> None:
    # H100 (speed 1) only, one 8-GPU node, 8-GPU jobs, first cycle at 1 h:
    #   J0 submit 0,    work 1 h:   (3600 + 3600) / 3600 = 2
    #   J1 submit 0.5h, work 600 s: (1800 + 600) / 600  = 4
    #   J2 submit 3000, work 2 h:   (600 + 7200) / 7200 = 1.0833
    # J1 goes first; when it ends at 4200 s, J0 (7800/3600) beats J2 (8400/7200).
    pol = Themis()
    h = harness(pol, [8])
    j0 = h.submit("a", 8, work_s=H, at=0)
    j1 = h.submit("a", 8, work_s=600, at=0.5 * H)
    j2 = h.submit("a", 8, work_s=2 * H, at=3000)
    assert [pol.rho(j, H) for j in (j0, j1, j2)] == pytest.approx([2.0, 4.0, 7800 / 7200])
    started = []
    h.cycle(H)
    started += h.running()
    h.finish(j1, 4200)
    assert pol.rho(j0, 4200) == pytest.approx(7800 / 3600)
    assert pol.rho(j2, 4200) == pytest.approx(8400 / 7200)
    h.cycle(4200)
    started += h.running()
    h.finish(j0, 4200 + H)
    h.cycle(4200 + H)
    started += h.running()
    assert started == [1, 0, 2]


@pytest.mark.parametrize(
    ("f", "admitted"),
    [
        pytest.param(1.0, [1, 2], id="all-by-rho"),
        pytest.param(1 / 3, [0, 1], id="top-third-then-leftover-in-submit-order"),
    ],
)
def test_the_fairness_knob_limits_who_is_ordered_by_rho(f: float, admitted: list[int]) -> None:
    # 4-GPU jobs on one 8-GPU node at 1 h: rho A 1.1, B 4, C 3. f = 1: B, C; f = 1/3: B
    # alone is in the auction, the leftover goes to the earliest submitted, A.
    h = harness(Themis(f=f), [8])
    h.submit("a", 4, work_s=10 * H, at=0)
    h.submit("a", 4, work_s=600, at=0.5 * H)
    h.submit("a", 4, work_s=300, at=3000)
    h.cycle(H)
    assert h.running() == admitted


# --- whole runs ------------------------------------------------------------------------
POLICIES = {
    "tiresias": lambda: Tiresias(threshold_gpu_hours=4, starve_limit=2.0),
    "tiresias-3q": lambda: Tiresias(threshold_gpu_hours=1, queues=3, threshold_growth=8),
    "themis": lambda: Themis(),
    "themis-f": lambda: Themis(f=0.5),
}


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("seed", [1, 2])
def test_conservation_holds_after_every_cycle(name: str, seed: int) -> None:
    shortfall = checked_run(Simulation(mixed("fifo", seed), policy=POLICIES[name]()))
    assert shortfall, "the scenario should finish jobs"
    assert max(abs(x) for x in shortfall.values()) < 1e-6


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_same_seed_same_result(name: str) -> None:
    a = Simulation(mixed("fifo", 11), policy=POLICIES[name]()).run().to_json()
    b = Simulation(mixed("fifo", 11), policy=POLICIES[name]()).run().to_json()
    assert a == b


def test_tiresias_preempts_and_wakes_on_the_mixed_scenario() -> None:
    sim = Simulation(mixed("fifo", 1), policy=Tiresias(threshold_gpu_hours=4, starve_limit=2.0))
    wakes: list[float] = []
    cycle = sim.engine.cycle

    def watching(now: float):  # type: ignore[no-untyped-def]
        d = cycle(now)
        if d.wake_at is not None:
            wakes.append(d.wake_at)
        return d

    sim.engine.cycle = watching  # type: ignore[method-assign]
    res = sim.run()
    assert wakes and res.summary["jobs_preempted"] > 0

"""Slurm's timing, rule by rule (gpufleet.policies.slurm.timing): when the main scheduler,
the backfill scheduler and the priority recalculation act. Sources: Slurm 22.05's
controller.c ``_slurmctld_background``, proc_req.c ``_slurm_rpc_epilog_complete``,
job_scheduler.c ``_sched_agent``, backfill.c ``backfill_agent``,
priority_multifactor.c ``_decay_thread``."""

from __future__ import annotations

import pytest

from gpufleet.domain.org import Quota
from gpufleet.domain.reasons import Reason
from gpufleet.policies.slurm import SlurmBackfill, SlurmMultifactor, SlurmSetup
from gpufleet.policies.slurm.priority import slurm_int
from gpufleet.policies.slurm.timing import MainPasses, Ticks, main_passes, wake_for
from gpufleet.state.jobs import JobState
from tests.support.builders import H100
from tests.support.slurm_harness import SlurmHarness


@pytest.mark.parametrize(
    ("period", "phase", "t", "before", "after", "tick"),
    [
        # ticks 1, 3, 5, ...: 4.3 lies between 3 and 5
        pytest.param(2.0, 1.0, 4.3, 3.0, 5.0, False, id="period-2-phase-1-between-ticks"),
        # 5 is a tick: it is its own tick before and after
        pytest.param(2.0, 1.0, 5.0, 5.0, 5.0, True, id="period-2-phase-1-on-a-tick"),
        # phase 24.5, period 60: ..., -35.5, 24.5, ...; 0 lies between
        pytest.param(60.0, 24.5, 0.0, -35.5, 24.5, False, id="_decay_thread-phase-before-now"),
        # 0.1 + 3 x 0.1 in floating point is 0.30000000000000004: still the tick 0.3
        pytest.param(0.1, 0.0, 0.1 + 2 * 0.1, 0.3, 0.3, True, id="float-sums-match-a-tick"),
    ],
)
def test_ticks_fall_at_phase_plus_whole_periods(
    period: float, phase: float, t: float, before: float, after: float, tick: bool
) -> None:
    ticks = Ticks(period, phase)
    assert ticks.at_or_before(t) == pytest.approx(before)
    assert ticks.at_or_after(t) == pytest.approx(after)
    assert ticks.is_tick(t) is tick


@pytest.mark.parametrize(
    ("passes", "cycles", "ran"),
    [
        # at events (proc_req.c _slurm_rpc_epilog_complete -> schedule(false)): every cycle
        pytest.param(
            MainPasses(Ticks(60.0), at_events=True),
            [0.0, 5.0, 5.5],
            [True, True, True],
            id="_slurm_rpc_epilog_complete-every-event-passes",
        ),
        # _sched_agent: a request runs once sched_min_interval has passed since the last
        # pass: min 10 s, passes at 0 and 12; 5 is too soon (0 + 10 > 5)
        pytest.param(
            MainPasses(Ticks(60.0), at_events=True, min_interval_s=10.0),
            [0.0, 5.0, 12.0],
            [True, False, True],
            id="_sched_agent-sched_min_interval-10-spaces-passes",
        ),
        # periodic only (_slurmctld_background, sched_interval 2, phase 0): the first cycle,
        # then 4 and 6 are ticks; 5 is not
        pytest.param(
            MainPasses(Ticks(2.0), at_events=False),
            [0.0, 4.0, 5.0, 6.0],
            [True, True, False, True],
            id="_slurmctld_background-sched_interval-2-ticks-only",
        ),
        # at events with delay 1 (half a 2 s interval of unknown phase; ticks moved out of
        # the way at 60 s): the event at 5 asks for a pass at 6; 5.5 shares it; 6 runs it
        pytest.param(
            MainPasses(Ticks(60.0, 30.0), at_events=True, delay_s=1.0),
            [0.0, 5.0, 5.5, 6.0],
            [True, False, False, True],
            id="event-pass-delayed-half-an-interval",
        ),
    ],
)
def test_the_main_scheduler_runs_at_its_passes(
    passes: MainPasses, cycles: list[float], ran: list[bool]
) -> None:
    assert [passes.due(t) for t in cycles] == ran


def test_a_cycle_without_a_pass_asks_to_be_woken_at_the_next_one() -> None:
    # periodic only, interval 2, phase 1: a cycle at 4.2 ran no pass -> wake at 5; the
    # next recalculation at 30 -> the first tick at or after it, 31, is later
    passes = MainPasses(Ticks(2.0, 1.0), at_events=False)
    assert wake_for(passes, main_ran=False, now_s=4.2, recalc_next_s=30.0) == 5.0
    # a pass ran now: only the recalculation's tick remains
    assert wake_for(passes, main_ran=True, now_s=4.2, recalc_next_s=30.0) == 31.0
    # at events with sched_min_interval 10 after a pass at 0: the spaced pass at 10
    spaced = MainPasses(Ticks(60.0), at_events=True, min_interval_s=10.0, last_s=0.0)
    assert wake_for(spaced, main_ran=False, now_s=5.0, recalc_next_s=None) == 10.0


def test_slurm_defaults_pass_at_events_every_60_s() -> None:
    # slurm.conf(5) for 22.05: sched_interval 60, sched_min_interval 2 (microseconds)
    passes = main_passes(None, None, None)
    assert (passes.interval.period_s, passes.at_events, passes.min_interval_s) == (
        60.0,
        True,
        2e-6,
    )


def _one_node_handover(setup: SlurmSetup) -> tuple[float | None, float | None]:
    """One 8-GPU node: A (8 GPUs, 5 s of work) starts at 0, B (8 GPUs) waits; A ends at
    5 s. Returns the wake-up the cycle at 5 asked for and B's start (the simulator's
    wake-up run when asked)."""
    s = SlurmHarness(SlurmMultifactor(setup=setup), nodes=[8])
    s.submit("a", 8, work_s=5.0)
    b = s.submit("a", 8, work_s=100.0)
    s.h.cycle(0.0)
    s.h.finish(next(iter(s.running_jobs())), 5.0)
    asked = s.h.cycle(5.0).wake_at
    if b.state == JobState.PENDING and asked is not None:
        s.h.state.dirty.update(s.h.engine.wake_cohorts)  # as the simulator does at wake_at
        s.h.cycle(asked)
    return asked, b.start_s if b.state == JobState.RUNNING else None


@pytest.mark.parametrize(
    ("setup", "start"),
    [
        # at events (the default): B starts when A's GPUs free, at 5
        pytest.param(SlurmSetup(), 5.0, id="_slurm_rpc_epilog_complete-starts-at-the-end"),
        # periodic passes only, every 2 s from 0: A ends at 5, the next pass is 6
        pytest.param(
            SlurmSetup(sched_interval_s=2.0, sched_at_events=False),
            6.0,
            id="_slurmctld_background-sched_interval-2-starts-at-the-next-tick",
        ),
        # the same with the passes at 1, 3, 5, ...: 5 is a pass
        pytest.param(
            SlurmSetup(sched_interval_s=2.0, sched_at_events=False, sched_phase_s=1.0),
            5.0,
            id="_slurmctld_background-phase-1-5-is-a-tick",
        ),
        # at events, each pass 1.5 s after its event: A ends at 5, B starts at 6.5
        pytest.param(SlurmSetup(sched_delay_s=1.5), 6.5, id="event-pass-delayed-1.5-starts-at-6.5"),
    ],
)
def test_a_freed_node_is_taken_at_the_main_schedulers_next_pass(
    setup: SlurmSetup, start: float
) -> None:
    asked, got = _one_node_handover(setup)
    assert got == start
    # the cycle at 5 asks for the pass it waits for (6), or nothing once B started
    assert asked == (start if start > 5.0 else None)


def two_programs(phase: float | None) -> list[str]:
    """Programs a and b (Share 1 each) on one 8-GPU node, fair-share weight only, calc
    period 300 s: a1 (a, 8 GPUs) runs 0-100 s; at 10 s a2 (a) and b1 (b) arrive. The
    programs in start order after a1's end."""
    setup = SlurmSetup(weight_fairshare=10000.0, calc_period_s=300.0, calc_phase_s=phase)
    programs: dict[str, tuple[str, float, dict[str, Quota]]] = {
        "a": ("ea", 1.0, {H100: Quota(8)}),
        "b": ("eb", 1.0, {H100: Quota(8)}),
    }
    s = SlurmHarness(SlurmMultifactor(setup=setup), nodes=[8], programs=programs)
    s.submit("a", 8, work_s=100)
    s.h.cycle(0)
    a2 = s.submit("a", 8, at=10, work_s=100)
    b1 = s.submit("b", 8, at=10, work_s=100)
    s.h.cycle(10)
    s.advance()  # a1 ends at 100
    return [j.spec.program for j in (a2, b1) if j.state == JobState.RUNNING]


@pytest.mark.parametrize(
    ("phase", "first"),
    [
        # passes at the first cycle and every 300 s after: none between 0 and 100, a and b
        # tie (no usage at 0), a2 came first
        pytest.param(None, "a", id="_decay_thread-phase-of-the-first-cycle"),
        # passes at 90 + k x 300 (slurmctld started at -210): the pass at 90 sees a's
        # 8 x 90 = 720 GPU-s and b's 0, so LF b = inf > LF a and b1 starts at 100
        pytest.param(90.0, "b", id="_decay_thread-phase-from-BOOT_TIME-recalculates-at-90"),
        # passes at 150 + k x 300: the last before 100 is -150, nothing recalculates by 100
        pytest.param(150.0, "a", id="_decay_thread-phase-150-no-pass-by-100"),
    ],
)
def test_the_recalculation_follows_slurms_own_rhythm(phase: float | None, first: str) -> None:
    assert two_programs(phase) == [first]


def test_backfill_passes_follow_their_phase() -> None:
    # backfill.c backfill_agent: a pass every bf_interval (30 s) from the last one. With the
    # phase 20 (the last pass at -10, sdiag's "Last cycle when"), the first cycle at 0
    # runs none and asks to be woken at 20. One 8-GPU node: R (4 GPUs) to 1000 s, T (8)
    # blocked; K (4 GPUs, limit 10) fits and ends by T's start: started at 20, not at 0.
    pol = SlurmBackfill(setup=SlurmSetup(weight_qos=1000.0), bf_resolution_s=1, bf_phase_s=20)
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 4, priority=50, work_s=1000, limit_s=1000)
    s.submit("a", 8, priority=20, work_s=100, limit_s=100)
    k = s.submit("a", 4, priority=10, work_s=10, limit_s=10)
    d = s.h.cycle(0)
    assert k.state == JobState.PENDING and d.wake_at == 20.0
    s.h.state.dirty.update(s.h.engine.wake_cohorts)
    s.h.cycle(20)
    assert (k.state, k.start_s) == (JobState.RUNNING, 20.0)


def test_between_main_passes_only_the_backfill_pass_starts_jobs() -> None:
    # Main passes every 60 s only (sched_at_events false), backfill every 5 s. One 8-GPU
    # node: R (4 GPUs) runs to 1000 s, T (8 GPUs) waits for it. K (4 GPUs, limit 10)
    # arrives at 7: no main pass at 7 (the next is 60), but a backfill pass is due (0 + 5
    # <= 7); it plans T at 1000 and starts K, which ends by then. T keeps its reason
    # (capacity), given by the backfill pass since no main pass ran.
    setup = SlurmSetup(weight_qos=1000.0, sched_interval_s=60.0, sched_at_events=False)
    pol = SlurmBackfill(setup=setup, bf_interval_s=5, bf_resolution_s=1)
    s = SlurmHarness(pol, nodes=[8])
    s.submit("a", 4, priority=50, work_s=1000, limit_s=1000)
    t = s.submit("a", 8, priority=20, work_s=100, limit_s=100)
    s.h.cycle(0)
    k = s.submit("a", 4, priority=10, work_s=10, limit_s=10, at=7)
    d = s.h.cycle(7)
    assert not pol.main_now and (k.state, k.start_s) == (JobState.RUNNING, 7.0)
    assert (t, Reason.CAPACITY) in d.blocked


@pytest.mark.parametrize(
    ("value", "held"),
    [
        # _get_priority_internal: "if (priority < 1) priority = 1", then (uint32_t)priority
        pytest.param(1000.9999, 1000.0, id="_get_priority_internal-uint32_t-drops-the-fraction"),
        pytest.param(0.4, 1.0, id="_get_priority_internal-priority-0-is-reserved-for-held-jobs"),
        pytest.param(3333.0, 3333.0, id="_get_priority_internal-a-whole-number-stays"),
    ],
)
def test_priorities_are_whole_numbers_as_slurm_keeps_them(value: float, held: float) -> None:
    assert slurm_int(value) == held


def test_jobs_whose_priorities_differ_by_less_than_one_go_in_submit_order() -> None:
    # One 8-GPU node, PriorityWeightQOS 1000 (both jobs' QOS factor 1) and
    # PriorityWeightJobSize 1 (factor GPUs / 8), recalculations every 300 s from 0. R (8
    # GPUs) runs 0-100 s; A (6 GPUs) is queued at 10 s, B (7 GPUs) at 20 s, each priority
    # set at submission (age 0): A 1000 + 6 / 8 = 1000.75, B 1000 + 7 / 8 = 1000.875. As
    # floats B would go first; Slurm keeps (uint32_t) 1000 for both, and
    # job_scheduler.c sort_job_queue2 orders the tie by submit time: A starts when R ends.
    setup = SlurmSetup(weight_qos=1000.0, weight_job_size=1.0, calc_period_s=300.0)
    s = SlurmHarness(SlurmMultifactor(setup=setup), nodes=[8])
    s.submit("a", 8, priority=10, work_s=100)
    s.h.cycle(0)
    a = s.submit("a", 6, priority=10, at=10, work_s=60)
    s.h.cycle(10)
    b = s.submit("a", 7, priority=10, at=20, work_s=60)
    s.h.cycle(20)
    s.advance()
    assert a.state == JobState.RUNNING and a.start_s == 100.0
    assert b.state == JobState.PENDING

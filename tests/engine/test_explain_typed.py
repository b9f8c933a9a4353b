"""The engine's explanations as data: frozen dataclasses with dates as dates, read from a
host's state and policy, the reservation reported by the policy itself."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gpufleet.domain.reasons import Reason
from gpufleet.engine.explain import (
    NOT_LOOKED_AT,
    DoneJob,
    Finished,
    HeldFor,
    LiveJob,
    RunAt,
    explain_job,
    explain_program,
)
from gpufleet.errors import InternalError
from gpufleet.policies.base import ReservedStart
from gpufleet.policies.slurm import SlurmBackfillEasy
from tests.support.builders import Harness
from tests.support.slurm_harness import SlurmHarness

T0 = datetime(2025, 1, 1)


class NoHistory:
    """A host that recorded no finished job."""

    def finished(self, job_id: int) -> Finished | None:
        return None


class OneFinished:
    """A host that recorded job 7: program a, 2 GPUs, submitted at 60 s, ran 120 s to 3720 s."""

    def finished(self, job_id: int) -> Finished | None:
        return Finished("a", 2, 60.0, 120.0, 3720.0) if job_id == 7 else None


def backfill_with_a_held_job() -> tuple[SlurmBackfillEasy, SlurmHarness, list[int]]:
    # One 8-GPU node. R (4 GPUs, limit 100 s) runs; top (8 GPUs) cannot start and reserves
    # R's end, 0 + 100 = 100 s; K (4 GPUs, limit 200 s) fits now but would hold GPUs past
    # 100 s, so it is held for that reservation (tests/policies/test_backfill_reason.py).
    pol = SlurmBackfillEasy(
        weight_age=0.0,
        weight_fairshare=0.0,
        weight_job_size=0.0,
        weight_partition=0.0,
        weight_qos=1000.0,
    )
    s = SlurmHarness(pol, nodes=[8])
    r = s.submit("a", 4, work_s=100, limit_s=100, priority=50)
    s.h.cycle(0)
    top = s.submit("a", 8, priority=10, work_s=100, limit_s=100)
    k = s.submit("a", 4, priority=1, work_s=40, limit_s=200)
    s.h.cycle(0)
    return pol, s, [r.spec.id, top.spec.id, k.spec.id]


def test_the_backfill_policy_reports_its_reservation_and_others_report_none() -> None:
    pol, _, (_, top, _) = backfill_with_a_held_job()
    assert pol.reservation("c") == ReservedStart(top, 100.0)
    assert pol.reservation("no-such-cohort") is None
    assert Harness("fifo").engine.policy.reservation("c") is None


def test_a_held_job_names_the_top_job_and_its_reserved_start_as_a_date() -> None:
    pol, s, (_, top, k) = backfill_with_a_held_job()
    run = RunAt(s.h.state, pol, T0, 0.0, 3)
    held = explain_job(run, NoHistory(), k)
    assert isinstance(held, LiveJob) and held.pending is not None
    assert held.pending.reason == Reason.HELD_FOR_BACKFILL
    # reserved start: T0 + 100 s
    assert held.pending.held_for == HeldFor(top, T0 + timedelta(seconds=100))
    assert held.pending.reserved_start is None
    # R runs, so only top (8 GPUs) is ahead of K in the program's queue: position 2
    assert (held.pending.program_queue_position, held.pending.ahead_gpus) == (2, 8)
    first = explain_job(run, NoHistory(), top)
    assert isinstance(first, LiveJob) and first.pending is not None
    assert first.pending.reserved_start == T0 + timedelta(seconds=100)
    assert first.pending.held_for is None


def test_a_running_job_says_where_and_since_when() -> None:
    pol, s, (r, _, _) = backfill_with_a_held_job()
    e = explain_job(RunAt(s.h.state, pol, T0, 0.0, 3), NoHistory(), r)
    assert isinstance(e, LiveJob)
    assert (e.state, e.started, e.running_on, e.pending) == ("running", T0, "H100-SXM at dc", None)


def test_a_finished_job_comes_from_the_hosts_record_with_dates() -> None:
    h = Harness("fifo")
    run = RunAt(h.state, h.engine.policy, T0, 7200.0, 8)
    e = explain_job(run, OneFinished(), 7)
    # submit 60 s, start 120 s, finish 3720 s = 1 h 2 min after T0; at 7200 s = 2 h
    assert e == DoneJob(
        7,
        T0 + timedelta(hours=2),
        "a",
        2,
        T0 + timedelta(seconds=60),
        T0 + timedelta(seconds=120),
        T0 + timedelta(seconds=3720),
    )


def test_a_submitted_job_neither_live_nor_recorded_is_an_internal_error() -> None:
    h = Harness("fifo")
    with pytest.raises(InternalError, match="job 3"):
        explain_job(RunAt(h.state, h.engine.policy, T0, 0.0, 4), NoHistory(), 3)


def test_a_programs_queue_counts_reasons_most_first() -> None:
    # Nodes [8, 8] under strict FIFO: job 0 (16 GPUs) takes both; jobs 1 and 2 wait, 1 for
    # capacity and 2 behind it; job 3 arrives after the cycle and has no reason yet.
    h = Harness("fifo")
    h.submit("a", 16)
    h.submit("a", 4)
    h.submit("a", 4)
    h.cycle(0)
    h.submit("a", 1)
    e = explain_program(RunAt(h.state, h.engine.policy, T0, 0.0, 4), h.state.program_by_name["a"])
    assert (e.pending, e.running) == (3, 1)
    # counts: behind 1, capacity 1, none 1; ties by code: "" < blocked... < not-enough...
    assert e.pending_by_reason == (
        ("", 1),
        (str(Reason.BEHIND), 1),
        (str(Reason.CAPACITY), 1),
    )
    assert [j.id for j in e.jobs] == [1, 2, 3]
    assert e.jobs[2].sentence == NOT_LOOKED_AT

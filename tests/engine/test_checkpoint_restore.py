"""Checkpoint/restart in the engine: what a preempted job keeps, and the restore a resumed
job spends before new work (hand-computed on one 8-GPU node under SRTF)."""

from __future__ import annotations

from gpufleet.policies.research.srtf import Srtf
from tests.support.builders import Harness

H = 3600.0


def srtf_on_one_node() -> Harness:
    h = Harness("fifo", nodes=[8])
    h.engine.policy = Srtf()
    return h


def test_a_resumed_job_restores_first_then_runs_what_its_checkpoints_kept() -> None:
    # A 10 h job (checkpoint every 1 h, restore 600 s) runs from 0; a 1 h job arrives at
    # 2.5 h and preempts it: kept floor(2.5 h / 1 h) * 1 h = 2 h, lost 0.5 h = 1800 s.
    h = srtf_on_one_node()
    long = h.submit("a", 8, work_s=10 * H, checkpoint_s=H, restore_s=600.0)
    h.cycle(0)
    short = h.submit("a", 8, work_s=H, at=2.5 * H)
    h.cycle(2.5 * H)
    assert long.remaining_s == 8 * H
    assert h.rec.stops[-1] == (long.spec.id, 2.5 * H, 1800.0, False)
    h.finish(short, 3.5 * H)
    h.cycle(3.5 * H)
    # resumed: 600 s of restore, then the 8 h left
    assert h.rec.launched[-1] == (long.spec.id, 3.5 * H, 600.0 + 8 * H)
    assert long.restoring_s == 600.0


def test_checkpoints_count_from_the_end_of_the_restore() -> None:
    # Resumed at 3.5 h with 600 s of restore, preempted again 1 h 50 min later: it worked
    # 6600 - 600 = 6000 s, so one checkpoint (1 h) is kept and 2400 s are lost.
    h = srtf_on_one_node()
    long = h.submit("a", 8, work_s=10 * H, checkpoint_s=H, restore_s=600.0)
    h.cycle(0)
    short = h.submit("a", 8, work_s=H, at=2.5 * H)
    h.cycle(2.5 * H)
    h.finish(short, 3.5 * H)
    h.cycle(3.5 * H)
    t = 3.5 * H + 6600
    h.submit("a", 8, work_s=60.0, at=t)
    h.cycle(t)
    assert long.remaining_s == 7 * H
    assert h.rec.stops[-1] == (long.spec.id, 6000.0, 2400.0, False)


def test_a_job_that_kept_nothing_starts_afresh_without_a_restore() -> None:
    # No checkpoint interval: the preempted job restarts from zero, so nothing to restore.
    h = srtf_on_one_node()
    long = h.submit("a", 8, work_s=10 * H, restore_s=600.0)
    h.cycle(0)
    short = h.submit("a", 8, work_s=H, at=2.5 * H)
    h.cycle(2.5 * H)
    h.finish(short, 3.5 * H)
    h.cycle(3.5 * H)
    assert h.rec.launched[-1] == (long.spec.id, 3.5 * H, 10 * H)
    assert long.restoring_s == 0.0

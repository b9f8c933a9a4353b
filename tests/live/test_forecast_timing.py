"""Slurm's timing and backfill plan in the live forecast (issue 18, items 3 and 4), on
outputs recorded from the real dev cluster: the recalculations' phase from ``BOOT_TIME``,
``sched_interval`` given to the policy, and whole validation runs replayed
(tests/live/samples/forecast-seed-12 and forecast-seed-12-b, recorded by
``bench/forecast_validation.py --record``: the state at release and the starts Slurm then
reported)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.domain.scenario import OptionValue, PolicySpec
from gpufleet.live.forecast import read_slurm_state
from gpufleet.live.forecast_compare import agreement
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.forecast_setup import boot_time, calc_phase_s
from gpufleet.live.slurm.model import SlurmConfig
from tests.live.forecast_workload import load_scene, replay_starts
from tests.live.replay import READ_AT, cli_client

SCENE = Path(__file__).parent / "samples" / "forecast-seed-12"
# the same seed recorded on 2026-12-07 at 00:20 UTC (slurmctld up since 2026-12-06 21:05)
SCENE_B = Path(__file__).parent / "samples" / "forecast-seed-12-b"


@pytest.fixture
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """scontrol prints BOOT_TIME in the cluster's local time; the recordings were made
    where that is UTC, so the tests read them as this machine would there."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_recalculations_fall_at_boot_time_plus_whole_periods(utc_local_time: None) -> None:
    # priority_multifactor.c _decay_thread: passes at slurmctld's start + k x
    # PriorityCalcPeriod. BOOT_TIME 18:10:28, period 60 s, now 18:12:00: boot - now =
    # -92 s, -92 mod 60 = 28, so passes at 18:12:28 (18:10:28 + 2 min) and every minute
    config = read_slurm_state(cli_client()).config
    assert boot_time(config) == datetime(2026, 12, 6, 18, 10, 28, tzinfo=UTC)
    assert calc_phase_s(config, READ_AT) == 28.0
    assert calc_phase_s(config, READ_AT + timedelta(seconds=30)) == 58.0
    assert calc_phase_s(config, None) is None
    no_boot = replace(config, raw={k: v for k, v in config.raw.items() if k != "BOOT_TIME"})
    assert calc_phase_s(no_boot, READ_AT) is None


def test_sched_interval_is_given_to_the_policy_not_listed_as_left_out() -> None:
    # SchedulerParameters=sched_interval=2,bf_interval=5,...: both reach slurm-backfill
    choice = choose_policy(read_slurm_state(cli_client()).config)
    options = dict(choice.spec.options)
    assert options["sched_interval_s"] == 2.0 and options["bf_interval_s"] == 5.0
    assert not any(m.startswith("sched_interval") for m in choice.not_modelled)


def _spec_with(config: SlurmConfig, **changed: OptionValue) -> PolicySpec:
    """The live forecast's policy for a recorded run, with ``changed`` options."""
    spec = choose_policy(config, slurm_fairshare=True).spec
    return PolicySpec(spec.name, tuple(sorted({**dict(spec.options), **changed}.items())))


def test_a_recorded_run_replayed_orders_starts_as_slurm_did(utc_local_time: None) -> None:
    # Seed 12, recorded 21:08:43 UTC, slurmctld up since 21:05:08: Slurm recalculated
    # 24.5 s after release (21:09:08), when xai's usage was small against tesla's, and from
    # then on started xai's jobs first. With Slurm's timing (recalculations from
    # BOOT_TIME) the forecast agrees at tau-b 0.964 (measured; its remaining
    # disagreements are mostly xai's jobs racing for its 4-GPU cap within a second);
    # recalculating at its own phase (release + k x 60 s) and starting at every job end,
    # as before the timing was modelled, it agrees at 0.905 (0.880 the day it was
    # recorded, before backfill planned whole nodes).
    scene = load_scene(SCENE)
    timed = agreement(replay_starts(scene), scene.actual, timed=True)
    assert timed.jobs == 80
    assert timed.tau >= 0.95, timed
    assert timed.median_error_s is not None and timed.median_error_s <= 5.0, timed
    before = _spec_with(scene.state.config, calc_phase_s=0.0, sched_at_events=True)
    untimed = agreement(replay_starts(scene, policy=before), scene.actual, timed=True)
    assert untimed.tau < 0.92 and timed.tau - untimed.tau > 0.04, (untimed, timed)


def test_planned_jobs_holding_whole_nodes_order_a_recorded_run_as_slurm_did(
    utc_local_time: None,
) -> None:
    # backfill.c _add_reservation: a planned job takes its nodes whole from node_space
    # (tests/policies/test_slurm_backfill_plan.py has the rule alone). In this run job 13
    # (tesla, 1 GPU, sleep 3) started 15.2 s after release: the GPU-count plan backfilled
    # it at 6 s onto a node with one free GPU that higher jobs were planned on; with whole
    # nodes it waits to 15 s. Jobs 78 and 81 (1 and 2 GPUs) started at 145.2 and 153.2 s:
    # the GPU-count plan had them at 112 and 151 s, whole nodes at 143 and 153 s.
    # Measured: tau-b 0.914 (median error 2.2 s) with GPU counts, 0.966 (1.8 s) with
    # whole nodes.
    scene = load_scene(SCENE_B)
    whole = replay_starts(scene)
    counts = replay_starts(scene, policy=_spec_with(scene.state.config, bf_whole_nodes=False))
    assert abs(whole[13] - scene.actual[13]) < 1.0 < scene.actual[13] - counts[13]
    assert whole[78] > counts[78] and whole[81] > counts[81]
    by_whole = agreement(whole, scene.actual, timed=True)
    by_counts = agreement(counts, scene.actual, timed=True)
    assert by_whole.jobs == by_counts.jobs == 80
    assert by_counts.tau < 0.93 < 0.95 <= by_whole.tau, (by_counts, by_whole)
    assert by_whole.median_error_s is not None and by_whole.median_error_s <= 5.0

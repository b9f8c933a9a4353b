"""Slurm's timing in the live forecast (issue 18, item 4), on outputs recorded from the
real dev cluster: the recalculations' phase from ``BOOT_TIME``, ``sched_interval`` given to
the policy, and a whole validation run replayed (tests/live/samples/forecast-seed-12,
recorded by ``bench/forecast_validation.py --record``: the state at release and the
starts Slurm then reported)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.domain.scenario import PolicySpec
from gpufleet.live.forecast import read_slurm_state
from gpufleet.live.forecast_compare import agreement
from gpufleet.live.forecast_policy import choose_policy
from gpufleet.live.forecast_setup import boot_time, calc_phase_s
from tests.live.forecast_workload import load_scene, replay_starts
from tests.live.replay import READ_AT, cli_client

SCENE = Path(__file__).parent / "samples" / "forecast-seed-12"


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


def test_a_recorded_run_replayed_orders_starts_as_slurm_did(utc_local_time: None) -> None:
    # Seed 12, recorded 21:08:43 UTC, slurmctld up since 21:05:08: Slurm recalculated
    # 24.5 s after release (21:09:08), when xai's usage was small against tesla's, and from
    # then on started xai's jobs first. With Slurm's timing (recalculations from
    # BOOT_TIME) the forecast agrees at tau-b 0.970
    # (measured); recalculating at its own phase (release + k x 60 s) and starting at every
    # job end, as before the timing was modelled, it agreed at 0.880 (the live run's
    # figure that day).
    scene = load_scene(SCENE)
    timed = agreement(replay_starts(scene), scene.actual, timed=True)
    assert timed.jobs == 80
    assert timed.tau >= 0.95, timed
    assert timed.median_error_s is not None and timed.median_error_s <= 5.0, timed
    spec = choose_policy(scene.state.config, slurm_fairshare=True).spec
    before = PolicySpec(
        spec.name,
        tuple(sorted({**dict(spec.options), "calc_phase_s": 0.0, "sched_at_events": True}.items())),
    )
    untimed = agreement(replay_starts(scene, policy=before), scene.actual, timed=True)
    assert untimed.tau < 0.9 < timed.tau, (untimed, timed)

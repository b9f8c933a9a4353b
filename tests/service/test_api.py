"""The notebook API and the CLI's progress bar."""

from __future__ import annotations

import io

import gpufleet
from gpufleet.cli.common import ProgressBar
from tests.support.scenarios import mixed


def test_simulate_accepts_a_path_a_variant_a_policy_and_a_seed() -> None:
    res = gpufleet.simulate(gpufleet.article_scenario_path(), variant="move", policy="fifo", seed=5)
    assert res.policy == "fifo"
    assert res.seed == 5
    assert res.scenario == "article-tesla-xai [move]"
    assert res.entities["xai"]["gpus_owned_at_end"] == 22_000


def test_a_progress_callback_sees_the_run_finish() -> None:
    seen: list[float] = []
    gpufleet.simulate(mixed("fifo", 1), progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_the_progress_bar_stays_silent_for_short_runs_and_draws_for_long_ones() -> None:
    quiet = io.StringIO()
    bar = ProgressBar("run", quiet, after_s=60, force=True)
    bar(0.5)
    bar.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    ticks = iter([0.0, 10.0])  # started at 0 s, half done at 10 s
    bar = ProgressBar("run", loud, after_s=0, force=True, clock=lambda: next(ticks))
    bar(0.5)
    bar.close()
    # rate 50% / 10 s = 5%/s; left 10 s x (1 - 0.5) / 0.5 = 10 s
    assert loud.getvalue() == (
        "\rrun [###############...............]  50.0% 5%/s, 10s left\x1b[K\n"
    )


def test_the_bar_is_off_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar("run", out, after_s=0)
    bar(1.0)
    assert out.getvalue() == ""

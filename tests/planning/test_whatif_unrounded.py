"""The what-if statistics run on each run's exact figures, and round once, in JSON."""

from __future__ import annotations

from datetime import datetime

from gpufleet.planning.sweep.execution import run_task
from gpufleet.planning.whatif.compare import compare
from tests.support.scenarios import one_site

ONE_JOB = """      - name: p
        quotas: {{H100-SXM: {{nominal: 16}}}}
        workload:
          jobs: [{{submit: 2025-01-01, gpus: 8, duration_hours: 24,
                   gpu_types: [{gtype}], checkpoint_hours: 1}}]
        milestone: {{name: m, gpu_hours: 100, due: 2025-01-02}}"""
A100_POOL = "  - {name: pool, site: dc, gpu_type: A100-80GB, nodes: 1, owner: e}"


def test_the_milestone_shift_is_the_difference_of_exact_delays_not_of_rounded_ones() -> None:
    # 100 GPU-hours by Jan 2 with one 8-GPU job from Jan 1:
    #   on H100 (throughput 1): 100 / 8 = 12.5 h, i.e. 11.5 h early = -0.4791666 days;
    #   on A100 (1/3): 100 / (8/3) = 37.5 h, i.e. 13.5 h late = 0.5625 days.
    # The shift is 37.5 h - 12.5 h = 25 h = 25/24 = 1.0416666 days -> 1.0417 in JSON.
    # Rounding each run's delay first (-0.48 and 0.56, as a run's JSON prints them) would
    # give 0.56 - (-0.48) = 1.04.
    h100 = one_site(programs=ONE_JOB.format(gtype="H100-SXM"))
    a100 = one_site(programs=ONE_JOB.format(gtype="A100-80GB"), pools=A100_POOL)
    c = compare("h100", {"h100": h100, "a100": a100}, [1])
    shift = c.deltas("a100").programs["p"]["milestone_delay_days"]
    assert abs(shift.mean - 25 / 24) < 1e-12
    d = c.to_dict()
    assert d["deltas"]["a100"]["programs"]["p"]["milestone_delay_days"]["mean"] == 1.0417
    assert d["arms"]["h100"]["programs"]["p"]["milestone_delay_days"]["mean"] == -0.4792
    # the milestone's dates stay dates until the JSON writes them
    ms = c.arm("a100").milestones["p"]
    assert ms.due == datetime(2025, 1, 2)
    assert ms.reached == [datetime(2025, 1, 2, 13, 30)]
    assert d["arms"]["a100"]["milestones"]["p"]["reached"] == ["2025-01-02T13:30:00"]


def test_an_arm_averages_exact_gpu_hours_not_the_one_decimal_a_run_prints() -> None:
    # One 8-GPU job of 1,000 s: 8 x 1000 / 3600 = 2.2222... GPU-hours used by entity e,
    # in every seed (one job, no randomness). A run's JSON prints 2.2; the arm's mean over
    # two seeds is the exact 2.2222..., written with four decimals: 2.2222.
    sc = one_site(programs=ONE_JOB.format(gtype="H100-SXM").replace("24,", f"{1000 / 3600},"))
    c = compare("base", {"base": sc, "same": sc}, [1, 2])
    assert c.results["base"][0].entities["e"]["gpu_hours_used"] == 2.2
    used = c.arm("base").figures.entities["e"]["gpu_hours_used"]
    assert abs(used.mean - 8000 / 3600) < 1e-12 and used.n == 2
    d = c.to_dict()
    assert d["arms"]["base"]["entities"]["e"]["gpu_hours_used"]["mean"] == 2.2222
    # the same scenario in both arms: every paired difference is exactly 0
    assert d["deltas"]["same"]["entities"]["e"]["gpu_hours_used"]["mean"] == 0.0
    assert d["deltas"]["same"]["entities"]["e"]["gpu_hours_used"]["within_noise"] is True


def test_a_sweep_cell_reports_the_same_exact_figure_as_the_what_if() -> None:
    # The same one-job scenario on A100: the milestone is 13.5 h late = 0.5625 days
    # (37.5 h of work from Jan 1 00:00, due Jan 2 00:00), and the cost is exact; a run's
    # JSON prints 0.56. The sweep's per-run figure must be the what-if's 0.5625, so a
    # sweep cell and a what-if arm of the same scenario and seed never disagree.
    sc = one_site(programs=ONE_JOB.format(gtype="A100-80GB"), pools=A100_POOL)
    c = compare("a100", {"a100": sc}, [1])
    swept = run_task(sc, 1)
    assert swept["p.milestone_delay_days"] == 13.5 / 24
    arm = c.arm("a100").figures
    assert swept["p.milestone_delay_days"] == arm.programs["p"]["milestone_delay_days"].mean
    assert swept["e.cost_usd"] == arm.entities["e"]["cost_usd"].mean
    assert swept["fleet.utilisation"] == arm.fleet["utilisation"].mean

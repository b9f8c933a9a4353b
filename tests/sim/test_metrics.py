"""A run's typed figures: unrounded, dates as datetime; rounded and ISO only in to_dict."""

from __future__ import annotations

from datetime import datetime

from gpufleet.domain.scenario import Scenario
from gpufleet.sim.simulator import Simulation
from tests.support.scenarios import one_site

ONE_JOB = """      - name: p
        quotas: {{H100-SXM: {{nominal: 16}}}}
        workload:
          jobs: [{{submit: 2025-01-01, gpus: 8, duration_hours: {hours},
                   gpu_types: [{gtype}], checkpoint_hours: 1}}]
        milestone: {{name: m, gpu_hours: {ms}, due: 2025-01-02}}"""
A100_POOL = "  - {name: pool, site: dc, gpu_type: A100-80GB, nodes: 1, owner: e}"


def one_job(gtype: str = "H100-SXM", ms: float = 100, hours: float = 24) -> Scenario:
    pools = A100_POOL if gtype == "A100-80GB" else ""
    return one_site(programs=ONE_JOB.format(gtype=gtype, ms=ms, hours=hours), pools=pools)


def test_a_late_milestone_keeps_its_exact_delay_and_dates_until_the_json_edge() -> None:
    # 100 GPU-hours at 8 A100s of throughput 1/3: 8/3 reference GPU-hours per hour, so
    # 37.5 h: Jan 2 13:30, 13.5 h after the due date = 13.5 / 24 = 0.5625 days late.
    res = Simulation(one_job("A100-80GB")).run()
    ms = res.metrics.programs["p"].milestone
    assert ms is not None
    assert ms.reached == datetime(2025, 1, 2, 13, 30)
    assert ms.due == datetime(2025, 1, 2)
    assert ms.delay_days == 0.5625
    assert ms.to_dict()["delay_days"] == 0.56  # two decimals, only in JSON
    assert ms.to_dict()["reached"] == "2025-01-02T13:30:00"


def test_a_milestone_not_reached_counts_at_the_horizon_when_censored() -> None:
    # 10,000 GPU-hours cannot be done in 5 days on 16 GPUs: not reached. Counted at the
    # horizon (Jan 1 + 5 days = Jan 6), it is Jan 6 - Jan 2 = 4 days late.
    res = Simulation(one_job(ms=10_000)).run()
    ms = res.metrics.programs["p"].milestone
    assert ms is not None and ms.reached is None and ms.delay_days is None
    assert res.end == datetime(2025, 1, 6)
    assert ms.delay_days_censored(res.end) == 4.0
    # done: 8 GPUs x 24 h = 192 of 10,000 GPU-hours = 0.0192
    assert ms.done_fraction == 192 / 10_000


def test_figures_stay_unrounded_and_the_json_rounds_them() -> None:
    # A 1,000 s job (1000 / 3600 h) on 8 GPUs: 8,000 / 3,600 = 2.2222... GPU-hours
    # received; the JSON keeps one decimal (2.2) and the mean JCT two (1000.0 s).
    res = Simulation(one_job(hours=1000 / 3600)).run()
    p = res.metrics.programs["p"]
    assert p.gpu_hours_received == 8000 / 3600
    assert res.programs["p"]["gpu_hours_received"] == 2.2
    assert p.jct_s.mean == 1000.0
    # entitled: a 16-GPU quota over 5 days = 1,920 GPU-hours; ratio 2.2222 / 1920
    assert p.received_over_entitled == (8000 / 3600) / 1920
    assert res.programs["p"]["received_over_entitled"] == round((8000 / 3600) / 1920, 4)


def test_the_json_views_are_the_typed_figures_rounded() -> None:
    # The dict views and to_dict are the same JSON: one source, no second computation.
    res = Simulation(one_job()).run()
    d = res.to_dict()
    assert d["programs"] == {k: m.to_dict() for k, m in res.metrics.programs.items()}
    assert d["entities"] == {k: e.to_dict() for k, e in res.metrics.entities.items()}
    assert d["summary"] == res.metrics.summary.to_dict()
    # 16 GPUs owned for 120 h at $2 = $3,840, the fleet's total of its one entity's line
    assert res.metrics.entities["e"].cost_usd == 3840.0
    assert d["fleet"]["cost_usd"] == 3840.0

"""The article's scenario, checked against hand calculations."""

from __future__ import annotations

from pathlib import Path

import pytest

import gpufleet
from gpufleet.sim.result import SimResult


@pytest.fixture(scope="module")
def runs() -> dict[str, SimResult]:
    sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
    return gpufleet.run_variants(sc)


def test_the_article_scenario_has_the_articles_numbers() -> None:
    sc = gpufleet.load_scenario(gpufleet.article_scenario_path())
    pool = next(p for p in sc.pools if p.name == "tesla-h100-12k")
    assert pool.gpu_count == 12_000  # ARTICLE: 12,000 H100
    assert pool.gpu_type == "H100-SXM"
    assert pool.value_usd == 500_000_000  # ARTICLE: about $500M
    assert pool.owner == "tesla"
    assert [v.name for v in sc.variants] == ["keep", "move"]
    assert sc.assumptions, "assumptions must be listed"


def test_kept_gpus_are_stranded_from_delivery_to_readiness(runs: dict[str, SimResult]) -> None:
    # 12,000 GPUs delivered 2024-06-15, hall powered 2024-10-15: 122 days
    # (15 + 31 + 31 + 30 + 15) -> 12,000 x 122 = 1,464,000 stranded GPU-days; at $1.50 per
    # GPU-hour that is 1,464,000 x 24 x 1.5 = $52,704,000.
    keep = runs["keep"].entities["tesla"]
    assert keep["stranded_gpu_days"] == 1_464_000
    assert keep["stranded_cost_usd"] == 52_704_000
    assert runs["move"].fleet["stranded_gpu_days"] == 0


def test_owned_gpu_hours_and_cost_follow_ownership(runs: dict[str, SimResult]) -> None:
    # Horizon 2024-06-01 -> 2025-03-31 = 303 days. Tesla keeps 10,000 GPUs for 303 days
    # and 12,000 from Jun 15 (289 days): 10,000 x 303 x 24 + 12,000 x 289 x 24
    # = 72,720,000 + 83,232,000 = 155,952,000 GPU-hours, x $1.50 = $233,928,000.
    assert runs["keep"].entities["tesla"]["gpu_hours_owned"] == 155_952_000
    assert runs["keep"].entities["tesla"]["cost_usd"] == 233_928_000
    # Moved on delivery, the 12,000 are xAI's instead: Tesla owns 72,720,000 GPU-hours.
    assert runs["move"].entities["tesla"]["gpu_hours_owned"] == 72_720_000
    assert runs["move"].entities["xai"]["gpu_hours_owned"] == 155_952_000


def test_moving_the_gpus_delays_tesla_and_speeds_xai(runs: dict[str, SimResult]) -> None:
    fsd_keep = runs["keep"].programs["fsd-training"]["milestone"]["delay_days"]
    fsd_move = runs["move"].programs["fsd-training"]["milestone"]["delay_days"]
    grok_keep = runs["keep"].programs["grok-pretraining"]["milestone"]["delay_days"]
    grok_move = runs["move"].programs["grok-pretraining"]["milestone"]["delay_days"]
    assert fsd_move > fsd_keep + 30
    assert grok_move < grok_keep - 30
    # no GPU work is created or destroyed by the move beyond what stranding costs: the
    # fleet uses more GPU-hours when nothing is stranded
    assert runs["move"].fleet["gpu_hours_used"] > runs["keep"].fleet["gpu_hours_used"]


def test_the_demo_prints_both_variants_side_by_side_and_writes_its_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpufleet.cli import demo
    from gpufleet.cli.main import main

    # as in a bare install (no service extra): the dashboard hint says what serve needs
    monkeypatch.setattr(demo, "_installed", lambda module: module != "fastapi")
    assert main(["demo", "--report-dir", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert f"Report: {tmp_path / 'report' / 'report.html'}" in out
    assert (tmp_path / "report" / "report.html").stat().st_size > 100_000
    assert "keep" in out and "move" in out
    assert "stranded GPU-days" in out and "1,464,000" in out
    assert "milestone reached" in out
    assert "$1.50 per owned GPU-hour" in out
    # the governed transfer, in a SQLite register beside the report (no server)
    assert (tmp_path / "report" / "demo-register.db").is_file()
    assert "Governed transfer" in out
    # fair charge: 12,000 GPUs x 289 days x 24 h x $1.50 = $124,848,000 (2024-06-15 .. 2025-03-31)
    assert "$124,848,000 owed by xai to tesla; price $0: BELOW FAIR VALUE" in out
    assert "needs 2 independent approvals" in out
    assert "may approve: tesla-independent-1, tesla-independent-2, xai-independent" in out
    assert "group-ceo: requested this transfer; is officer of tesla and officer of xai" in out
    assert "the requester's own approval was refused" in out
    assert "audit log intact" in out
    assert "(serve needs the service extra: pip install 'gpufleet[service]')" in out


def test_results_convert_to_pandas_and_polars(runs: dict[str, SimResult]) -> None:
    res = runs["move"]
    pdf = res.jobs_frame("pandas")
    assert len(pdf) == res.summary["jobs_finished"]
    assert {"queueing_delay_s", "jct_s", "slowdown", "program"} <= set(pdf.columns)
    plf = res.jobs_frame("polars")
    assert plf.height == len(pdf)
    progs = res.programs_frame()
    assert sorted(progs["program"]) == ["fsd-training", "grok-pretraining"]

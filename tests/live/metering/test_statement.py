"""The statement's figures, by hand: what xai used of tesla's GPUs priced at the agreed
price, cost-plus and market, the stranded cost it avoided, and plan versus actual."""

from __future__ import annotations

from datetime import datetime

import pytest

from gpufleet.live.metering.meter import MeterKey, MeterRecord
from gpufleet.live.metering.render import to_csv, to_html, to_json
from gpufleet.live.metering.statement import PoolFacts, TransferTerms, statement
from tests.live.metering.builders import DEC

H = 3600.0
MEMPHIS = PoolFacts("memphis-h100", "tesla", "memphis", "H100-SXM", 1.5, 2.0)
POOLS = (MEMPHIS, PoolFacts("colossus-h100", "xai", "colossus", "H100-SXM", 1.5, 2.0))


def _use(source: str, entity: str, owner: str, hours: float, jobs: int = 1) -> MeterRecord:
    pool, site = ("memphis-h100", "memphis") if owner == "tesla" else ("colossus-h100", "colossus")
    if source == "dcgm":
        pool = ""
    key = MeterKey(source, entity, entity, "p", owner, pool, site, "H100-SXM")
    return MeterRecord(key, hours * H, jobs)


def _lease(
    start: datetime, end: datetime | None, gpus: int, price: float, name: str = "lease"
) -> TransferTerms:
    # cost-plus: $2.00 x (1 + 10%); market $3.50; the assessment priced 5,760 GPU-h at
    # $2.20 = $12,672
    return TransferTerms(1, name, "active", "memphis-h100", gpus, "tesla", "xai", start, end,
                         price, 2.0, 0.10, 3.5, 5760.0, 12_672.0)  # fmt: skip


RECORDS = [
    _use("sacct", "xai", "tesla", 30.0, 2),
    _use("sacct", "xai", "tesla", 10.0, 1),  # another xai account: 40 GPU-h, 3 jobs in all
    _use("dcgm", "xai", "tesla", 30.0),
    _use("sacct", "tesla", "tesla", 500.0),  # tesla on its own GPUs: not billed to xai
    _use("sacct", "xai", "xai", 900.0),  # xai on its own: not billed
]


def test_a_lease_inside_the_month_bills_the_metered_hours_at_each_rate() -> None:
    # 8 GPUs over Dec 1 -> Dec 31 (30 days = 720 h) for $57,600: 57,600 / (8 x 720) = $10/GPU-h
    lease = _lease(datetime(2026, 12, 1), datetime(2026, 12, 31), 8, 57_600.0)
    st = statement(DEC, "tesla", "xai", RECORDS, POOLS, [lease])
    (line,) = st.lines
    assert (line.pool, line.jobs, line.gpu_hours, line.busy_gpu_hours) == (
        "memphis-h100",
        3,
        40.0,
        30.0,
    )
    assert line.agreed_usd_per_gpu_hour == pytest.approx(10.0)
    assert line.agreed_usd == pytest.approx(400.0)  # 40 x $10
    assert line.cost_plus_usd == pytest.approx(88.0)  # 40 x $2.00 x 1.10
    assert line.market_usd == pytest.approx(140.0)  # 40 x $3.50
    assert line.stranded_cost_avoided_usd == pytest.approx(60.0)  # 40 x $1.50
    # plan versus actual: 8 x 720 = 5,760 GPU-h granted; all of the assessment's in December
    assert line.planned_gpu_hours == pytest.approx(5760.0)
    assert line.assessed_gpu_hours == pytest.approx(5760.0)
    assert line.assessed_fair_usd == pytest.approx(12_672.0)
    assert line.transfers == ("#1 lease",)
    assert st.notes == ()


def test_a_lease_that_began_in_november_is_prorated_to_its_december_days() -> None:
    # Nov 16 -> Dec 16 (30 days), 8 GPUs, $57,600: $10/GPU-h; December holds 15 of its days:
    # 8 x 15 x 24 = 2,880 GPU-h granted, half of the assessment's 5,760 and of its $12,672
    lease = _lease(datetime(2026, 11, 16), datetime(2026, 12, 16), 8, 57_600.0)
    (line,) = statement(DEC, "tesla", "xai", RECORDS, POOLS, [lease]).lines
    assert line.planned_gpu_hours == pytest.approx(2880.0)
    assert line.assessed_gpu_hours == pytest.approx(2880.0)
    assert line.assessed_fair_usd == pytest.approx(6336.0)
    assert line.agreed_usd == pytest.approx(400.0)


def test_two_leases_of_one_pool_weight_their_rates_by_the_hours_each_grants() -> None:
    # A: 8 GPUs Dec 1 -> Dec 16 (360 h), $28,800 = $10/GPU-h, grants 2,880 GPU-h;
    # B: 4 GPUs Dec 16 -> Jan 1 (384 h), $30,720 = $20/GPU-h, grants 1,536 GPU-h;
    # rate = (10 x 2,880 + 20 x 1,536) / 4,416 = 59,520 / 4,416; x 40 GPU-h
    a = _lease(datetime(2026, 12, 1), datetime(2026, 12, 16), 8, 28_800.0, "a")
    b = _lease(datetime(2026, 12, 16), datetime(2027, 1, 1), 4, 30_720.0, "b")
    (line,) = statement(DEC, "tesla", "xai", RECORDS, POOLS, [a, b]).lines
    assert line.agreed_usd_per_gpu_hour == pytest.approx(59_520 / 4_416)
    assert line.agreed_usd == pytest.approx(40 * 59_520 / 4_416)
    assert line.planned_gpu_hours == pytest.approx(4416.0)


def test_use_without_a_transfer_has_no_agreed_price_and_says_so() -> None:
    st = statement(DEC, "tesla", "xai", RECORDS, POOLS, [], market_rate=4.0)
    (line,) = st.lines
    assert (line.agreed_usd, line.transfers, line.planned_gpu_hours) == (None, (), 0.0)
    assert line.market_usd == pytest.approx(160.0)  # 40 x $4.00 given on the command line
    assert line.cost_plus_usd == pytest.approx(80.0)  # 40 x $2.00, no markup without terms
    assert st.notes == ("xai used memphis-h100 with no transfer in the period: no agreed price",)
    assert st.total("agreed_usd") is None


def test_a_lease_granted_but_unused_is_a_line_of_zero_hours_against_its_plan() -> None:
    lease = _lease(datetime(2026, 12, 1), datetime(2026, 12, 31), 8, 57_600.0)
    (line,) = statement(DEC, "tesla", "xai", [], POOLS, [lease]).lines
    assert (line.gpu_hours, line.agreed_usd, line.planned_gpu_hours) == (0.0, 0.0, 5760.0)


def test_the_renderings_carry_the_same_figures_and_escape_names() -> None:
    lease = _lease(datetime(2026, 12, 1), datetime(2026, 12, 31), 8, 57_600.0, "<b>x</b>")
    st = statement(DEC, "tesla", "xai", RECORDS, POOLS, [lease])
    doc = to_json(st)
    assert doc["totals"]["agreed_usd"] == 400.0
    assert doc["plan_versus_actual"] == {
        "planned_gpu_hours": 5760.0, "metered_gpu_hours": 40.0,
        "assessed_gpu_hours": 5760.0, "assessed_fair_usd": 12672.0,
    }  # fmt: skip
    rows = to_csv(st).splitlines()
    assert rows[1].startswith("tesla,xai,2026-12-01T00:00:00Z,2027-01-01T00:00:00Z,memphis-h100")
    assert rows[2].split(",")[4] == "TOTAL" and ",400.0," in rows[2]
    page = to_html(st, "ab" * 32, 1)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "$400.00" in page and "$88.00" in page
    # plan versus actual: 40 of the 5,760 GPU-hours granted = 0.69%, shown as 0.7%
    assert "Used (sacct): 40.0000 GPU-hours (0.7% of granted)" in page
    assert "busy (DCGM): 30.0000 GPU-hours" in page

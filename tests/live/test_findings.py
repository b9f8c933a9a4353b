"""Live findings over stored series and the register's plan: stranded and idle GPU-days in
dollars, drift between the register and what is seen, and leases suggested, each against
a hand-computed figure."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from gpufleet.domain import EntityId, ProgramId, Reason
from gpufleet.domain.scenario import CostModel, Scenario
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.live.findings import SuggestionRules, drift, suggestions, waste
from gpufleet.live.observation import Capacity, Demand, Observation, QuotaInForce, SourceFailure
from gpufleet.live.series import Sample, sample_of
from gpufleet.live.status import totals, unknown_reasons
from gpufleet.sim.costs import YEAR_S
from tests.live.builders import T0, cap, observation, pending

REGISTER = Path(__file__).parent / "register" / "devcluster.yaml"
HOUR = timedelta(hours=1)
GROUPS: dict[str, str | None] = {"tesla": "common-control", "xai": "common-control"}
TODAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def plan() -> Scenario:
    return load_scenario(REGISTER)


def hourly(*observations: Observation) -> list[Sample]:
    return [sample_of(o, 3600.0) for o in observations]


def scene(
    at: datetime,
    stranded: int = 4,
    idle: int | None = 2,
    demand: tuple[Demand, ...] = (),
    quotas: tuple[QuotaInForce, ...] = (),
) -> Observation:
    """buffalo's 4 A100 registered, ``stranded`` of them down; memphis's 8 H100 all
    allocated, ``idle`` of them below the busy threshold (None: Prometheus failed)."""
    return observation(
        at,
        capacity=(
            cap("tesla", "buffalo", "A100-80GB", 4, up=4 - stranded, down=stranded),
            cap(
                "tesla",
                "memphis",
                "H100-SXM",
                8,
                up=8,
                allocated=8,
                busy=None if idle is None else 8 - idle,
                idle=idle,
            ),
        ),
        demand=demand,
        quotas=quotas,
    )


def test_three_hours_of_a_down_node_cost_its_gpu_days_at_the_flat_rate(plan: Scenario) -> None:
    series = hourly(scene(T0), scene(T0 + HOUR), scene(T0 + 2 * HOUR))
    rows = {(w.entity, w.site): w for w in waste(series, plan)}
    buffalo = rows[("tesla", "buffalo")]
    # 4 GPUs x 3 h / 24 = 0.5 GPU-days; x 24 h x $2 = $48 a GPU-day: $24
    assert buffalo.stranded_gpu_days == pytest.approx(0.5)
    assert buffalo.stranded_usd_per_gpu_day == pytest.approx(48.0)
    assert buffalo.stranded_usd == pytest.approx(24.0)
    assert (buffalo.stranded_now, buffalo.idle_gpu_days) == (4.0, 0.0)
    memphis = rows[("tesla", "memphis")]
    # 2 allocated-but-idle GPUs x 3 h / 24 = 0.25 GPU-days x $48 = $12; nothing unallocated
    assert memphis.idle_gpu_days == pytest.approx(0.25)
    assert memphis.idle_usd == pytest.approx(12.0)
    assert memphis.stranded_gpu_days == 0.0
    # in use: 8 allocated - 2 idle = 6 GPUs x 3 h / 24 = 0.75 GPU-days
    assert (memphis.in_use_now, memphis.in_use_gpu_days) == (6.0, 0.75)


def test_an_hour_without_telemetry_adds_no_idle_days_and_is_counted_unknown(
    plan: Scenario,
) -> None:
    series = hourly(scene(T0), scene(T0 + HOUR, idle=None), scene(T0 + 2 * HOUR))
    memphis = next(w for w in waste(series, plan) if w.site == "memphis")
    # 2 GPUs x 2 known hours / 24
    assert memphis.idle_gpu_days == pytest.approx(2 * 2 / 24)
    assert memphis.unknown_s == 0.0  # stranded was known all along; idle unknown for 1 h
    assert memphis.idle_now == 2.0


def test_the_itemized_model_charges_capex_and_ops_for_stranded_and_idle_power_on_top(
    plan: Scenario,
) -> None:
    itemized = replace(
        plan,
        cost=CostModel(
            usd_per_gpu_hour=None,
            life_years=4.0,
            ops_usd_per_gpu_hour=0.05,
            idle_power_fraction=0.3,
        ),
    )
    (buffalo, memphis) = waste(hourly(scene(T0)), itemized)
    a100, h100 = itemized.catalog.get("A100-80GB"), itemized.catalog.get("H100-SXM")
    # stranded: (price / (4 x 365.25 x 86400 s) + $0.05 / 3600 s) x 86400 s a day
    stranded = (a100.price_usd / (4 * YEAR_S) + 0.05 / 3600) * 86400
    assert buffalo.stranded_usd_per_gpu_day == pytest.approx(stranded)
    # idle: the same for the H100 + board W x 0.3 x PUE 1.3 x $0.08/kWh / 3.6e6 x 86400
    idle = (h100.price_usd / (4 * YEAR_S) + 0.05 / 3600) * 86400
    idle += h100.board_power_w * 0.3 * 1.3 * 0.08 / 3.6e6 * 86400
    assert memphis.idle_usd_per_gpu_day == pytest.approx(idle)


def test_drift_names_the_gpus_no_scheduler_lists_and_the_caps_unlike_the_plan(
    plan: Scenario,
) -> None:
    obs = observation(
        T0,
        capacity=(cap("tesla", "buffalo", "A100-80GB", 4, up=0, down=0),),
        quotas=(
            QuotaInForce("slurm", "account xai", EntityId("xai"), ProgramId("grok"), None, 4),
            QuotaInForce(
                "slurm", "account tesla", EntityId("tesla"), ProgramId("fsd-training"), None, None
            ),
        ),
    )
    found = drift(sample_of(obs, 60.0), plan, T0)
    (count,) = found.counts
    assert count.message == (
        "tesla at buffalo: 4 A100-80GB registered (buffalo-a100), 0 seen by the schedulers"
    )
    # grok's plan quota: 8 H100 + 0 A100 = 8 against Slurm's gres/gpu=4 (all types);
    # fsd-training: 8 + 4 = 12 against no cap
    assert [q.message for q in found.quotas] == [
        "grok: a cap of 4 in force (account xai), the plan's quota is 8 GPUs (all types)",
        "fsd-training: no GPU cap in force (account tesla), the plan's quota is 12 GPUs "
        "(all types)",
    ]


def test_a_cap_equal_to_the_plan_is_no_drift_and_a_plan_that_ended_says_so(
    plan: Scenario,
) -> None:
    xai = QuotaInForce("slurm", "account xai", EntityId("xai"), ProgramId("grok"), None, 8)
    sample = sample_of(observation(T0, quotas=(xai,)), 60.0)
    assert drift(sample, plan, T0).quotas == ()
    late = datetime(2028, 6, 1, tzinfo=T0.tzinfo)
    assert drift(sample, plan, late).note == (
        "the plan (2026-01-01 to 2027-12-31) does not cover 2028-06-01"
    )


XAI_WAITS_A100 = (pending("xai", "grok", "A100-80GB", 2, Reason.QUOTA, "AssocGrpGRES"),)
RULES = SuggestionRules(min_gpus=2, after_s=2 * 3600, lease_days=30)


def test_stranded_gpus_for_long_enough_are_offered_to_the_related_program_waiting(
    plan: Scenario,
) -> None:
    series = hourly(*(scene(T0 + i * HOUR, demand=XAI_WAITS_A100) for i in range(3)))
    (s,) = (x for x in suggestions(series, plan, GROUPS, TODAY, RULES) if x.kind == "stranded")
    # whole nodes of 4 A100: min(ceil(2 waited for / 4), floor(4 stranded every hour / 4),
    # 1 node in the pool) = 1 node = 4 GPUs
    assert (s.from_entity, s.to_entity, s.to_program, s.gpus) == ("tesla", "xai", "grok", 4)
    assert (s.wasted_since, s.wasted_s) == (T0, 3 * 3600.0)
    assert s.demand_reasons == ("waiting-for-quota", "AssocGrpGRES")
    body = s.request.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    assert body == {
        "pool": "buffalo-a100",
        "gpus": 4,
        "from_entity": "tesla",
        "to": "xai",
        "to_site": "colossus",  # stranded where they stand: run them at xai's site
        "to_program": "grok",
        "start": "2026-03-01",
        "end": "2026-03-31",
        "note": "suggested by gpufleet status: 4 A100-80GB of tesla at buffalo stranded "
        "for 3.0 h while grok waits for 2",
    }
    assert s.assess_command == (
        "gpufleet db plan -o plan.yaml && gpufleet whatif plan.yaml --move "
        "'4 A100-80GB tesla->xai@colossus 2026-03-01..2026-03-31 pool=buffalo-a100'"
    )


def test_idle_gpus_are_offered_where_they_stand_in_whole_nodes(plan: Scenario) -> None:
    wants = (pending("xai", "grok", "H100-SXM", 4, Reason.CAPACITY, "Resources"),)
    series = hourly(*(scene(T0 + i * HOUR, stranded=0, idle=8, demand=wants) for i in range(3)))
    (s,) = suggestions(series, plan, GROUPS, TODAY, RULES)
    # 8 idle H100 each hour, 4 waited for: ceil(4 / 8) = 1 node of 8, at memphis (no to_site)
    assert (s.kind, s.request.pool, s.gpus, s.request.to_site) == ("idle", "memphis-h100", 8, None)


def test_fewer_idle_gpus_than_a_node_are_no_lease(plan: Scenario) -> None:
    wants = (pending("xai", "grok", "H100-SXM", 4, Reason.CAPACITY, "Resources"),)
    series = hourly(*(scene(T0 + i * HOUR, stranded=0, idle=6, demand=wants) for i in range(3)))
    # 6 idle of memphis's one 8-GPU node: floor(6 / 8) = 0 nodes
    assert suggestions(series, plan, GROUPS, TODAY, RULES) == ()


@pytest.mark.parametrize(
    ("series_of", "groups"),
    [
        (lambda: hourly(*(scene(T0 + i * HOUR, demand=XAI_WAITS_A100) for i in range(3))), {}),
        (lambda: hourly(*(scene(T0 + i * HOUR, demand=XAI_WAITS_A100) for i in (2,))), GROUPS),
        (
            lambda: hourly(
                scene(T0, demand=XAI_WAITS_A100),
                scene(T0 + HOUR, stranded=1, demand=XAI_WAITS_A100),
                scene(T0 + 2 * HOUR, demand=XAI_WAITS_A100),
            ),
            GROUPS,
        ),
        (
            lambda: hourly(
                *(
                    scene(
                        T0 + i * HOUR,
                        idle=0,
                        demand=(pending("xai", "grok", "B200", 2, Reason.QUOTA, "AssocGrpGRES"),),
                    )
                    for i in range(3)
                )
            ),
            GROUPS,
        ),
    ],
    ids=["unrelated-entities", "stranded-for-only-1h", "broken-by-an-hour-under-2", "other-type"],
)
def test_no_lease_is_suggested_without_relation_duration_or_a_matching_demand(
    plan: Scenario, series_of: object, groups: dict[str, str | None]
) -> None:
    assert callable(series_of)
    found = suggestions(series_of(), plan, groups, TODAY, RULES)
    assert [x for x in found if x.kind == "stranded"] == []


def test_capacity_rows_name_every_count_the_store_keeps() -> None:
    from dataclasses import fields

    from gpufleet.live.series import CAPACITY_FIELDS, CapacityPoint

    keys = {"entity", "site", "gpu_type"}
    assert {f.name for f in fields(CapacityPoint)} - keys == set(CAPACITY_FIELDS)
    assert {f.name for f in fields(Capacity)} - keys <= set(CAPACITY_FIELDS)


# --- unknown is not zero ----------------------------------------------------------------


def test_an_hour_without_telemetry_counts_its_allocated_gpus_neither_in_use_nor_idle(
    plan: Scenario,
) -> None:
    series = hourly(scene(T0), scene(T0 + HOUR, idle=None), scene(T0 + 2 * HOUR))
    memphis = next(w for w in waste(series, plan) if w.site == "memphis")
    # in use: 6 busy GPUs x the 2 hours measured / 24 (not 8 allocated in the third hour)
    assert memphis.in_use_gpu_days == pytest.approx(6 * 2 / 24)
    # unknown use: the 8 allocated GPUs of the unmeasured hour: 8 x 1 / 24
    assert memphis.unknown_use_gpu_days == pytest.approx(8 / 24)
    assert memphis.unknown_use_now == 0.0  # the latest hour was measured


def test_gpus_without_a_dcgm_sample_are_unknown_use_and_the_rest_split(plan: Scenario) -> None:
    # 8 allocated on memphis: 4 busy, 1 idle, 3 with no DCGM sample (a node's exporter down)
    row = replace(
        cap("tesla", "memphis", "H100-SXM", 8, up=8, allocated=8, busy=4, idle=1), unmeasured=3
    )
    (memphis,) = waste(hourly(observation(T0, capacity=(row,))), plan)
    assert (memphis.in_use_now, memphis.idle_now, memphis.unknown_use_now) == (4.0, 1.0, 3.0)
    # one hour: 4 / 24 in use, 1 / 24 idle (x $48 = $2), 3 / 24 unknown
    assert memphis.in_use_gpu_days == pytest.approx(4 / 24)
    assert memphis.idle_usd == pytest.approx(1 / 24 * 48)
    assert memphis.unknown_use_gpu_days == pytest.approx(3 / 24)


def test_the_latest_sample_without_telemetry_shows_in_use_unknown_and_idle_unallocated(
    plan: Scenario,
) -> None:
    row = cap("tesla", "memphis", "H100-SXM", 8, up=8, allocated=6, busy=None, idle=None)
    (memphis,) = waste(hourly(observation(T0, capacity=(row,))), plan)
    # the 2 unallocated GPUs are idle whatever the telemetry: no job holds them
    assert (memphis.in_use_now, memphis.idle_now, memphis.unknown_use_now) == (None, 2.0, 6.0)
    assert memphis.in_use_gpu_days == 0.0 and memphis.unknown_use_gpu_days == pytest.approx(6 / 24)


def test_a_failed_scheduler_leaves_every_count_now_unknown_and_the_totals_too(
    plan: Scenario,
) -> None:
    unknown = cap(
        "tesla", "buffalo", "A100-80GB", 4, up=None, down=None, allocated=None, busy=None, idle=None
    )
    rows = waste(
        hourly(scene(T0), observation(T0 + HOUR, capacity=(unknown, scene(T0).capacity[1]))), plan
    )
    buffalo = next(w for w in rows if w.site == "buffalo")
    assert (buffalo.in_use_now, buffalo.idle_now, buffalo.stranded_now) == (None, None, None)
    assert buffalo.unknown_s == 3600.0
    by_entity = totals(rows, "entity")["tesla"]
    # one row unknown: the total now is unknown, not the other row's figure
    assert (by_entity["stranded_now"], by_entity["idle_now"]) == (None, None)
    # GPU-days sum what is known: buffalo's 4 stranded in the first hour only
    assert by_entity["stranded_gpu_days"] == pytest.approx(4 / 24)


def test_the_status_says_why_counts_are_unknown() -> None:
    failed = SourceFailure("prometheus", "http://p/api/v1/query", "connection refused")
    no_tele = cap("tesla", "memphis", "H100-SXM", 8, up=8, allocated=8, busy=None, idle=None)
    said = unknown_reasons(sample_of(observation(T0, capacity=(no_tele,), failures=(failed,)), 60))
    assert said == {"capacity": None, "use": "prometheus failed: connection refused"}
    said = unknown_reasons(sample_of(observation(T0, capacity=(no_tele,)), 60))
    assert said["use"] == "no GPU telemetry was read (no Prometheus source configured)"
    slurm = SourceFailure("slurm", "squeue --json", "no answer within 30 s")
    blind = cap("tesla", "memphis", "H100-SXM", 8, up=None, down=None, allocated=None)
    said = unknown_reasons(sample_of(observation(T0, capacity=(blind,), failures=(slurm,)), 60))
    assert said == {"capacity": "slurm failed: no answer within 30 s", "use": None}
    measured = replace(no_tele, busy=5, idle=0, unmeasured=3)
    said = unknown_reasons(sample_of(observation(T0, capacity=(measured,)), 60))
    assert said == {"capacity": None, "use": "3 allocated GPUs had no DCGM sample"}

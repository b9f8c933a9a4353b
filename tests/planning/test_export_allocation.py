"""The allocation in force at a date (gpufleet.planning.allocation): the article's move, the small
lab's
mid-month quota change, the simulator's own quotas as the oracle, and the ceiling of a
program's quota checked against the quota policy's admission rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from gpufleet.domain.org import Quota
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.scenario.load import load_scenario, load_scenario_text
from gpufleet.planning.allocation import Replay, allocation_at, allocations, change_dates
from gpufleet.policies.basic.quota import quota_check
from gpufleet.sim.simulator import Simulation
from tests.support.scenarios import mixed

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "src" / "gpufleet" / "data" / "article.yaml"
SMALL_LAB = ROOT / "examples" / "small-lab.yaml"
H100, A100 = "H100-SXM", "A100-80GB"


def day(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def article() -> Scenario:
    return load_scenario(ARTICLE)


@pytest.fixture(scope="module")
def small_lab() -> Scenario:
    return load_scenario(SMALL_LAB)


def nominal(sc: Scenario, at: str, program: str, gpu_type: str = H100) -> int | None:
    q = allocation_at(sc, day(at)).quotas()[program].get(gpu_type)
    return None if q is None else q.nominal_gpus


# --- the article -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variant", "at", "fsd", "grok"),
    [
        pytest.param("move", "2024-06-01", 22_000, 10_000, id="move-before-the-transfer"),
        pytest.param("move", "2024-06-14T23:59:59", 22_000, 10_000, id="move-a-second-before"),
        pytest.param("move", "2024-06-15", 10_000, 22_000, id="move-from-the-transfer-on"),
        pytest.param("move", "2025-03-31", 10_000, 22_000, id="move-at-the-end"),
        pytest.param("keep", "2024-06-15", 22_000, 10_000, id="keep-never-moves-quota"),
    ],
)
def test_the_article_transfer_moves_12000_h100_of_nominal_quota_on_its_start(
    article: Scenario, variant: str, at: str, fsd: int, grok: int
) -> None:
    sc = article.variant(variant)
    assert (nominal(sc, at, "fsd-training"), nominal(sc, at, "grok-pretraining")) == (fsd, grok)


def test_ready_gpus_show_the_hall_waiting_for_power_when_tesla_keeps_the_gpus(
    article: Scenario,
) -> None:
    tesla = allocation_at(article.variant("keep"), day("2024-06-15")).cohorts[0]
    assert (tesla.name, tesla.delivered(H100), tesla.ready(H100)) == ("tesla", 22_000, 10_000)
    later = allocation_at(article.variant("keep"), day("2024-10-15")).cohorts[0]
    assert later.ready(H100) == 22_000


def test_ready_gpus_follow_the_nodes_to_xai_when_they_move(article: Scenario) -> None:
    tesla, xai = allocation_at(article.variant("move"), day("2024-06-15")).cohorts
    assert (tesla.ready(H100), tesla.delivered(H100)) == (10_000, 10_000)
    assert (xai.ready(H100), xai.delivered(H100)) == (22_000, 22_000)


def test_change_dates_are_the_start_and_the_transfer(article: Scenario) -> None:
    assert change_dates(article.variant("move")) == [day("2024-06-01"), day("2024-06-15")]
    assert change_dates(article.variant("keep")) == [day("2024-06-01")]


# --- the small lab -----------------------------------------------------------------------
def test_the_small_lab_quota_change_restates_pretraining_and_gives_eval_h100(
    small_lab: Scenario,
) -> None:
    before = allocation_at(small_lab, day("2025-03-16")).quotas()
    after = allocation_at(small_lab, day("2025-03-17")).quotas()
    assert before["llm-pretrain"][H100] == Quota(64, 16, 24)
    assert H100 not in before["eval"]
    assert after["llm-pretrain"][H100] == Quota(48, 16, 24)
    assert after["eval"][H100] == Quota(16)
    assert change_dates(small_lab) == [day("2025-03-01"), day("2025-03-17")]


def test_a_power_block_changes_ready_gpus_but_no_quota(small_lab: Scenario) -> None:
    (lab,) = allocation_at(small_lab, day("2025-03-14")).cohorts
    assert (lab.ready(H100), lab.delivered(H100), lab.ready(A100)) == (40, 80, 64)
    (lab,) = allocation_at(small_lab, day("2025-03-15")).cohorts
    assert lab.ready(H100) == 80
    assert day("2025-03-15") not in change_dates(small_lab)


@pytest.mark.parametrize(
    ("at", "program", "gpu_type", "ceiling"),
    [
        # 64 nominal + min(16 borrowing limit, vision's 16 lendable H100)
        pytest.param("2025-03-01", "llm-pretrain", H100, 80, id="pretrain-capped-by-its-limit"),
        # 16 nominal + pretraining's 24 lendable (its lending limit)
        pytest.param("2025-03-01", "vision", H100, 40, id="vision-capped-by-what-is-lent"),
        # 40 nominal + eval's 24 lendable A100
        pytest.param("2025-03-01", "vision", A100, 64, id="vision-a100"),
        # 24 nominal + min(16, vision's lending limit 16)
        pytest.param("2025-03-01", "eval", A100, 40, id="eval-a100"),
        pytest.param("2025-03-01", "eval", H100, 0, id="no-quota-no-gpus"),
        # 16 nominal + 24 (pretraining) + 16 (eval, from the 17th)
        pytest.param("2025-03-17", "vision", H100, 56, id="vision-h100-after-the-change"),
        pytest.param("2025-03-17", "llm-pretrain", H100, 64, id="pretrain-after-the-change"),
    ],
)
def test_ceiling_is_nominal_plus_what_the_limits_and_the_cohort_allow(
    small_lab: Scenario, at: str, program: str, gpu_type: str, ceiling: int
) -> None:
    a = allocation_at(small_lab, day(at))
    cohort = a.cohort_of(program)
    p = next(p for p in cohort.programs if p.name == program)
    assert cohort.ceiling_gpus(p, gpu_type) == ceiling


def _admitted_one_by_one(replay: Replay, program: str, gpu_type: str) -> int:
    """The quota policy's own admission rule as the oracle: with every other program idle,
    admit one GPU at a time until the rule refuses."""
    p = replay.state.program_by_name[program]
    n = 0
    while quota_check(p, gpu_type, 1) is None and n < 1_000_000:
        p.add_usage(gpu_type, 1)
        n += 1
    p.add_usage(gpu_type, -n)
    return n


@pytest.mark.parametrize("case", ["small-lab", "mixed", "article-move"])
def test_ceiling_equals_what_the_quota_policy_admits_into_an_idle_cohort(
    case: str, small_lab: Scenario, article: Scenario
) -> None:
    sc = {"small-lab": small_lab, "mixed": mixed(), "article-move": article.variant("move")}[case]
    replay = Replay(sc)
    for t_s in replay.instants_s():
        replay.advance(t_s)
        a = replay.allocation(sc.start)
        for c in a.cohorts:
            for p in c.programs:
                for t in a.gpu_types():
                    expected = _admitted_one_by_one(replay, p.name, t)
                    assert c.ceiling_gpus(p, t) == expected, (t_s, p.name, t)


# --- the simulator as the oracle ---------------------------------------------------------
def _simulated_quotas(sc: Scenario, at: datetime) -> dict[str, dict[str, Quota]]:
    """The quotas a simulation stopped at ``at`` holds (every change up to ``at`` applied)."""
    sim = Simulation(replace(sc, end=at))
    sim.run()
    return {p.name: dict(p.quotas) for p in sim.state.programs}


@pytest.mark.parametrize(
    "at",
    ["2025-01-01T12:00:00", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05", "2025-01-07"],
)
def test_allocation_equals_the_quotas_of_a_simulation_stopped_then(at: str) -> None:
    sc = mixed()
    assert allocation_at(sc, day(at)).quotas() == _simulated_quotas(sc, day(at))


CLAMP = """
name: clamp
start: 2025-01-01
horizon_days: 6
policy: quota
sites: [{name: dc, power_kw: 1000}]
entities:
  - name: a
    programs: [{name: pa, quotas: {H100-SXM: {nominal: 8, borrowing_limit: 4}}}]
  - name: b
    programs: [{name: pb, quotas: {A100-80GB: {nominal: 8}}}]
pools:
  - {name: pool, site: dc, gpu_type: H100-SXM, nodes: 2, owner: a}
timeline:
  - transfer: {pool: pool, gpus: 16, to: b, to_program: pb, start: 2025-01-02,
               end: 2025-01-04}
  - quota: {at: 2025-01-02, program: pb, gpu_type: H100-SXM, nominal: 4}
"""


@pytest.mark.parametrize(
    ("at", "pa", "pb"),
    [
        pytest.param("2025-01-01", Quota(8, 4), None, id="before"),
        # 8 - 16 stops at 0, limits kept; pb's new entry (16) is then replaced by the
        # quota change of the same instant: transfers apply before quota changes
        pytest.param("2025-01-02", Quota(0, 4), Quota(4), id="during-quota-change-wins-a-tie"),
        # the end moves 16 back: pa 0 + 16 = 16, not its old 8; pb 4 - 16 stops at 0
        pytest.param("2025-01-04", Quota(16, 4), Quota(0), id="after-the-end-as-the-simulator"),
    ],
)
def test_a_transfer_larger_than_the_nominal_clamps_at_zero_and_moves_back_its_gpus(
    at: str, pa: Quota, pb: Quota | None
) -> None:
    sc = load_scenario_text(CLAMP, "clamp.yaml")
    quotas = allocation_at(sc, day(at)).quotas()
    assert quotas["pa"].get("H100-SXM") == pa
    assert quotas["pb"].get("H100-SXM") == pb
    assert quotas == _simulated_quotas(sc, day(at))


def test_allocations_walk_the_timeline_once_and_agree_with_allocation_at() -> None:
    sc = mixed()
    walked = allocations(sc)
    assert [a.at for a in walked] == [
        day(d) for d in ("2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05")
    ]
    for a in walked:
        assert a == allocation_at(sc, a.at)


@pytest.mark.parametrize("at", ["2024-12-31T23:59:59", "2025-01-07T00:00:01"])
def test_an_instant_outside_the_scenario_is_refused_with_its_bounds(at: str) -> None:
    with pytest.raises(InputError, match=r"outside scenario 'mixed'.*2025-01-01.*2025-01-07"):
        allocation_at(mixed(), day(at))


def test_weight_priority_and_cohorts_come_from_the_scenario() -> None:
    a = allocation_at(mixed(), day("2025-01-01"))
    assert [(c.name, [p.name for p in c.programs]) for c in a.cohorts] == [
        ("shared", ["train", "research", "serve"]),
        ("gamma", ["solo"]),
    ]
    train, research = a.cohorts[0].programs[:2]
    assert (train.priority, research.weight, a.cohorts[0].entities) == (1, 2.0, ("alpha", "beta"))

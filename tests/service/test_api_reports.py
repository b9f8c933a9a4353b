"""The fleet report and the exports of the plan, checked by hand on the article.

The article's register (no transfer approved): Tesla's site has ready power 16,580 kW
until 2024-10-15, then 16,580 + 20,000 = 36,580 kW; its existing 10,000 H100 need
10,000 x 1.275 kW x PUE 1.3 = 16,575 kW; the 12,000 H100 delivered 2024-06-15 need
12,000 x 1.275 x 1.3 = 19,890 kW more, which only the new hall gives. So 12,000 GPUs sit
stranded from 2024-06-15 to 2024-10-15: 15 + 31 + 31 + 30 + 15 = 122 days, and
12,000 x 122 = 1,464,000 GPU-days.
"""

from __future__ import annotations

import pytest
import yaml

from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.planning.export import TARGETS
from gpufleet.service.routes.reports import EXPORT_FORMATS
from tests.support.api import API, admin_token, bearer, client, make_token, ok, seeded_client


def test_stranded_capacity_of_the_article_by_hand(store: Store) -> None:
    c, admin = seeded_client(store)
    report = ok(c.get(f"{API}/reports/fleet?at=2024-07-01", headers=admin))
    assert report["stranded"]["gpu_days"] == 12_000 * 122 == 1_464_000
    assert report["stranded"]["by_site"] == {"tesla-gigatexas": 1_464_000, "xai-memphis": 0}
    assert report["stranded"]["by_entity"] == {"tesla": 1_464_000, "xai": 0}
    tesla = next(s for s in report["by_site"] if s["site"] == "tesla-gigatexas")
    # on 2024-07-01: 22,000 delivered, 10,000 powered; they need 22,000 x 1.275 x 1.3 kW
    assert (tesla["delivered"], tesla["ready"], tesla["stranded"]) == (22_000, 10_000, 12_000)
    assert tesla["needed_kw"] == pytest.approx(22_000 * 1.275 * 1.3)
    assert tesla["ready_kw"] == 16_580


def test_the_fleet_by_site_and_entity_and_the_readiness_steps(store: Store) -> None:
    c, admin = seeded_client(store)
    report = ok(c.get(f"{API}/reports/fleet?at=2024-11-01", headers=admin))
    # after the new hall: every GPU powered
    assert report["fleet"]["gpus"] == 10_000 + 12_000 + 10_000
    assert report["fleet"]["stranded"] == 0
    ents = {e["entity"]: e for e in report["by_entity"]}
    assert (ents["tesla"]["gpus"], ents["xai"]["gpus"]) == (22_000, 10_000)
    assert ents["tesla"]["quota"] == {"H100-SXM": 22_000}
    steps = {r["site"]: r["steps"] for r in report["readiness"]}
    assert [(s["date"][:10], s["ready_kw"]) for s in steps["tesla-gigatexas"]] == [
        ("2024-01-01", 16_580),
        ("2024-10-15", 36_580),  # 16,580 + 20,000, under the 40,000 kW budget
    ]


def test_allocations_over_time_follow_deliveries_and_power(store: Store) -> None:
    c, admin = seeded_client(store)
    report = ok(c.get(f"{API}/reports/fleet", headers=admin))
    at = [(a["at"][:10], a["entities"]["tesla"]["delivered"], a["entities"]["tesla"]["ready"])
          for a in report["allocations"]]  # fmt: skip
    assert at == [
        ("2024-06-01", 10_000, 10_000),
        ("2024-06-15", 22_000, 10_000),
        ("2024-10-15", 22_000, 22_000),
    ]


def test_an_entitys_token_sees_its_own_figures_and_the_fleets(store: Store) -> None:
    c, _ = seeded_client(store)
    xai = bearer(make_token(store, AccessRole.VIEWER, "xai"))
    report = ok(c.get(f"{API}/reports/fleet?at=2024-07-01", headers=xai))
    assert [e["entity"] for e in report["by_entity"]] == ["xai"]
    assert report["stranded"]["by_entity"] == {"xai": 0}
    assert report["stranded"]["gpu_days"] == 1_464_000  # the fleet total stays
    assert all(set(a["entities"]) == {"xai"} for a in report["allocations"])


def test_the_export_formats_are_the_export_targets() -> None:
    assert set(EXPORT_FORMATS) == set(TARGETS)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_each_export_of_the_plan(store: Store, fmt: str) -> None:
    c, admin = seeded_client(store)
    resp = c.get(f"{API}/exports/{fmt}?at=2024-07-01", headers=admin)
    assert resp.status_code == 200, resp.text
    if fmt == "slurm":
        assert resp.headers["content-type"].startswith("text/plain")
        assert "tesla" in resp.text
    else:
        assert resp.headers["content-type"].startswith("application/yaml")
        docs = [d for d in yaml.safe_load_all(resp.text) if d]
        assert docs


def test_an_export_outside_the_plan_or_of_an_unknown_format_is_a_4xx(store: Store) -> None:
    c, admin = seeded_client(store)
    late = c.get(f"{API}/exports/kueue?at=2030-01-01", headers=admin)
    assert "outside" in ok(late, 422)["error"]["message"]
    assert ok(c.get(f"{API}/exports/lsf", headers=admin), 422)["error"]["code"] == (
        "invalid-parameter"
    )


def test_a_report_without_a_plan_says_so(store: Store) -> None:
    c = client(store)
    resp = c.get(f"{API}/reports/fleet", headers=bearer(admin_token(store)))
    assert ok(resp, 409)["error"]["code"] == "no-plan"

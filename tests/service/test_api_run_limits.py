"""The limits on runs over HTTP (issue 10, item 5 and rate limiting): a scenario field past
its bound is a 422 naming it, an entity's fourth run a 429 ``too-many-runs``, and a token
past its expensive requests a 429 ``rate-limited``, each with ``Retry-After``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gpufleet.cli.main import main
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.service.app import create_app
from gpufleet.service.ratelimit import DEFAULT_RATE, RateLimit
from tests.support.api import API, admin_token, bearer, make_token, ok
from tests.support.small_scenario import SMALL

pytestmark = pytest.mark.security

LEND = {"name": "lend", "changes": {"move": ["16 H100-SXM acme->beta 2024-01-03"]}, "seeds": 1}


def seeded(store: Store, rate: RateLimit = DEFAULT_RATE) -> tuple[TestClient, dict[str, str]]:
    app = create_app(store, run_worker=False, rate_limit=rate)
    c = TestClient(app, raise_server_exceptions=False)
    admin = bearer(admin_token(store))
    ok(c.post(f"{API}/seed", headers=admin, json={"scenario_yaml": SMALL}), 201)
    return c, admin


def test_a_program_of_a_million_jobs_a_day_is_a_422_naming_the_field(store: Store) -> None:
    c, _admin = seeded(store)
    acme = bearer(make_token(store, AccessRole.ENTITY_ADMIN, "acme"))
    gen = {"jobs_per_day": 1e6, "gpus": 1, "duration_hours": 1, "gpu_types": ["H100-SXM"]}
    body = {"name": "flood", "entity": "acme", "workload": {"generator": gen}}
    err = ok(c.post(f"{API}/programs", headers=acme, json=body), 422)["error"]
    (problem,) = err["problems"]
    assert problem["field"] == "workload.generator.jobs_per_day"
    assert problem["expected"] == "100000 or less"
    ok(c.get(f"{API}/programs/flood", headers=acme), 404)  # nothing stored


def test_an_entitys_fourth_run_is_a_429_too_many_runs_with_retry_after(store: Store) -> None:
    c, admin = seeded(store)
    acme = bearer(make_token(store, AccessRole.ENTITY_ADMIN, "acme"))
    for i in range(3):
        ok(c.post(f"{API}/runs", headers=acme, json={**LEND, "name": f"r{i}"}), 202)
    resp = c.post(f"{API}/runs", headers=acme, json={**LEND, "name": "r3"})
    err = ok(resp, 429)["error"]
    assert err["code"] == "too-many-runs"
    assert resp.headers["Retry-After"] == "60"
    assert err["message"].startswith("acme has 3 runs queued or running")
    ok(c.post(f"{API}/runs", headers=admin, json=LEND), 202)  # the fleet's are not capped


def test_a_token_past_its_expensive_requests_gets_a_429_and_others_do_not(store: Store) -> None:
    # a bucket of 2, refilled at 6 a minute: the third request waits 60 / 6 = 10 s
    c, admin = seeded(store, RateLimit(per_minute=6, burst=2))  # the seed spends one
    viewer = bearer(make_token(store, AccessRole.VIEWER, "acme"))
    ok(c.get(f"{API}/reports/fleet", headers=viewer), 200)
    ok(c.get(f"{API}/reports/fleet", headers=viewer), 200)
    resp = c.get(f"{API}/reports/fleet", headers=viewer)
    assert ok(resp, 429)["error"]["code"] == "rate-limited"
    assert resp.headers["Retry-After"] == "10"
    ok(c.get(f"{API}/plan", headers=viewer), 200)  # a cheap route is not limited
    ok(c.get(f"{API}/reports/fleet", headers=admin), 200)  # another token: its own bucket
    resp = c.get(f"{API}/exports/kueue", headers=admin)  # one bucket for every route
    assert ok(resp, 429)["error"]["code"] == "rate-limited"
    resp = c.post(f"{API}/transfers/1/assess", headers=admin, json={})
    assert ok(resp, 429)["error"]["code"] == "rate-limited"


@pytest.mark.parametrize(
    "flag, value",
    [("--run-timeout", "0"), ("--run-attempts", "0"), ("--runs-per-entity", "0"),
     ("--rate-per-minute", "-1"), ("--run-memory-mb", "-5")],
)  # fmt: skip
def test_serve_refuses_a_budget_or_limit_that_allows_nothing_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["serve", "--db", db, flag, value]) == 2
    assert f"{flag} {value}: expected a number of" in capsys.readouterr().err

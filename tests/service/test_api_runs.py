"""What-if runs over HTTP: queued (202), run in the background, read back with their
status and result, shown as an HTML report; visible to their creator's entity only."""

from __future__ import annotations

import time

from gpufleet.governance.runs.queue import RunWorker
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from tests.support.api import API, TestClient, admin_token, bearer, client, make_token, ok
from tests.support.small_scenario import SMALL

LEND = {
    "name": "lend-16",
    "changes": {"move": ["16 H100-SXM acme->beta 2024-01-03"]},
    "seeds": 2,
}


def small(store: Store, run_worker: bool = False) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """The small scenario (acme, beta; ten days), an admin of each entity."""
    admin = bearer(admin_token(store))
    c = client(store, run_worker)
    ok(c.post(f"{API}/seed", headers=admin, json={"scenario_yaml": SMALL}), 201)
    return c, {
        "admin": admin,
        "acme": bearer(make_token(store, AccessRole.ENTITY_ADMIN, "acme", name="acme-admin")),
        "beta": bearer(make_token(store, AccessRole.VIEWER, "beta", name="beta-viewer")),
        "acme-viewer": bearer(make_token(store, AccessRole.VIEWER, "acme")),
    }


def test_a_whatif_run_is_queued_run_and_reported(store: Store) -> None:
    c, tok = small(store)
    run = ok(c.post(f"{API}/runs", headers=tok["acme"], json=LEND), 202)
    assert (run["status"], run["kind"], run["name"]) == ("queued", "whatif", "lend-16")
    assert run["request"]["changes"] == {"move": ["16 H100-SXM acme->beta 2024-01-03"]}
    early = c.get(f"{API}/runs/{run['id']}/report", headers=tok["acme"])
    assert ok(early, 409)["error"]["code"] == "not-done"
    assert RunWorker(store).run_once() == run["id"]
    done = ok(c.get(f"{API}/runs/{run['id']}", headers=tok["acme-viewer"]))
    assert done["status"] == "done" and done["error"] is None
    comparison = done["result"]["comparison"]
    assert (comparison["base"], comparison["variants"]) == ("plan", ["lend-16"])
    assert comparison["seeds"] == [7, 8]  # the plan's seed 7 and the one after it
    page = c.get(f"{API}/runs/{run['id']}/report", headers=tok["acme"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "lend-16" in page.text and "<pre>" in page.text


def test_a_run_is_seen_by_its_entity_and_the_fleet_admin_only(store: Store) -> None:
    c, tok = small(store)
    rid = ok(c.post(f"{API}/runs", headers=tok["acme"], json=LEND), 202)["id"]
    assert ok(c.get(f"{API}/runs", headers=tok["beta"]))["total"] == 0
    assert ok(c.get(f"{API}/runs/{rid}", headers=tok["beta"]), 403)["error"]["code"] == (
        "other-entity"
    )
    assert ok(c.get(f"{API}/runs", headers=tok["acme-viewer"]))["total"] == 1
    assert ok(c.get(f"{API}/runs", headers=tok["admin"]))["total"] == 1


def test_a_bad_change_is_refused_when_queued_not_later(store: Store) -> None:
    c, tok = small(store)
    bad = {**LEND, "changes": {"move": ["16 H100-SXM acme->nobody 2024-01-03"]}}
    err = ok(c.post(f"{API}/runs", headers=tok["acme"], json=bad), 422)["error"]
    assert "nobody" in err["message"] + str(err["problems"])
    unknown_kind = {**LEND, "changes": {"teleport": ["x"]}}
    err = ok(c.post(f"{API}/runs", headers=tok["acme"], json=unknown_kind), 422)["error"]
    assert err["code"] == "invalid-body" and err["problems"][0]["field"] == "changes.teleport"
    too_many = {**LEND, "seeds": 21}
    assert ok(c.post(f"{API}/runs", headers=tok["acme"], json=too_many), 422)


def test_the_apps_worker_runs_queued_runs_while_the_app_lives(store: Store) -> None:
    c, tok = small(store, run_worker=True)
    with c:  # the lifespan starts the worker (and requeues runs a dead server left)
        rid = ok(c.post(f"{API}/runs", headers=tok["acme"], json={**LEND, "seeds": 1}), 202)["id"]
        deadline = time.monotonic() + 120  # a bound on waiting, not a speed check
        status = "queued"
        while status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            status = ok(c.get(f"{API}/runs/{rid}", headers=tok["acme"]))["status"]
        assert status == "done"

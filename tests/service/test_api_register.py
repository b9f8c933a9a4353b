"""The register over HTTP: seed, list (paginated), read, create, change, delete; the plan
header; who sees and changes which entity's objects; every change audited with its
actor in the same transaction."""

from __future__ import annotations

import pytest

from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from tests.support.api import API, admin_token, bearer, client, make_token, ok, seeded_client
from tests.support.small_scenario import SMALL


def test_a_fleet_admin_seeds_the_register_and_reads_it_back(store: Store) -> None:
    c, admin = seeded_client(store)
    sites = ok(c.get(f"{API}/sites", headers=admin))
    assert [s["name"] for s in sites["items"]] == ["tesla-gigatexas", "xai-memphis"]
    assert (sites["total"], sites["limit"], sites["offset"]) == (2, 50, 0)
    pool = ok(c.get(f"{API}/pools/tesla-h100-12k", headers=admin))
    assert (pool["owner"], pool["nodes"], pool["value_usd"]) == ("tesla", 1500, 500_000_000)
    assert ok(c.get(f"{API}/plan", headers=admin))["name"] == "article-tesla-xai"
    again = c.post(f"{API}/seed", headers=admin, json={})
    assert ok(again, 409)["error"]["code"] == "register-not-empty"


def test_seeding_from_scenario_text(store: Store) -> None:
    c = client(store)
    admin = bearer(admin_token(store))
    report = ok(c.post(f"{API}/seed", headers=admin, json={"scenario_yaml": SMALL}), 201)
    assert report["pool"] == 3
    assert report["variants_skipped"] == ["move"]
    programs = ok(c.get(f"{API}/programs", headers=admin))["items"]
    assert [p["name"] for p in programs] == ["language", "vision"]


def test_a_bad_scenario_text_is_refused_with_its_problems(store: Store) -> None:
    c = client(store)
    admin = bearer(admin_token(store))
    body = {"scenario_yaml": SMALL.replace("power_kw: 5000", "power_kw: -1", 1)}
    err = ok(c.post(f"{API}/seed", headers=admin, json=body), 422)["error"]
    assert any("power_kw" in p["field"] for p in err["problems"])
    assert ok(c.get(f"{API}/sites", headers=admin))["total"] == 0


def test_pages_of_a_list(store: Store) -> None:
    c, admin = seeded_client(store)
    for i in range(5):
        ok(c.post(f"{API}/people", headers=admin, json={"name": f"p{i}"}), 201)
    page = ok(c.get(f"{API}/people?limit=2&offset=3", headers=admin))
    # 5 people sorted by name: p0..p4; offset 3, limit 2 -> p3, p4
    assert [p["name"] for p in page["items"]] == ["p3", "p4"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 3)
    assert ok(c.get(f"{API}/people?offset=10", headers=admin))["items"] == []


def test_create_change_and_delete_a_program_and_its_quota(store: Store) -> None:
    c, admin = seeded_client(store)
    body = {"name": "autopilot-eval", "entity": "tesla", "weight": 2}
    prog = ok(c.post(f"{API}/programs", headers=admin, json=body), 201)
    assert (prog["entity"], prog["weight"], prog["priority"]) == ("tesla", 2.0, 0)
    quota = {"program": "autopilot-eval", "gpu_type": "A100-80GB", "nominal": 0}
    q = ok(c.post(f"{API}/quotas", headers=admin, json=quota), 201)
    changed = ok(c.patch(f"{API}/quotas/{q['id']}", headers=admin, json={"nominal": 8}))
    assert (changed["nominal"], changed["gpu_type"]) == (8, "A100-80GB")
    conflict = c.delete(f"{API}/programs/autopilot-eval", headers=admin)
    assert ok(conflict, 409)["error"]["code"] == "in-use"
    assert c.delete(f"{API}/quotas/{q['id']}", headers=admin).status_code == 204
    assert c.delete(f"{API}/programs/autopilot-eval", headers=admin).status_code == 204
    assert c.get(f"{API}/programs/autopilot-eval", headers=admin).status_code == 404


def test_a_change_that_breaks_the_plan_is_refused_and_leaves_the_register_as_it_was(
    store: Store,
) -> None:
    c, admin = seeded_client(store)
    resp = c.patch(f"{API}/pools/tesla-h100-12k", headers=admin, json={"gpu_type": "B300"})
    assert resp.status_code == 422, resp.text
    assert ok(c.get(f"{API}/pools/tesla-h100-12k", headers=admin))["gpu_type"] == "H100-SXM"


def test_the_plan_header_is_put_whole(store: Store) -> None:
    c = client(store)
    admin = bearer(admin_token(store))
    header = {"name": "mine", "start": "2024-01-01", "horizon_days": 30}
    assert ok(c.put(f"{API}/plan", headers=admin, json=header), 201)["name"] == "mine"
    replaced = ok(c.put(f"{API}/plan", headers=admin, json={**header, "seed": 9}))
    assert (replaced["seed"], replaced["horizon_days"]) == (9, 30)
    no_horizon = {"name": "mine", "start": "2024-01-01", "end": "2024-03-01"}
    again = ok(c.put(f"{API}/plan", headers=admin, json=no_horizon))
    assert "horizon_days" not in again and "seed" not in again  # replaced, not merged


def entity_tokens(store: Store) -> dict[str, dict[str, str]]:
    c, admin = seeded_client(store)
    ok(c.post(f"{API}/people", headers=admin, json={"name": "ann"}), 201)
    return {
        "admin": admin,
        "tesla-viewer": bearer(make_token(store, AccessRole.VIEWER, "tesla")),
        "tesla-admin": bearer(make_token(store, AccessRole.ENTITY_ADMIN, "tesla", "ann")),
        "xai-admin": bearer(make_token(store, AccessRole.ENTITY_ADMIN, "xai")),
    }


def test_lists_hold_only_what_the_token_may_read(store: Store) -> None:
    tokens = entity_tokens(store)
    c = client(store)
    programs = ok(c.get(f"{API}/programs", headers=tokens["tesla-viewer"]))
    assert [p["name"] for p in programs["items"]] == ["fsd-training"]
    assert programs["total"] == 1
    pools = ok(c.get(f"{API}/pools", headers=tokens["xai-admin"]))["items"]
    assert [p["name"] for p in pools] == ["xai-h100-existing"]
    quotas = ok(c.get(f"{API}/quotas", headers=tokens["xai-admin"]))["items"]
    assert [q["program"] for q in quotas] == ["grok-pretraining"]
    every = ok(c.get(f"{API}/pools", headers=tokens["admin"]))
    assert every["total"] == 3
    sites = ok(c.get(f"{API}/sites", headers=tokens["tesla-viewer"]))
    assert sites["total"] == 2  # sites are shared


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/programs/grok-pretraining", None),
        ("GET", "/pools/xai-h100-existing", None),
        ("PATCH", "/programs/grok-pretraining", {"weight": 5}),
        ("DELETE", "/pools/xai-h100-existing", None),
        ("POST", "/programs", {"name": "sneaky", "entity": "xai"}),
    ],
    ids=["read-program", "read-pool", "change-program", "delete-pool", "create-for-xai"],
)
def test_a_tesla_admin_cannot_reach_xais_objects(
    store: Store, method: str, path: str, body: dict[str, object] | None
) -> None:
    tokens = entity_tokens(store)
    c = client(store)
    resp = c.request(method, API + path, headers=tokens["tesla-admin"], json=body)
    assert ok(resp, 403)["error"]["code"] == "other-entity"


def test_moving_an_object_to_another_entity_needs_both_entities(store: Store) -> None:
    tokens = entity_tokens(store)
    c = client(store)
    move = {"owner": "xai"}
    resp = c.patch(f"{API}/pools/tesla-h100-existing", headers=tokens["tesla-admin"], json=move)
    assert ok(resp, 403)["error"]["code"] == "other-entity"
    pool = ok(c.get(f"{API}/pools/tesla-h100-existing", headers=tokens["admin"]))
    assert pool["owner"] == "tesla"


def test_an_entity_admin_changes_its_own_program_and_the_audit_names_them(
    store: Store,
) -> None:
    tokens = entity_tokens(store)
    c = client(store)
    resp = c.patch(
        f"{API}/programs/fsd-training", headers=tokens["tesla-admin"], json={"weight": 3}
    )
    assert ok(resp)["weight"] == 3.0
    last = ok(c.get(f"{API}/audit?limit=500", headers=tokens["admin"]))["items"][-1]
    assert (last["action"], last["object_type"], last["object_id"]) == (
        "update",
        "program",
        "fsd-training",
    )
    assert last["actor"].startswith("ann [token ")
    assert (last["before"]["weight"], last["after"]["weight"]) == (1.0, 3.0)


def test_a_viewer_reads_but_does_not_write(store: Store) -> None:
    tokens = entity_tokens(store)
    c = client(store)
    assert c.get(f"{API}/programs/fsd-training", headers=tokens["tesla-viewer"]).status_code == 200
    resp = c.patch(f"{API}/programs/fsd-training", headers=tokens["tesla-viewer"], json={})
    assert ok(resp, 403)["error"]["code"] == "forbidden"
    site = {"name": "s", "power_kw": 1}
    resp = c.post(f"{API}/sites", headers=tokens["tesla-admin"], json=site)
    assert ok(resp, 403)["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "trace",
    ["{path: /etc/passwd}", "{source: ../secret.csv}", "{source: jobs.csv}"],
    ids=["a-path", "a-relative-file-as-source", "a-bare-file-name"],
)
def test_a_seed_over_the_api_may_not_make_the_server_read_a_file_as_a_trace(
    store: Store, trace: str
) -> None:
    c = client(store)
    admin = bearer(admin_token(store))
    text = SMALL.replace("        workload:\n", f"        workload:\n          trace: {trace}\n", 1)
    assert text != SMALL
    err = ok(c.post(f"{API}/seed", headers=admin, json={"scenario_yaml": text}), 422)["error"]
    (problem,) = err["problems"]
    assert problem["field"].endswith("workload.trace.path") or problem["field"].endswith(
        "workload.trace.source"
    )
    assert "a request may" in problem["message"]
    assert "philly-2017" in problem["expected"]
    assert ok(c.get(f"{API}/sites", headers=admin))["total"] == 0

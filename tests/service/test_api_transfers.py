"""The article's transfer over HTTP: Tesla's 12,000 H100 requested for xAI, assessed by
the what-if planner, refused to the conflicted approver (officer of both companies),
approved by an independent director, activated; then in the plan, the fleet report and
the audit trail."""

from __future__ import annotations

from typing import Any

from gpufleet.governance.runs.queue import RunWorker
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from tests.support.api import API, TestClient, bearer, make_token, ok, seeded_client

MOVE = {
    "name": "12k H100 to xAI",
    "pool": "tesla-h100-12k",
    "gpus": 12000,
    "to": "xai",
    "start": "2024-06-15",
    "to_site": "xai-memphis",
    "price_usd": 0,
}


def governed(store: Store) -> tuple[TestClient, dict[str, dict[str, str]]]:
    """The article with Tesla and xAI in one group (transfers over $1M need one
    independent director's approval) and its people: Elon (officer of both), Robyn
    (independent director of Tesla), Vaibhav (Tesla's officer who requests)."""
    c, admin = seeded_client(store)
    group = {"name": "musk-companies", "related_threshold_usd": 1_000_000}
    ok(c.post(f"{API}/groups", headers=admin, json={**group, "independent_approvals": 1}), 201)
    for entity in ("tesla", "xai"):
        ok(c.patch(f"{API}/entities/{entity}", headers=admin, json={"group": "musk-companies"}))
    roles = {
        "elon": [("tesla", "officer"), ("xai", "officer")],
        "robyn": [("tesla", "independent-director")],
        "vaibhav": [("tesla", "officer")],
    }
    for person, held in roles.items():
        ok(c.post(f"{API}/people", headers=admin, json={"name": person}), 201)
        for entity, role in held:
            body = {"person": person, "entity": entity, "role": role}
            ok(c.post(f"{API}/roles", headers=admin, json=body), 201)
    tokens = {
        "admin": admin,
        "vaibhav": bearer(make_token(store, AccessRole.ENTITY_ADMIN, "tesla", "vaibhav")),
        "elon": bearer(make_token(store, AccessRole.APPROVER, "tesla", "elon")),
        "robyn": bearer(make_token(store, AccessRole.APPROVER, "tesla", "robyn")),
        "xai-viewer": bearer(make_token(store, AccessRole.VIEWER, "xai")),
    }
    return c, tokens


def eligibility(page: dict[str, Any]) -> dict[str, list[str]]:
    return {e["name"]: [r["code"] for r in e["reasons"]] for e in page["eligibility"]}


def test_the_articles_transfer_from_request_to_activation(store: Store) -> None:
    c, tok = governed(store)
    # 1. Tesla's officer requests it
    page = ok(c.post(f"{API}/transfers", headers=tok["vaibhav"], json=MOVE), 201)
    tid = page["transfer"]["id"]
    assert page["transfer"]["state"] == "requested"
    assert page["transfer"]["requested_by"] == "vaibhav"
    assert page["allowed_actions"] == ["assess"]
    # value = 12,000 GPUs x ($500M / 12,000) = $500M > $1M: an independent director decides
    assert (page["related"], page["needs_independent"]) == (True, True)
    assert page["value_usd"] == 500_000_000
    assert page["approvals_required"] == 1
    # 2. its assessment: queued (202), run by the worker, the transfer is then assessed
    run = ok(
        c.post(f"{API}/transfers/{tid}/assess", headers=tok["vaibhav"], json={"seeds": 1}), 202
    )
    assert (run["status"], run["kind"], run["transfer_id"]) == ("queued", "assessment", tid)
    assert RunWorker(store).run_once() == run["id"]
    page = ok(c.get(f"{API}/transfers/{tid}", headers=tok["elon"]))
    assert page["transfer"]["state"] == "assessed"
    charge = page["assessment"]["charge"]
    assert charge["price_usd"] == 0 and charge["fair_usd"] > 0
    assert page["price_flag"] is True  # given away below its fair value
    assert set(page["assessment"]["programs"]) == {"fsd-training", "grok-pretraining"}
    # 3. Elon sees why he may not approve, and is refused if he tries
    reasons = eligibility(page)
    assert reasons["elon"][0] == "conflicted"
    assert reasons["vaibhav"][0] == "own-request"
    assert reasons["robyn"] == []
    assert "approve" not in page["allowed_actions"]
    refused = c.post(f"{API}/transfers/{tid}/approve", headers=tok["elon"], json={})
    err = ok(refused, 403)["error"]
    assert err["code"] == "conflicted"
    assert "officer of tesla and officer of xai" in err["message"]
    # 4. the independent director approves
    robyn = ok(c.get(f"{API}/transfers/{tid}", headers=tok["robyn"]))
    assert robyn["allowed_actions"] == ["approve", "reject"]
    page = ok(c.post(f"{API}/transfers/{tid}/approve", headers=tok["robyn"], json={"note": "ok"}))
    assert page["transfer"]["state"] == "approved"
    assert page["approvals_received"] == 1
    assert [a["person"] for a in page["approvals"]] == ["robyn"]
    # 5. activated by Tesla's admin; every step has its actor and time
    page = ok(c.post(f"{API}/transfers/{tid}/activate", headers=tok["vaibhav"], json={}))
    steps = [(s["from_state"], s["to_state"]) for s in page["steps"]]
    assert steps == [
        (None, "requested"),
        ("requested", "assessed"),
        ("assessed", "approved"),
        ("approved", "active"),
    ]
    assert page["steps"][2]["actor"].startswith("robyn [token ")
    assert all(s["at"].endswith("+00:00") for s in page["steps"])
    # 6. in the plan: the 12,000 GPUs are powered at xAI's site, nothing is stranded
    report = ok(c.get(f"{API}/reports/fleet?at=2024-07-01", headers=tok["admin"]))
    assert report["stranded"]["gpu_days"] == 0
    by_entity = {e["entity"]: e["gpus"] for e in report["by_entity"]}
    assert by_entity == {"tesla": 10_000, "xai": 22_000}
    # 7. xAI's viewer sees it (a party), and the audit chain holds
    listed = ok(c.get(f"{API}/transfers", headers=tok["xai-viewer"]))
    assert [t["id"] for t in listed["items"]] == [tid]
    assert ok(c.get(f"{API}/audit/verify", headers=tok["admin"]))["ok"] is True
    actions = [
        r["action"]
        for r in ok(c.get(f"{API}/audit?limit=500", headers=tok["admin"]))["items"]
        if r["object_type"] == "transfer"
    ]
    assert actions == ["request", "assess", "approve", "activate"]


def test_a_stale_version_is_refused(store: Store) -> None:
    c, tok = governed(store)
    tid = ok(c.post(f"{API}/transfers", headers=tok["vaibhav"], json=MOVE), 201)["transfer"]["id"]
    body = {"note": "", "expected_version": 7}
    resp = c.post(f"{API}/transfers/{tid}/reject", headers=tok["robyn"], json=body)
    assert ok(resp, 409)["error"]["code"] == "stale-state"


def test_a_rejection_and_the_steps_it_leaves(store: Store) -> None:
    c, tok = governed(store)
    tid = ok(c.post(f"{API}/transfers", headers=tok["vaibhav"], json=MOVE), 201)["transfer"]["id"]
    page = ok(c.post(f"{API}/transfers/{tid}/reject", headers=tok["robyn"], json={"note": "no"}))
    assert page["transfer"]["state"] == "rejected"
    assert page["allowed_actions"] == []
    again = c.post(f"{API}/transfers/{tid}/assess", headers=tok["vaibhav"], json={})
    assert ok(again, 409)["error"]["code"] == "bad-state"


def test_a_token_without_a_person_cannot_request(store: Store) -> None:
    c, tok = governed(store)
    personless = bearer(make_token(store, AccessRole.ENTITY_ADMIN, "tesla"))
    resp = c.post(f"{API}/transfers", headers=personless, json=MOVE)
    assert ok(resp, 403)["error"]["code"] == "no-person"
    bad = c.post(f"{API}/transfers", headers=tok["vaibhav"], json={**MOVE, "gpus": 12004})
    assert "whole nodes" in ok(bad, 422)["error"]["message"]

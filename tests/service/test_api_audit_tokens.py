"""The audit log and the tokens over HTTP (fleet-admin only), and who the caller is."""

from __future__ import annotations

import csv
import io

from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from tests.support.api import API, admin_token, bearer, client, ok, seeded_client
from tests.support.audit import as_owner


def test_health_needs_no_token_and_me_names_the_caller(store: Store) -> None:
    c = client(store)
    health = ok(c.get(f"{API}/health"))
    assert health["status"] == "ok" and health["schema_revision"]
    me = ok(c.get(f"{API}/me", headers=bearer(admin_token(store))))
    assert (me["name"], me["role"], me["entity"], me["person"]) == (
        "admin",
        "fleet-admin",
        None,
        None,
    )


def test_the_audit_log_is_paged_and_followed_with_after_seq(store: Store) -> None:
    c, admin = seeded_client(store)
    # seeding the article audits 1 token + 1 plan + 2 sites + 2 entities + 2 programs
    # + 2 quotas + 3 pools = 13 records
    first = ok(c.get(f"{API}/audit?limit=5", headers=admin))
    assert first["total"] == 13
    assert [r["seq"] for r in first["items"]] == [1, 2, 3, 4, 5]
    rest = ok(c.get(f"{API}/audit?after_seq=10", headers=admin))
    assert ([r["seq"] for r in rest["items"]], rest["total"]) == ([11, 12, 13], 3)
    rec = first["items"][1]
    assert (rec["action"], rec["object_type"]) == ("create", "plan")
    assert rec["before"] is None and rec["after"]["doc"]["name"] == "article-tesla-xai"


def test_verify_names_the_first_edited_record(store: Store) -> None:
    c, admin = seeded_client(store)
    assert ok(c.get(f"{API}/audit/verify", headers=admin))["ok"] is True
    # an edit behind the app's back, by an owner who drops the append-only trigger first
    as_owner(store, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 4")
    verdict = ok(c.get(f"{API}/audit/verify", headers=admin))
    assert (verdict["ok"], verdict["first_bad_seq"]) == (False, 4)


def test_the_exports_verify_as_an_auditors_copy(store: Store) -> None:
    c, admin = seeded_client(store)
    as_json = c.get(f"{API}/audit/export?format=json", headers=admin)
    assert as_json.headers["content-type"].startswith("application/json")
    assert audit.verify_export(as_json.text, "json").ok
    as_csv = c.get(f"{API}/audit/export?format=csv", headers=admin)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert audit.verify_export(as_csv.text, "csv").ok
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == 13
    bad = c.get(f"{API}/audit/export?format=xml", headers=admin)
    assert ok(bad, 422)["error"]["code"] == "invalid-parameter"


def test_tokens_are_created_once_listed_without_secrets_and_revoked(store: Store) -> None:
    c, admin = seeded_client(store)
    body = {"name": "tesla-ro", "role": "viewer", "entity": "tesla"}
    made = ok(c.post(f"{API}/tokens", headers=admin, json=body), 201)
    assert made["secret"].startswith("gf_") and made["entity"] == "tesla"
    me = ok(c.get(f"{API}/me", headers=bearer(made["secret"])))
    assert (me["role"], me["entity"]) == ("viewer", "tesla")
    listed = ok(c.get(f"{API}/tokens", headers=admin))
    assert listed["total"] == 2
    assert made["secret"] not in c.get(f"{API}/tokens", headers=admin).text
    assert all("secret" not in t and "token_hash" not in t for t in listed["items"])
    assert c.delete(f"{API}/tokens/{made['id']}", headers=admin).status_code == 204
    revoked = next(
        t for t in ok(c.get(f"{API}/tokens", headers=admin))["items"] if t["id"] == made["id"]
    )
    assert revoked["revoked_at"] is not None
    assert c.get(f"{API}/me", headers=bearer(made["secret"])).status_code == 401


def test_a_token_request_that_makes_no_sense_is_a_4xx(store: Store) -> None:
    c, admin = seeded_client(store)
    cases = [
        ({"name": "x", "role": "viewer"}, 422),  # a viewer of which entity?
        ({"name": "x", "role": "fleet-admin", "entity": "tesla"}, 422),
        ({"name": "x", "role": "approver", "entity": "tesla"}, 422),  # approvers are people
        ({"name": "x", "role": "viewer", "entity": "nobody"}, 404),
        ({"name": "x", "role": "root"}, 422),
    ]
    for body, status in cases:
        assert c.post(f"{API}/tokens", headers=admin, json=body).status_code == status, body
    assert ok(c.delete(f"{API}/tokens/999", headers=admin), 404)["error"]["code"] == "not-found"

"""Every error the API returns has one shape, ``{"error": {"code", "message", "problems"}}``,
and a bad request is a clear 4xx, never a 500: malformed JSON, an oversized body, an
unknown field, a wrong type, an unknown route or method, a missing, unknown or revoked
token. Only a real bug is a 500, and its details go to the log, not to the client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from tests.support.api import API, TestClient, admin_token, bearer, client, error_of, make_token

MIB = 1024 * 1024


@pytest.fixture
def api(store: Store) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with client(store) as c:
        yield c, bearer(admin_token(store))


def test_malformed_json_is_a_400_saying_where(api: tuple[TestClient, dict[str, str]]) -> None:
    c, admin = api
    headers = {**admin, "Content-Type": "application/json"}
    resp = c.post(f"{API}/sites", headers=headers, content=b'{"name": "x",')
    err = error_of(resp, 400, "malformed-json")
    assert "not valid JSON" in err["message"]


def test_a_body_that_is_not_json_is_a_415(api: tuple[TestClient, dict[str, str]]) -> None:
    c, admin = api
    headers = {**admin, "Content-Type": "application/x-www-form-urlencoded"}
    resp = c.post(f"{API}/sites", headers=headers, content=b"name=x")
    err = error_of(resp, 415, "unsupported-media-type")
    assert "application/json" in err["message"]


def test_a_body_declared_over_one_mebibyte_is_refused_unread(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    resp = c.post(f"{API}/sites", headers=admin, content=b"x" * (MIB + 1))
    error_of(resp, 413, "body-too-large")


def test_a_streamed_body_over_one_mebibyte_is_counted_and_refused(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(17):
            yield b" " * 65536  # 17 x 64 KiB = 1.0625 MiB

    resp = c.post(f"{API}/sites", headers=admin, content=chunks())
    error_of(resp, 413, "body-too-large")


def test_a_body_of_exactly_one_mebibyte_gets_past_the_size_check(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    padding = " " * (MIB - len('{"name": "s", "power_kw": 1}'))
    body = ('{"name": "s", "power_kw": 1}' + padding).encode()
    assert len(body) == MIB
    headers = {**admin, "Content-Type": "application/json"}
    assert c.post(f"{API}/sites", headers=headers, content=body).status_code == 201


def test_an_unknown_field_is_a_422_naming_it(api: tuple[TestClient, dict[str, str]]) -> None:
    c, admin = api
    resp = c.post(f"{API}/sites", headers=admin, json={"name": "s", "power_kw": 5, "powr": 1})
    err = error_of(resp, 422, "invalid-body")
    assert [p["field"] for p in err["problems"]] == ["powr"]


def test_a_wrong_type_is_a_422_naming_the_field_and_the_type_expected(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    resp = c.post(f"{API}/sites", headers=admin, json={"name": "s", "power_kw": "lots"})
    err = error_of(resp, 422, "invalid-body")
    assert err["problems"] == [
        {
            "field": "power_kw",
            "message": "Input should be a valid number",  # strict: a string is not one
            "expected": "a number",
        }
    ]


def test_a_missing_field_and_a_nested_one_are_each_a_problem(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    body = {"name": "s", "ready": [{"date": "2024-01-01", "power_kw": -1}]}
    err = error_of(c.post(f"{API}/sites", headers=admin, json=body), 422, "invalid-body")
    by_field = {p["field"]: p for p in err["problems"]}
    assert set(by_field) == {"power_kw", "ready.0.power_kw"}
    assert by_field["ready.0.power_kw"]["expected"] == "greater than 0"


def test_a_bad_page_parameter_is_a_422(api: tuple[TestClient, dict[str, str]]) -> None:
    c, admin = api
    for query in ("limit=0", "limit=501", "offset=-1", "limit=ten"):
        resp = c.get(f"{API}/sites?{query}", headers=admin)
        err = error_of(resp, 422, "invalid-parameter")
        assert err["problems"][0]["field"] == query.split("=")[0]


def test_an_unknown_route_and_a_wrong_method_have_the_shape_too(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    error_of(c.get(f"{API}/nothing-here", headers=admin), 404, "unknown-route")
    error_of(c.get(f"{API}/nothing-here"), 404, "unknown-route")
    error_of(c.put(f"{API}/sites", headers=admin, json={}), 405, "method-not-allowed")


def test_a_missing_unknown_malformed_or_revoked_token_is_a_401(
    store: Store, api: tuple[TestClient, dict[str, str]]
) -> None:
    c, admin = api
    resp = c.get(f"{API}/me")
    error_of(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"
    error_of(c.get(f"{API}/me", headers=bearer("gf_not-a-token")), 401, "unauthorized")
    error_of(c.get(f"{API}/me", headers={"Authorization": "Basic eDp5"}), 401, "unauthorized")
    other = make_token(store, AccessRole.FLEET_ADMIN, name="soon-revoked")
    me = c.get(f"{API}/me", headers=bearer(other)).json()
    assert c.delete(f"{API}/tokens/{me['token_id']}", headers=admin).status_code == 204
    err = error_of(c.get(f"{API}/me", headers=bearer(other)), 401, "unauthorized")
    assert "revoked" in err["message"]


def test_a_missing_object_is_a_404_and_a_taken_name_a_409(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    error_of(c.get(f"{API}/sites/nowhere", headers=admin), 404, "not-found")
    error_of(c.get(f"{API}/quotas/not-a-number", headers=admin), 404, "not-found")
    site = {"name": "s", "power_kw": 5}
    assert c.post(f"{API}/sites", headers=admin, json=site).status_code == 201
    error_of(c.post(f"{API}/sites", headers=admin, json=site), 409, "exists")


def test_a_database_constraint_is_a_409_conflict(
    api: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers racing past the name check: the database's constraint has the last
    word, and the loser gets a 409, not a 500."""
    c, admin = api

    def clash(*_a: Any, **_k: Any) -> None:
        raise IntegrityError("INSERT INTO sites", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr("gpufleet.governance.register.ops.create", clash)
    resp = c.post(f"{API}/sites", headers=admin, json={"name": "s", "power_kw": 5})
    err = error_of(resp, 409, "conflict")
    assert "UNIQUE" not in err["message"]


def test_a_bug_is_a_500_with_a_generic_message_and_a_logged_traceback(
    api: tuple[TestClient, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    c, admin = api

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("gpufleet.governance.store.audit_check.verify_store", broken)
    with caplog.at_level(logging.ERROR, logger="gpufleet.service"):
        resp = c.get(f"{API}/audit/verify", headers=admin)
    err = error_of(resp, 500, "internal-error")
    assert "secret" not in resp.text
    assert err["message"] == "internal error; see the server log"
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "secret internals" in str(logged[0].exc_info[1])  # type: ignore[index]


def test_the_openapi_schema_documents_the_bodies_and_the_token(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, _ = api
    schema = c.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "gpufleet"
    site = schema["components"]["schemas"]["SiteIn"]
    assert site["additionalProperties"] is False
    assert "token" in schema["components"]["securitySchemes"]
    assert "/api/v1/transfers/{transfer_id}/approve" in schema["paths"]
    assert c.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e400", "9007199254740992", "1" * 5000]
)
def test_a_number_no_column_can_hold_is_a_422(
    api: tuple[TestClient, dict[str, str]], number: str
) -> None:
    """Python's JSON reader takes NaN, Infinity, 1e400 (= inf) and 5,000-digit integers;
    JSON replies cannot carry the first three and no integer column the last two."""
    c, admin = api
    headers = {**admin, "Content-Type": "application/json"}
    body = '{"name": "s", "power_kw": ' + number + "}"
    err = error_of(c.post(f"{API}/sites", headers=headers, content=body), 422, "invalid-body")
    assert "cannot be stored" in err["problems"][0]["message"]


def test_what_the_database_refuses_is_a_422_not_a_500(
    store: Store, api: tuple[TestClient, dict[str, str]]
) -> None:
    """PostgreSQL stores no 2^40 in a 32-bit column, SQLite does; a NUL in text is refused
    by the bodies on both."""
    c, admin = api
    nul = c.post(f"{API}/people", headers=admin, json={"name": "nul", "email": "a\u0000b"})
    for key in ("99999999999999999999", "²", "-1"):  # "²".isdigit(), but not a number
        assert c.get(f"{API}/quotas/{key}", headers=admin).status_code == 404
    error_of(nul, 422, "invalid-body")
    for path in ("transfers", "runs"):
        error_of(c.get(f"{API}/{path}/99999999999", headers=admin), 422, "invalid-parameter")

"""Bad input the API must refuse with a precise 4xx, never a 500, leaving the store as it
was (issue 10, items 9 and 10), on SQLite and PostgreSQL:

- **a lone surrogate** (``"\\ud800"``: JSON's escapes allow it, UTF-8 cannot encode it) in
  a text field of any route, nested or not, or in a key: 422 naming the field;
- **nesting** deeper than the guard's bound, up to 100,000 levels: 422 saying so; a body
  that is not UTF-8: 400;
- **a scenario sent to POST /seed** nested 500 or 100,000 levels deep, with a 5,000-digit
  integer, or with a surrogate escaped in its YAML: 422 naming the line and the field;
- **wrong types** (strict bodies): ``"gpus": "8"``, ``true`` for a count, ``8.0`` for an
  integer, a unix time for a date, a string for a number in a PATCH: 422 saying what type
  was expected; an enum still takes its value (``"officer"``);
- **an offset at midnight** (``2024-07-02T00:00:00-10:00``) is kept: an instant, not the
  date 2024-07-02.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.service.errors import MAX_JSON_DEPTH
from tests.support.api import API, bearer, client, error_of, small_with_a_request
from tests.support.small_scenario import with_defect

pytestmark = pytest.mark.security

LONE = "\ud800"
"""Half of a UTF-16 pair: json.dumps writes it as the escape ``\\ud800``."""


@pytest.fixture(scope="module")
def api(module_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """SMALL, person ann (officer of acme) with a fleet-admin token, transfer 1 requested
    by her (acme lends 16 GPUs to beta); one register per backend for the module (the
    refusals write nothing, and the two tests that write use names of their own)."""
    store = Store(module_url)
    with store.write("test:setup") as tx:
        small_with_a_request(tx)
        secret = create_token(tx, "admin", AccessRole.FLEET_ADMIN, None, "ann")[1]
    try:
        with client(store) as c:
            yield c, bearer(secret)
    finally:
        store.dispose()


def send(c: TestClient, admin: dict[str, str], method: str, path: str, raw: bytes) -> Any:
    headers = {**admin, "Content-Type": "application/json"}
    return c.request(method, f"{API}{path}", headers=headers, content=raw)


def audit_records(c: TestClient, admin: dict[str, str]) -> int:
    verdict = c.get(f"{API}/audit/verify", headers=admin).json()
    assert verdict["ok"], verdict
    return int(verdict["records"])


# --- a lone surrogate -----------------------------------------------------------------------

PLAN = {"name": "p", "start": "2024-01-01", "horizon_days": 10}
MOVE = {"move": ["16 H100-SXM acme->beta 2024-01-03"]}
TRANSFER = {"pool": "acme-h100", "gpus": 8, "to": "beta", "start": "2024-01-05"}
JOB = {"submit": "2024-01-02", "gpus": 8, "duration_hours": 2}

SURROGATES = [
    pytest.param("POST", "/sites", {"name": "s9", "power_kw": 10, "description": LONE},
                 "description", id="site-description"),
    pytest.param("POST", "/entities", {"name": "e9", "description": LONE}, "description",
                 id="entity-description"),
    pytest.param("POST", "/people", {"name": "bob", "email": LONE}, "email", id="person-email"),
    pytest.param("POST", "/groups", {"name": LONE}, "name", id="group-name"),
    pytest.param("PATCH", "/sites/east", {"description": LONE}, "description",
                 id="patched-site-description"),
    pytest.param("PUT", "/plan", {**PLAN, "description": LONE}, "description",
                 id="plan-description"),
    pytest.param("POST", "/transfers", {**TRANSFER, "note": LONE}, "note", id="transfer-note"),
    pytest.param("POST", "/transfers/1/reject", {"note": LONE}, "note", id="action-note"),
    pytest.param("POST", "/runs", {"name": LONE, "changes": MOVE}, "name", id="run-name"),
    pytest.param("POST", "/tokens", {"name": LONE, "role": "viewer", "entity": "acme"}, "name",
                 id="token-name"),
    pytest.param("POST", "/seed", {"scenario_yaml": LONE}, "scenario_yaml", id="seed-text"),
    pytest.param("POST", "/programs",
                 {"name": "p9", "entity": "acme", "workload": {"jobs": [{**JOB, "name": LONE}]}},
                 "workload.jobs.0.name", id="nested-job-name"),
    pytest.param("POST", "/runs", {"name": "r", "changes": {"move": [f"16 {LONE}"]}},
                 "changes.move.0", id="list-item"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field"), SURROGATES)
def test_a_lone_surrogate_in_any_text_field_is_a_422_naming_the_field(
    api: tuple[TestClient, dict[str, str]], method: str, path: str, body: Any, field: str
) -> None:
    c, admin = api
    before = audit_records(c, admin)
    resp = send(c, admin, method, path, json.dumps(body).encode())
    err = error_of(resp, 422, "invalid-body")
    [problem] = err["problems"]
    assert problem["field"] == field
    assert "lone surrogate" in problem["message"]
    assert audit_records(c, admin) == before  # nothing written


def test_a_lone_surrogate_in_a_key_is_a_422_naming_the_key_escaped(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    body = json.dumps({"name": "s9", "power_kw": 10, "x" + LONE: 1}).encode()
    err = error_of(send(c, admin, "POST", "/sites", body), 422, "invalid-body")
    assert err["problems"][0]["field"] == "x\\ud800"
    assert "lone surrogate" in err["problems"][0]["message"]


def test_a_surrogate_escaped_in_a_seeded_scenarios_yaml_is_a_422_naming_its_field(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    yaml_text = with_defect("name: small", 'name: "sm\\ud800all"')  # YAML's own escape
    resp = send(c, admin, "POST", "/seed", json.dumps({"scenario_yaml": yaml_text}).encode())
    err = error_of(resp, 422, "invalid-plan")
    assert [(p["field"], p["message"]) for p in err["problems"]] == [
        ("name", "line 1: contains a lone surrogate (U+D800 to U+DFFF), which is not text")
    ]


# --- nesting and encoding -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 2, 100_000])
def test_a_body_nested_too_deep_is_a_422_saying_so(
    api: tuple[TestClient, dict[str, str]], depth: int
) -> None:
    c, admin = api
    raw = b'{"name": "s9", "power_kw": 10, "description": ' + b"[" * depth + b"]" * depth + b"}"
    err = error_of(send(c, admin, "POST", "/sites", raw), 422, "invalid-body")
    assert f"more than {MAX_JSON_DEPTH} levels deep" in err["problems"][0]["message"]


def test_a_body_that_is_not_utf8_is_a_400_saying_which_byte(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    raw = '{"name": "s9", "power_kw": 10, "description": "café"}'.encode("latin-1")
    err = error_of(send(c, admin, "POST", "/sites", raw), 400, "malformed-json")
    # é is byte 50 (counting from 0: 15 + 16 + 15 + 4 bytes before it), 0xE9 in latin-1,
    # which starts a 3-byte UTF-8 sequence that the '"' after it breaks
    assert err["message"].startswith("the body is not UTF-8 JSON: byte 50 is not UTF-8")


# --- scenarios sent to /seed ----------------------------------------------------------------


def seed(c: TestClient, admin: dict[str, str], text: str) -> Any:
    return send(c, admin, "POST", "/seed", json.dumps({"scenario_yaml": text}).encode())


@pytest.mark.parametrize("depth", [500, 100_000])
def test_a_scenario_nested_hundreds_of_levels_deep_is_a_422_with_its_line(
    api: tuple[TestClient, dict[str, str]], depth: int
) -> None:
    c, admin = api
    text = "name: deep\nstart: 2024-01-01\nx: " + "[" * depth + "]" * depth + "\n"
    err = error_of(seed(c, admin, text), 422, "invalid-plan")
    [problem] = err["problems"]
    assert problem["message"] == "line 3: mappings and lists are nested more than 50 levels deep"


def test_a_5000_digit_integer_in_a_seeded_scenario_is_a_422_naming_the_field_and_line(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    text = with_defect("seed: 7", "seed: " + "9" * 5000)
    err = error_of(seed(c, admin, text), 422, "invalid-plan")
    [problem] = err["problems"]
    assert problem["field"] == "seed"
    # line 4 of SMALL; the first 20 digits, then the count
    assert problem["message"] == (
        "line 4: the integer 99999999999999999999... (5,000 digits) is too large"
    )
    assert problem["expected"] == "an integer from -9223372036854775808 to 9223372036854775807"


# --- strict types ---------------------------------------------------------------------------

WRONG_TYPES = [
    pytest.param("POST", "/transfers", {**TRANSFER, "gpus": "8"}, "gpus", "an integer",
                 id="a-count-as-a-string"),
    pytest.param("POST", "/transfers", {**TRANSFER, "gpus": 8.0}, "gpus", "an integer",
                 id="a-count-as-a-float"),
    pytest.param("POST", "/quotas",
                 {"program": "vision", "gpu_type": "A100-80GB", "nominal": True},
                 "nominal", "an integer", id="a-count-as-true"),
    pytest.param("POST", "/transfers", {**TRANSFER, "start": 1720000000}, "start",
                 "an ISO date string", id="a-date-as-a-unix-time"),
    pytest.param("POST", "/transfers", {**TRANSFER, "start": "1720000000"}, "start",
                 "an ISO date string", id="a-date-as-digits"),
    pytest.param("PATCH", "/sites/east", {"power_kw": "5000"}, "power_kw", "a number",
                 id="a-patched-number-as-a-string"),
    pytest.param("POST", "/runs", {"name": "r", "changes": MOVE, "seeds": "2"}, "seeds",
                 "an integer", id="run-seeds-as-a-string"),
    pytest.param("POST", "/roles", {"person": "ann", "entity": "beta", "role": 1}, "role",
                 "", id="an-enum-as-a-number"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field", "expected"), WRONG_TYPES)
def test_a_value_of_the_wrong_json_type_is_a_422_saying_the_type_expected(
    api: tuple[TestClient, dict[str, str]],
    method: str,
    path: str,
    body: Any,
    field: str,
    expected: str,
) -> None:
    c, admin = api
    before = audit_records(c, admin)
    err = error_of(send(c, admin, method, path, json.dumps(body).encode()), 422, "invalid-body")
    assert [p["field"] for p in err["problems"]] == [field]
    assert err["problems"][0]["expected"].startswith(expected)
    assert audit_records(c, admin) == before


def test_an_enum_still_takes_its_value_and_a_date_its_iso_string(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    token = {"name": "v", "role": "viewer", "entity": "acme"}
    assert send(c, admin, "POST", "/tokens", json.dumps(token).encode()).status_code == 201
    resp = send(c, admin, "POST", "/transfers", json.dumps(TRANSFER).encode())
    assert resp.status_code == 201, resp.text


def test_an_offset_at_midnight_is_kept_not_dropped_to_a_date(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    c, admin = api
    quota = {
        "program": "vision",
        "gpu_type": "H100-SXM",
        "nominal": 8,
        "effective": "2024-07-02T00:00:00-10:00",
    }
    resp = send(c, admin, "POST", "/quotas", json.dumps(quota).encode())
    assert resp.status_code == 201, resp.text
    # 00:00 at UTC-10 is 10:00 UTC on 2024-07-02: an instant, not the day 2024-07-02
    assert resp.json()["effective"] == "2024-07-02T00:00:00-10:00"

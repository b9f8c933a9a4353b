"""A hypothesis fuzz of every request body (issue 10): for each POST, PUT and PATCH route
of the OpenAPI schema, bodies made from a valid one by putting in hostile values (lone
surrogates, NUL, huge integers written out to 5,000 digits, NaN and Infinity, very long
strings, nesting thousands of levels deep, wrong types, unix times for dates, unknown
fields, missing fields), or replaced by truncated JSON and random bytes, sent through the
test client as a fleet-admin (so every check runs and writes happen for real).

Checked for every example: never a 5xx, and every 4xx is in the API's one error shape
with a machine code. The examples are seeded (``derandomize``) and bounded
(:data:`EXAMPLES` per route; ``GPUFLEET_FUZZ_EXAMPLES=200`` for a longer hunt), on both
backends (PostgreSQL when ``GPUFLEET_TEST_PG_URL`` is set).
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.governance.auth.tokens import create_token
from gpufleet.governance.register import ops
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.service.app import create_app
from gpufleet.service.ratelimit import RateLimit
from tests.support.api import API, bearer, small_with_a_request
from tests.support.small_scenario import SMALL

pytestmark = pytest.mark.security

EXAMPLES = int(os.environ.get("GPUFLEET_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
)

MOVE = {"move": ["16 H100-SXM acme->beta 2024-01-03"]}
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/groups"): {"name": "g1", "independent_approvals": 2},
    ("PATCH", "/groups/holding"): {"related_threshold_usd": 5.0},
    ("POST", "/sites"): {
        "name": "s1", "power_kw": 100, "ready": [{"date": "2024-02-01", "power_kw": 5}]
    },
    ("PATCH", "/sites/east"): {"power_kw": 6000},
    ("POST", "/entities"): {"name": "e1", "description": "d"},
    ("PATCH", "/entities/acme"): {"description": "d"},
    ("POST", "/programs"): {
        "name": "p1",
        "entity": "acme",
        "milestone": {"name": "m", "gpu_hours": 10, "due": "2024-01-09"},
        "workload": {"jobs": [{"submit": "2024-01-02", "gpus": 8, "duration_hours": 2}]},
    },
    ("PATCH", "/programs/vision"): {"weight": 2},
    ("POST", "/quotas"): {"program": "vision", "gpu_type": "A100-80GB", "nominal": 8},
    ("PATCH", "/quotas/1"): {"nominal": 60, "effective": "2024-01-02"},
    ("POST", "/pools"): {
        "name": "pl1", "site": "east", "gpu_type": "H100-SXM", "nodes": 1, "owner": "acme"
    },
    ("PATCH", "/pools/acme-h100"): {"nodes": 8},
    ("POST", "/people"): {"name": "bob", "email": "bob@example.com"},
    ("PATCH", "/people/cat"): {"email": "cat@example.com"},
    ("POST", "/roles"): {"person": "cat", "entity": "beta", "role": "employee"},
    ("PATCH", "/roles/1"): {"role": "officer"},
    ("PUT", "/plan"): {"name": "p", "start": "2024-01-01", "horizon_days": 10, "cost": {}},
    ("POST", "/seed"): {"scenario_yaml": SMALL},
    ("POST", "/transfers"): {"pool": "acme-h100", "gpus": 8, "to": "beta", "start": "2024-01-05"},
    ("POST", "/transfers/1/assess"): {"seeds": 1},
    ("POST", "/transfers/1/approve"): {"note": "ok", "expected_version": 1},
    ("POST", "/transfers/1/reject"): {"note": "no"},
    ("POST", "/transfers/1/activate"): {"note": "go"},
    ("POST", "/transfers/1/end"): {"at": "2024-01-08"},
    ("POST", "/transfers/1/revoke"): {"note": "undo"},
    ("POST", "/runs"): {"name": "r", "changes": MOVE, "seeds": 1},
    ("POST", "/tokens"): {"name": "t", "role": "viewer", "entity": "acme"},
    ("POST", "/live/observe"): {},  # no field: the sources are the server's own
}  # fmt: skip
"""A valid body for every route that takes one, at a path naming a seeded object."""


def test_every_route_with_a_body_is_fuzzed() -> None:
    """Guards the table: a new POST/PUT/PATCH route must get a valid body here."""
    openapi = create_app(Store("sqlite://"), run_worker=False).openapi()
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, ops_ in openapi["paths"].items()
        for method in ops_
        if method in ("post", "put", "patch") and path.startswith(API)
    }
    # a path with no object in it (/live/observe) is its own template
    templated = {(m, p if (m, p) in routes else _template(p)) for m, p in VALID}
    assert routes == templated


def _template(path: str) -> str:
    """``/sites/east`` -> ``/sites/{key}``; ``/transfers/1/end`` ->
    ``/transfers/{transfer_id}/end``."""
    parts = path.split("/")
    if len(parts) == 3:
        return f"/{parts[1]}/{{key}}"
    if len(parts) == 4:
        return f"/{parts[1]}/{{transfer_id}}/{parts[3]}"
    return path


# --- hostile values ---------------------------------------------------------------------------

HUGE = "__huge_integer__"
"""Written out as 5,000 nines after json.dumps (which cannot write such an int itself)."""
DEEP = re.compile(r'"__deep_(\d+)__"')
"""Written out as that many nested lists and objects after json.dumps (which recurses)."""


def deep(match: re.Match[str]) -> str:
    depth = int(match.group(1))
    return '[{"k": ' * (depth // 2) + "1" + "}]" * (depth // 2)


HOSTILE_VALUES = [
    "\ud800", "a\udfffb", "\x00", "x\x00y", HUGE, 2**53, -(2**53) - 1, 2**63, 10**30,
    float("nan"), float("inf"), float("-inf"), 1e308, -0.0, True, False, None, [], {},
    "", " ", "8", 8.0, -1, 0, 1720000000, "1720000000", "2024-07-02T00:00:00-10:00",
    "9999-12-31", "0000-01-01", "2024-02-30", "../../etc/passwd", "x" * 100_000,
    "é" * 1000, "\u202e", "%s%n", "<script>", "' OR 1=1 --",
]  # fmt: skip
SMALL_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids),
    max_leaves=8,
)
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([20, 33, 500, 3000, 100_000]).map(lambda d: f"__deep_{d}__"),
    SMALL_JSON,
)
KEY = st.text(alphabet=string.ascii_lowercase + "\ud800", min_size=1, max_size=8)


@st.composite
def body_of(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """A hostile body made from ``valid``."""
    keys = sorted(valid)
    kinds = ["field", "field", "nested", "extra", "drop", "whole", "raw"]
    kind = draw(st.sampled_from(kinds if keys else ["extra", "whole", "raw"]))  # {}: no field
    body: Any = dict(valid)
    if kind == "field":
        body[draw(st.sampled_from(keys))] = draw(HOSTILE)
    elif kind == "nested":
        body[draw(st.sampled_from(keys))] = draw(st.sampled_from([[0], {"k": 0}, [{"k": 0}]]))
        body = _poison_leaf(body, draw(HOSTILE))
    elif kind == "extra":
        body[draw(KEY)] = draw(HOSTILE)
    elif kind == "drop":
        body.pop(draw(st.sampled_from(keys)))
    elif kind == "whole":
        body = draw(HOSTILE)
    else:
        return draw(_raw(json.dumps(valid)))
    text = DEEP.sub(deep, json.dumps(body).replace(f'"{HUGE}"', "9" * 5000))
    return text.encode()  # json.dumps writes a lone surrogate as its escape, \\ud800


def _poison_leaf(v: Any, leaf: Any) -> Any:
    if isinstance(v, dict):
        k = sorted(v)[-1] if v else "k"
        return {**v, k: _poison_leaf(v.get(k), leaf)}
    if isinstance(v, list) and v:
        return [*v[:-1], _poison_leaf(v[-1], leaf)]
    return leaf


def _raw(text: str) -> st.SearchStrategy[bytes]:
    data = text.encode()
    return st.one_of(
        st.integers(0, len(data)).map(lambda n: data[:n]),  # truncated
        st.binary(max_size=64),  # random bytes
        st.just(data.replace(b'"', b"'")),  # not JSON
        st.just(data.replace(b"{", b"\xff", 1)),  # not UTF-8
        st.just(b"\xef\xbb\xbf" + data),  # a byte order mark
    )


# --- the service under fuzz -------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(module_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """SMALL with group holding, people ann (officer of acme, the token's) and cat,
    transfer 1 requested by ann; a fleet-admin token; no rate limit (the fuzz is one
    caller sending hundreds of requests)."""
    store = Store(module_url)
    with store.write("test:setup") as tx:
        small_with_a_request(tx)
        ops.create(tx, "group", {"name": "holding"})
        ops.create(tx, "person", {"name": "cat"})
        secret = create_token(tx, "admin", AccessRole.FLEET_ADMIN, None, "ann")[1]
    app = create_app(store, run_worker=False, rate_limit=RateLimit(per_minute=0))
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            yield c, bearer(secret)
    finally:
        store.dispose()


def shape_problem(resp: Any) -> str | None:
    """What is wrong with a 4xx's body, if anything (the one error shape)."""
    try:
        body = resp.json()
    except ValueError:
        return f"a {resp.status_code} whose body is not JSON: {resp.text[:200]!r}"
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or set(body) != {"error"}:
        return f"a {resp.status_code} not in the one error shape: {body!r:.300}"
    if set(err) != {"code", "message", "problems"} or not err["code"] or not err["message"]:
        return f"a {resp.status_code} without a code, a message and problems: {err!r:.300}"
    return None


@pytest.mark.parametrize(("method", "path"), list(VALID), ids=[f"{m} {p}" for m, p in VALID])
def test_no_hostile_body_gets_a_server_error(
    served: tuple[TestClient, dict[str, str]], method: str, path: str
) -> None:
    c, admin = served

    @FUZZ
    @given(raw=body_of(VALID[(method, path)]))
    def one(raw: bytes) -> None:
        headers = {**admin, "Content-Type": "application/json"}
        resp = c.request(method, API + path, headers=headers, content=raw)
        assert resp.status_code < 500, f"{method} {path} {raw[:300]!r}: {resp.text[:300]}"
        if resp.status_code >= 400:
            problem = shape_problem(resp)
            assert problem is None, f"{method} {path} {raw[:300]!r}: {problem}"

    one()

"""The access matrix: every route of the app x every kind of caller, the status each gets.

Callers (columns, in this order): no token; a fleet-admin; then a viewer, an entity-admin
and an approver, each of the *own* entity (tesla: it owns the objects and is a party to
the transfers the rows name) and of the *other* entity (spacex: involved in none). The
register is the article's with extras (tests/support/api.py). Writes go through a store
whose transactions roll back, so every cell starts from the same register.

A cell is a status; ``403o`` is a 403 whose code is ``other-entity`` (a token of one
entity reaching for another's object). An allowed write answers its success status,
except where the row's comment says why a refusal after the access check is the point
(a run not done yet, a register not empty).

``test_the_matrix_covers_every_route`` enumerates ``app.routes``: a new endpoint without
a row here fails it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from starlette.routing import Mount

from gpufleet.governance.store.db import Store
from tests.support.api import (
    CALLERS,
    Register,
    RollbackStore,
    TestClient,
    article_register,
    bearer,
    client,
)

V = "/api/v1"
COLUMNS = tuple(CALLERS)  # none fleet viewer-own viewer-other admin-own ... approver-other

ALL = "200 200 200 200 200 200 200 200"
TOKEN = "401 200 200 200 200 200 200 200"
FLEET = "401 {} 403 403 403 403 403 403"  # fleet-admin only; {}: its success status
OWN_READ = "401 200 200 403o 200 403o 200 403o"


def fleet_only(ok: int) -> str:
    return FLEET.format(ok)


def own_create(ok: int) -> str:
    """fleet-admin and the admin of the entity the body names; other roles are refused as
    roles before any entity is looked at, the other entity's admin as another entity's."""
    return f"401 {ok} 403 403 {ok} 403o 403 403"


def own_write(ok: int) -> str:
    """fleet-admin and the owning entity's admin; the other entity's tokens are refused
    as another entity's (viewers and approvers of the own entity: as the wrong role)."""
    return f"401 {ok} 403 403o {ok} 403o 403 403o"


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # the route's path, as app.routes has it
    params: dict[str, str]  # path parameters; "@name": the seeded object's id
    body: dict[str, Any] | None
    cells: str

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def r(method: str, route: str, cells: str, body: Any = None, **params: str) -> Row:
    return Row(method, route, params, body, cells)


def register_rows() -> list[Row]:
    shared = {
        "groups": ("spare-group", {"name": "new-group"}, {"independent_approvals": 3}),
        "sites": ("spare-site", {"name": "new-site", "power_kw": 10}, {"description": "d"}),
        "entities": ("spare-entity", {"name": "new-entity"}, {"description": "d"}),
        "people": ("spare-person", {"name": "new-person"}, {"email": "s@example.org"}),
    }
    rows = []
    for plural, (key, new, patch) in shared.items():
        rows += [
            r("GET", f"{V}/{plural}", TOKEN),
            r("GET", f"{V}/{plural}/{{key}}", TOKEN, key=key),
            r("POST", f"{V}/{plural}", fleet_only(201), new),
            r("PATCH", f"{V}/{plural}/{{key}}", fleet_only(200), patch, key=key),
            r("DELETE", f"{V}/{plural}/{{key}}", fleet_only(204), key=key),
        ]
    owned = {  # plural: (a tesla object to read and change, a spare one, create, patch)
        "programs": (
            "fsd-training",
            "tesla-spare",
            {"name": "tesla-new", "entity": "tesla"},
            {"description": "d"},
        ),
        "quotas": (
            "@fsd-quota",
            "@dated-quota",
            # not H100: a second H100 program would make the plan's transfers ambiguous
            {"program": "tesla-spare", "gpu_type": "A100-80GB", "nominal": 0},
            {"nominal": 22000},
        ),
        "pools": (
            "tesla-h100-existing",
            "tesla-spare-pool",
            {
                "name": "tesla-new-pool",
                "site": "spare-site",
                "gpu_type": "H100-SXM",
                "nodes": 1,
                "owner": "tesla",
            },
            {"note": "n"},
        ),
        "roles": (
            "@role:tesla-employee:tesla",
            "@role:tesla-employee:tesla",
            {"person": "spare-person", "entity": "tesla", "role": "employee"},
            {"role": "employee"},
        ),
    }
    for plural, (key, spare, new, patch) in owned.items():
        rows += [
            r("GET", f"{V}/{plural}", TOKEN),
            r("GET", f"{V}/{plural}/{{key}}", OWN_READ, key=key),
            r("POST", f"{V}/{plural}", own_create(201), new),
            r("PATCH", f"{V}/{plural}/{{key}}", own_write(200), patch, key=key),
            r("DELETE", f"{V}/{plural}/{{key}}", own_write(204), key=spare),
        ]
    plan = {
        "name": "article-tesla-xai",
        "start": "2024-06-01",
        "end": "2025-03-31",
        "seed": 2024,
        "policy": "quota",
        "cost": {"usd_per_gpu_hour": 1.5},
    }
    rows += [
        r("GET", f"{V}/plan", TOKEN),
        r("PUT", f"{V}/plan", fleet_only(200), plan),
        # the register is seeded already: a fleet-admin passes the access check, then 409
        r("POST", f"{V}/seed", fleet_only(409), {}),
    ]
    return rows


T = f"{V}/transfers/{{transfer_id}}"
ASSESS = own_write(202)
DECIDE = "401 200 403 403o 403 403o 200 403o"  # approver of a party, or fleet-admin
PARTY_ADMIN = own_write(200)

ROWS: list[Row] = [
    r("GET", f"{V}/health", ALL),
    r("GET", f"{V}/me", TOKEN),
    r("GET", "/api/openapi.json", ALL),
    r("GET", "/api/docs", ALL),
    r("GET", "/api/docs/oauth2-redirect", ALL),
    # probes: no token, a status only; the scrape: its secret or a fleet-admin token
    # (service/routes/ops.py)
    r("GET", "/healthz", ALL),
    r("GET", "/readyz", ALL),
    r("GET", "/metrics", fleet_only(200)),
    r("GET", "/", ALL),  # the dashboard's page: it asks for a token itself
    r("GET", "/static/{path:path}", ALL, path="index.html"),
    *register_rows(),
    r("GET", f"{V}/transfers", TOKEN),
    r(
        "POST",
        f"{V}/transfers",
        "401 201 403 403 201 403o 403 403",
        {
            "name": "new-t",
            "pool": "tesla-h100-12k",
            "gpus": 800,
            "to": "xai",
            "start": "2024-08-01",
        },
    ),
    r("GET", T, OWN_READ, transfer_id="@t-assessed"),
    r("POST", f"{T}/assess", ASSESS, {"seeds": 1}, transfer_id="@t-requested"),
    r("POST", f"{T}/approve", DECIDE, {"note": "ok"}, transfer_id="@t-assessed"),
    r("POST", f"{T}/reject", DECIDE, {"note": "no"}, transfer_id="@t-assessed"),
    r("POST", f"{T}/activate", PARTY_ADMIN, {}, transfer_id="@t-approved"),
    # t-active is permanent: ending it on a date is a decision (an eligible person's)
    r("POST", f"{T}/end", DECIDE, {"at": "2024-12-01"}, transfer_id="@t-active"),
    r("POST", f"{T}/revoke", DECIDE, {"note": "undo"}, transfer_id="@t-approved"),
    r(
        "POST",
        f"{V}/runs",
        "401 202 403 403 202 202 403 403",  # any entity-admin may try a what-if
        {"name": "m", "changes": {"move": ["800 H100-SXM tesla->xai 2024-07-01"]}, "seeds": 1},
    ),
    r("GET", f"{V}/runs", TOKEN),
    r("GET", f"{V}/runs/{{run_id}}", OWN_READ, run_id="@run"),
    # the run is queued, not done: who may read it gets 409 not-done
    r("GET", f"{V}/runs/{{run_id}}/report", OWN_READ.replace("200", "409"), run_id="@run"),
    r("GET", f"{V}/reports/fleet", TOKEN),
    # the live fleet: every token reads it, cut to its entity (tests/service/test_api_live.py)
    r("GET", f"{V}/live/status", TOKEN),
    r("GET", f"{V}/live/series", TOKEN),
    r("GET", f"{V}/live/findings", TOKEN),
    r("GET", f"{V}/live/suggestions", TOKEN),
    # fleet-admin only; this server has no live configuration: 409 no-live-config after the check
    r("POST", f"{V}/live/observe", fleet_only(409), {}),
    # the whole fleet's quotas: fleet-admin only (docs/security.md, "What a token may read")
    r("GET", f"{V}/exports/{{format}}", fleet_only(200), format="kueue"),
    r("GET", f"{V}/audit", fleet_only(200)),
    r("GET", f"{V}/audit/verify", fleet_only(200)),
    r("GET", f"{V}/audit/export", fleet_only(200)),
    r("GET", f"{V}/tokens", fleet_only(200)),
    r("POST", f"{V}/tokens", fleet_only(201), {"name": "x", "role": "viewer", "entity": "tesla"}),
    r("DELETE", f"{V}/tokens/{{token_id}}", fleet_only(204), token_id="@spare-token"),
]


def app_routes(c: TestClient) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, HEAD aside. FastAPI >= 0.160
    includes routers lazily (``app.routes`` holds the included routers, not their
    routes): ``iter_route_contexts`` flattens them; older versions list routes as is."""
    app: Any = c.app
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: list[Any] = list(flatten(app.routes)) if flatten else list(app.routes)
    out = set()
    for route in routes:
        if isinstance(getattr(route, "original_route", route), Mount):
            continue  # static files: no methods of their own
        for m in route.methods or ():
            if m != "HEAD":
                out.add((m, route.path))
    return out


# --- fixtures ------------------------------------------------------------------------------


@dataclass
class Env:
    client: TestClient
    reg: Register


@pytest.fixture(scope="module")
def env(module_url: str) -> Iterator[Env]:
    """The article's register on one backend, seeded once per module."""
    url = module_url
    seeded = Store(url)
    reg = article_register(seeded)
    seeded.dispose()
    store = RollbackStore(url)
    try:
        with client(store) as c:
            yield Env(c, reg)
    finally:
        store.dispose()


# --- tests ---------------------------------------------------------------------------------


def test_the_matrix_covers_every_route_of_the_app(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'routes.db'}")
    routes = app_routes(client(store))
    rows = {(row.method, row.path) for row in ROWS}
    assert routes - rows == set(), "routes without a row in the access matrix"
    assert rows - routes == set(), "rows for routes the app does not have"
    assert len(rows) == len(ROWS), "a route has two rows"


def test_every_row_has_a_cell_per_caller() -> None:
    for row in ROWS:
        assert len(row.cells.split()) == len(COLUMNS), row.id


def _path(row: Row, reg: Register) -> str:
    values = {k: str(reg.ids[v[1:]]) if v.startswith("@") else v for k, v in row.params.items()}
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", row.path).format(**values)  # {path:path}
    return path + ("?at=2024-07-01" if "reports" in path or "exports" in path else "")


def _check(expected: str, resp: Any) -> str | None:
    status = int(expected[:3])
    if resp.status_code != status:
        return f"expected {expected}, got {resp.status_code}: {resp.text[:300]}"
    if status >= 400:
        err = resp.json().get("error", {})
        if not (err.get("code") and err.get("message")):
            return f"{status} without the error shape: {resp.text[:200]}"
        if expected.endswith("o") and err["code"] != "other-entity":
            return f"expected code other-entity, got {err['code']}: {err['message']}"
    return None


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_each_caller_gets_the_status_the_matrix_says(env: Env, row: Row) -> None:
    path = _path(row, env.reg)
    wrong = []
    for caller, expected in zip(COLUMNS, row.cells.split(), strict=True):
        headers = bearer(env.reg.tokens.get(caller))
        resp = env.client.request(row.method, path, json=row.body, headers=headers)
        problem = _check(expected, resp)
        if problem:
            wrong.append(f"{caller}: {problem}")
    assert not wrong, f"{row.method} {path}\n" + "\n".join(wrong)

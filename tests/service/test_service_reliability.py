"""The service's reliability, as tests (issue 5): a real ``gpufleet serve`` process, on
PostgreSQL (when ``GPUFLEET_TEST_PG_URL`` is set; else those cases skip, saying why) and on
SQLite.

1. **Concurrent decisions.** Many clients, each with its own connection, are released
   together by a barrier to approve one transfer. Whatever the interleaving, exactly the
   allowed approvals land, exactly one transition to ``approved`` wins, the losers get a
   409 with a machine code, and the audit log grows by exactly the records of the
   successful mutations (an approval is two: the ``approval`` row and the transfer's
   ``approve`` step) — none lost, none doubled — and its chain verifies.
2. **Concurrent register writes**: twenty people created at once all land, one record
   each; twenty clients creating the same person create it once.
3. **Bad requests** (in-process, over a seeded store): each a clear 4xx in the one error
   shape, with a machine code and the field at fault, that writes nothing.

Crashes are in :mod:`tests.service.test_service_crash`, schemathesis in
:mod:`tests.service.test_service_schemathesis`.

The register is ``tests.support.governed``'s (SMALL; acme and beta in group ``holding``), built
through the API, plus directors of beta who approve in the bursts:

- ``d01``..``d12``: directors of beta: each may approve a transfer needing one approval;
- ``i01``..``i08``: independent directors of beta: each counts towards the two
  independent approvals a related transfer over $1,000,000 needs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from gpufleet.governance.auth.tokens import create_token as create_token_in
from gpufleet.governance.register import ops
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole, AuditHead
from gpufleet.governance.transfers import lifecycle
from tests.support.api import API, bearer, client
from tests.support.governed import ROLES
from tests.support.servers import (
    Api,
    Server,
    cli,
    create_token,
    database,
    error_code,
    running_server,
    wait_until,
)
from tests.support.small_scenario import SMALL

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

BACKENDS = ["postgresql", "sqlite"]
DIRECTORS = [f"d{i:02}" for i in range(1, 13)]
INDEPENDENTS = [f"i{i:02}" for i in range(1, 9)]
# who acts with which token: (role, entity)
TOKENS = {
    "ann": ("entity-admin", "acme"),  # requests acme's transfers
    "fay": ("entity-admin", "beta"),  # requests beta's transfers
    "cat": ("approver", "acme"),
    **{p: ("approver", "beta") for p in DIRECTORS + INDEPENDENTS},
}


@dataclass
class Fleet:
    server: Server
    admin: Api
    tokens: dict[str, str]

    def api(self, person: str) -> Api:
        return Api(self.server.url, self.tokens[person])


def build_register(admin: Api) -> dict[str, str]:
    """SMALL, group ``holding``, the people and their roles, and a token per actor."""
    admin.ok("POST", "/seed", {"scenario_yaml": SMALL})
    admin.ok(
        "POST",
        "/groups",
        {"name": "holding", "related_threshold_usd": 1_000_000, "independent_approvals": 2},
    )
    for entity in ("acme", "beta"):
        admin.ok("PATCH", f"/entities/{entity}", {"group": "holding"})
    people = {
        **ROLES,
        **{p: [("beta", "director")] for p in DIRECTORS},
        **{p: [("beta", "independent-director")] for p in INDEPENDENTS},
    }
    for person, roles in people.items():
        admin.ok("POST", "/people", {"name": person})
        for entity, role in roles:
            admin.ok("POST", "/roles", {"person": person, "entity": entity, "role": role})
    tokens = {}
    for person, (role, entity) in TOKENS.items():
        body = {"name": person, "role": role, "entity": entity, "person": person}
        tokens[person] = admin.ok("POST", "/tokens", body)["secret"]
    return tokens


@pytest.fixture(scope="module", params=BACKENDS)
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A server over a fresh database of the module, its register built through the API;
    the first fleet-admin token from the CLI, as an operator would."""
    folder = tmp_path_factory.mktemp(f"fleet-{request.param}")
    with database(request.param, folder) as url:
        secret = create_token(url, "fleet-admin", name="operator")
        with running_server(url, folder / "logs") as server, Api(server.url, secret) as admin:
            yield Fleet(server, admin, build_register(admin))


# --- helpers ------------------------------------------------------------------------------


def burst(url: str, calls: Sequence[tuple[str, str, str, object]]) -> list[httpx.Response]:
    """Send each ``(token, method, path, body)`` from its own thread over its own
    connection; a barrier releases the requests together (connections are opened first,
    so it is the requests that race, not the TCP handshakes)."""
    gate = threading.Barrier(len(calls))

    def send(call: tuple[str, str, str, object]) -> httpx.Response:
        token, method, path, body = call
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=120) as c:
            c.get("/health")
            gate.wait(timeout=60)
            return c.request(method, path, json=body)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, calls))


def audit_count(fleet: Fleet) -> int:
    verdict = fleet.admin.ok("GET", "/audit/verify")
    assert verdict["ok"], verdict["message"]
    n: int = verdict["records"]
    return n


def audit_since(fleet: Fleet, seq: int) -> list[tuple[str, str]]:
    """(action, object_type) of every record after ``seq``."""
    page = fleet.admin.ok("GET", f"/audit?after_seq={seq}&limit=500")
    return [(r["action"], r["object_type"]) for r in page["items"]]


def assessed_transfer(fleet: Fleet, requester: str, body: dict[str, Any]) -> int:
    """A transfer requested by ``requester`` and assessed by the server's worker."""
    with fleet.api(requester) as api:
        t: int = api.ok("POST", "/transfers", body)["transfer"]["id"]
        api.ok("POST", f"/transfers/{t}/assess", {"seeds": 1})

        def assessed() -> bool:
            return bool(api.ok("GET", f"/transfers/{t}")["transfer"]["state"] == "assessed")

        wait_until(assessed, 120, f"the assessment of transfer {t}")
    return t


def approve_calls(fleet: Fleet, people: Sequence[str], t: int) -> list[Any]:
    return [(fleet.tokens[p], "POST", f"/transfers/{t}/approve", {"note": p}) for p in people]


def split(
    responses: Sequence[httpx.Response], success: int = 200
) -> tuple[list[httpx.Response], set[Any]]:
    """The successes, and the (status, code) of the others."""
    wins = [r for r in responses if r.status_code == success]
    losses = {(r.status_code, error_code(r)) for r in responses if r.status_code != success}
    return wins, losses


# 64 H100 of acme at $30,000 each (catalog) = $1,920,000 > $1,000,000: two independent
# directors must approve; 16 H100 of beta = $480,000: one officer or director suffices.
BIG_LATE = {"name": "acme's H100 from day 7", "pool": "acme-h100", "gpus": 64}
BIG_LATE |= {"to": "beta", "start": "2024-01-07"}
BIG_LEASE = {"name": "acme's H100 for days 2-5", "pool": "acme-h100", "gpus": 64}
BIG_LEASE |= {"to": "beta", "start": "2024-01-02", "end": "2024-01-06"}
SMALL_BACK = {"name": "16 of beta's H100", "pool": "beta-h100", "gpus": 16}
SMALL_BACK |= {"to": "acme", "start": "2024-01-03"}


# --- 1. concurrent decisions ---------------------------------------------------------------


def test_one_approver_clicking_from_twelve_clients_is_recorded_once(fleet: Fleet) -> None:
    t = assessed_transfer(fleet, "ann", BIG_LATE)
    before = audit_count(fleet)

    wins, losses = split(burst(fleet.server.url, approve_calls(fleet, ["cat"] * 12, t)))

    assert len(wins) == 1
    assert losses == {(409, "already-decided")}
    page = fleet.admin.ok("GET", f"/transfers/{t}")
    assert [a["person"] for a in page["approvals"]] == ["cat"]
    assert (page["approvals_received"], page["approvals_required"]) == (1, 2)
    assert [s["to_state"] for s in page["steps"]] == ["requested", "assessed", "assessed"]
    assert audit_since(fleet, before) == [("create", "approval"), ("approve", "transfer")]
    assert audit_count(fleet) == before + 2


def test_twelve_directors_at_once_approve_a_one_approval_transfer_exactly_once(
    fleet: Fleet,
) -> None:
    t = assessed_transfer(fleet, "fay", SMALL_BACK)
    before = audit_count(fleet)

    wins, losses = split(burst(fleet.server.url, approve_calls(fleet, DIRECTORS, t)))

    assert len(wins) == 1
    assert wins[0].json()["transfer"]["state"] == "approved"
    assert losses and losses <= {(409, "bad-state"), (409, "stale-state")}
    page = fleet.admin.ok("GET", f"/transfers/{t}")
    assert len(page["approvals"]) == 1
    assert [s["to_state"] for s in page["steps"]] == ["requested", "assessed", "approved"]
    assert audit_since(fleet, before) == [("create", "approval"), ("approve", "transfer")]
    assert audit_count(fleet) == before + 2


def test_eight_independent_directors_at_once_give_exactly_the_two_approvals_needed(
    fleet: Fleet,
) -> None:
    t = assessed_transfer(fleet, "ann", BIG_LEASE)
    before = audit_count(fleet)

    wins, losses = split(burst(fleet.server.url, approve_calls(fleet, INDEPENDENTS, t)))

    # the first approval leaves it assessed (1 of 2), the second approves it
    assert sorted(w.json()["transfer"]["state"] for w in wins) == ["approved", "assessed"]
    assert losses and losses <= {(409, "bad-state"), (409, "stale-state")}
    page = fleet.admin.ok("GET", f"/transfers/{t}")
    assert len(page["approvals"]) == 2
    steps = [s["to_state"] for s in page["steps"]]
    assert steps == ["requested", "assessed", "assessed", "approved"]
    assert audit_since(fleet, before) == [("create", "approval"), ("approve", "transfer")] * 2
    assert audit_count(fleet) == before + 4


# --- 2. concurrent register writes ---------------------------------------------------------


def test_twenty_people_created_at_once_all_land_with_one_record_each(fleet: Fleet) -> None:
    before = audit_count(fleet)
    token = fleet.admin.client.headers["Authorization"].split()[1]
    names = [f"burst-{i:02}" for i in range(20)]

    responses = burst(fleet.server.url, [(token, "POST", "/people", {"name": n}) for n in names])

    assert [r.status_code for r in responses] == [201] * 20
    page = fleet.admin.ok("GET", f"/audit?after_seq={before}&limit=500")
    assert sorted(r["object_id"] for r in page["items"]) == names
    assert {(r["action"], r["object_type"]) for r in page["items"]} == {("create", "person")}
    assert audit_count(fleet) == before + 20


def test_twenty_clients_creating_the_same_person_create_it_once(fleet: Fleet) -> None:
    before = audit_count(fleet)
    token = fleet.admin.client.headers["Authorization"].split()[1]

    responses = burst(fleet.server.url, [(token, "POST", "/people", {"name": "twin"})] * 20)

    wins, losses = split(responses, success=201)
    assert len(wins) == 1
    assert losses == {(409, "exists")}
    assert audit_since(fleet, before) == [("create", "person")]


def test_after_the_bursts_the_chain_verifies_by_the_api_and_by_the_cli(fleet: Fleet) -> None:
    n = audit_count(fleet)
    assert fleet.admin.ok("GET", "/audit?limit=1")["total"] == n
    done = cli("audit", "verify", "--db", fleet.server.db_url)
    assert done.returncode == 0, done.stderr
    assert f"audit log intact: {n} records" in done.stdout


# --- 3. bad requests: a clear 4xx in the one error shape, never a 500 ------------------------
# (tests/service/test_api_errors.py covers malformed JSON, a body over 1 MiB, an unknown field, a
# wrong type, a missing field, page limits, routes, methods and tokens; these are the rest)


@dataclass
class InProcess:
    """The app in-process over a seeded store: SMALL, person ann (a fleet-admin's), one
    requested transfer (id 1)."""

    backend: str
    store: Store
    client: TestClient
    headers: dict[str, str]

    def audit_head(self) -> int:
        with self.store.read() as s:
            head = s.get(AuditHead, 1)
            return head.seq if head else 0


@pytest.fixture(scope="module", params=BACKENDS)
def in_process(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcess]:
    folder = tmp_path_factory.mktemp(f"bad-{request.param}")
    with database(request.param, folder) as url:
        store = Store(url)
        store.upgrade()
        with store.write("test:setup") as tx:
            seed_from_scenario(tx, SMALL)
            ops.create(tx, "person", {"name": "ann"})
            secret = create_token_in(tx, "ann", AccessRole.FLEET_ADMIN, None, "ann")[1]
            ann = ops.find(tx.session, "person", "ann").id
            lifecycle.request(
                tx, ann, {"pool": "acme-h100", "gpus": 16, "to": "beta", "start": "2024-01-03"}
            )
        try:
            with client(store) as c:
                yield InProcess(request.param, store, c, bearer(secret))
        finally:
            store.dispose()


TRANSFER = {"pool": "acme-h100", "gpus": 16, "to": "beta", "start": "2024-01-03"}
DEEP = b"[" * 50_000 + b"]" * 50_000  # 100 kB: under the size limit, past any recursion limit


def case(
    narrative: str,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
    field: str | None = None,
) -> Any:
    return pytest.param(method, path, body, status, code, field, id=narrative)


BAD_REQUESTS = [
    case("a name over 100 characters", "POST", "/people", {"name": "n" * 101}, 422,
         "invalid-body", "name"),
    case("a rename to over 100 characters", "PATCH", "/people/ann", {"name": "n" * 101}, 422,
         "invalid-body", "name"),
    case("a transfer of minus eight GPUs", "POST", "/transfers", {**TRANSFER, "gpus": -8}, 422,
         "invalid-body", "gpus"),
    case("a quota of minus one GPU", "POST", "/quotas",
         {"program": "vision", "gpu_type": "H100-SXM", "effective": "2024-01-05", "nominal": -1},
         422, "invalid-body", "nominal"),
    case("a node count past any column", "POST", "/pools",
         {"name": "p", "site": "east", "gpu_type": "H100-SXM", "nodes": 2**62, "owner": "acme"},
         422, "invalid-body"),
    case("a page offset past any integer", "GET", f"/people?offset={10**20}", None, 422,
         "invalid-parameter", "offset"),
    case("an audit cursor past any integer", "GET", f"/audit?after_seq={10**20}", None, 422,
         "invalid-parameter", "after_seq"),
    case("a word for a transfer id", "GET", "/transfers/first", None, 422,
         "invalid-parameter", "transfer_id"),
    case("a fraction for a run id", "GET", "/runs/1.5", None, 422, "invalid-parameter", "run_id"),
    case("a word for a token id", "DELETE", "/tokens/all", None, 422,
         "invalid-parameter", "token_id"),
    case("a transfer id past any integer", "POST", f"/transfers/{10**20}/approve", {}, 422,
         "invalid-parameter", "transfer_id"),
    case("a quota id past any integer", "GET", f"/quotas/{2**70}", None, 404, "not-found"),
    case("a list for a body", "POST", "/people", [], 422, "invalid-body"),
    case("no body where one is needed", "POST", "/people", None, 422, "invalid-body"),
    case("null for a required field", "POST", "/people", {"name": None}, 422,
         "invalid-body", "name"),
    case("a role that is no role", "POST", "/roles",
         {"person": "ann", "entity": "acme", "role": "king"}, 422, "invalid-body", "role"),
    case("a PATCH clearing a required field", "PATCH", "/sites/east", {"power_kw": None}, 422,
         "invalid-input", "power_kw"),
    case("a start that is no date", "POST", "/transfers", {**TRANSFER, "start": "soon"}, 422,
         "invalid-body"),
    case("a start before the plan", "POST", "/transfers", {**TRANSFER, "start": "2023-01-01"},
         422, "invalid-input"),
    case("a note over 2000 characters", "POST", "/transfers/1/approve", {"note": "x" * 2001},
         422, "invalid-body", "note"),
    case("a version that is a word", "POST", "/transfers/1/approve",
         {"expected_version": "latest"}, 422, "invalid-body", "expected_version"),
    case("21 seeds for a what-if", "POST", "/runs",
         {"name": "r", "changes": {"move": ["16 H100-SXM acme->beta 2024-01-03"]}, "seeds": 21},
         422, "invalid-body", "seeds"),
    case("a what-if change in no known form", "POST", "/runs",
         {"name": "r", "changes": {"move": ["teleport"]}}, 422, "invalid-input"),
    case("a what-if delay of 10^11 days", "POST", "/runs",
         {"name": "r", "changes": {"delay": ["east +99999999999d"]}}, 422, "invalid-input"),
    case("a scenario that is not YAML", "POST", "/seed", {"scenario_yaml": "a: [\n"}, 422,
         "invalid-plan"),
    case("a plan of a billion days", "PUT", "/plan",
         {"name": "x", "start": "2024-01-01", "horizon_days": 10**9}, 422, "invalid-body",
         "horizon_days"),
    case("a plan ending after the year 9999", "PUT", "/plan",
         {"name": "x", "start": "9999-12-30", "horizon_days": 5}, 422, "invalid-input"),
    case("a state filter that is no state", "GET", "/transfers?state=pending", None, 422,
         "invalid-parameter", "state"),
    case("an export format that does not exist", "GET", "/exports/lsf", None, 422,
         "invalid-parameter", "format"),
    case("JSON nested 50,000 deep", "POST", "/people", DEEP, 422, "invalid-body"),
    case("a body that is not UTF-8", "POST", "/people", b'{"name": "\xff"}', 400,
         "malformed-json"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "field"), BAD_REQUESTS)
def test_a_bad_request_is_a_clear_4xx_that_changes_nothing(
    in_process: InProcess,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
    field: str | None,
) -> None:
    before = in_process.audit_head()
    if isinstance(body, bytes):
        headers = {**in_process.headers, "Content-Type": "application/json"}
        resp = in_process.client.request(method, API + path, content=body, headers=headers)
    else:
        resp = in_process.client.request(method, API + path, json=body, headers=in_process.headers)
    assert (resp.status_code, error_code(resp)) == (status, code), resp.text
    err = resp.json()["error"]
    assert err["message"]
    if field is not None:
        assert field in [p["field"] for p in err["problems"]], err
    assert in_process.audit_head() == before


def test_a_nul_character_in_free_text_is_refused_the_same_on_both_backends(
    in_process: InProcess,
) -> None:
    """PostgreSQL's text cannot hold U+0000, SQLite's can: the bodies refuse it, so both
    backends answer the same 422 naming the field."""
    body = {"name": f"nul-{in_process.backend}", "email": "a\u0000b@example.com"}
    before = in_process.audit_head()
    resp = in_process.client.post(API + "/people", json=body, headers=in_process.headers)
    assert (resp.status_code, error_code(resp)) == (422, "invalid-body"), resp.text
    err = resp.json()["error"]
    assert "email" in [p["field"] for p in err["problems"]]
    assert "NUL character" in err["problems"][0]["message"]
    assert in_process.audit_head() == before

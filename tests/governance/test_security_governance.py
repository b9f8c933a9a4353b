"""Governance under attack: the reproducers of issue 10's items 1-4, through the REST API,
on SQLite and PostgreSQL.

The register is the article's (Tesla and xAI under common control, ``common-control``:
a related transfer over $1,000,000 needs two independent directors) with its cast from
``article-governance.yaml``. The attacker is ``group-ceo``, officer of both companies,
holding Tesla's own entity-admin and approver tokens.

Pool ``tesla-h100-12k`` is 12,000 H100 worth $500,000,000, so one GPU is worth
500,000,000 / 12,000 = $41,666.67 and 2,880 GPUs are worth 2,880 x 41,666.67 = $120,000,000.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole
from gpufleet.governance.transfers.story import article_governance_path
from tests.support.api import API, bearer, client, make_token, ok
from tests.support.governed import fake_assessment
from tests.support.stores import SeededStore

pytestmark = pytest.mark.security

MOVE = {"pool": "tesla-h100-12k", "gpus": 2880, "to": "xai", "start": "2024-07-01"}
"""$120,000,000 of H100 from Tesla to xAI: two independent directors must approve."""


def article_governed(store: Store) -> None:
    """The article's register and its cast: the template each test's ``board`` copies."""
    with store.write("test:setup") as tx:
        seed_from_scenario(tx)
        load_governance(tx, article_governance_path())


class Board:
    """A client over the article's governed register and a token per (role, entity, person)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.c: TestClient = client(store)
        self._tokens: dict[tuple[str, str | None, str | None], dict[str, str]] = {}
        self.made = 0  # transfers made by _prepare (each gets its own name)

    def as_(self, role: str, entity: str | None = None, person: str | None = None) -> Any:
        key = (role, entity, person)
        if key not in self._tokens:
            secret = make_token(
                self.store, AccessRole(role), entity, person, name="-".join(str(x) for x in key)
            )
            self._tokens[key] = bearer(secret)
        return self._tokens[key]

    def post(self, path: str, who: Any, body: object = None, status: int = 200) -> Any:
        return ok(self.c.post(f"{API}{path}", headers=who, json=body), status)

    def request(self, body: dict[str, Any] | None = None) -> int:
        """group-ceo requests the move with Tesla's entity-admin token; it is assessed."""
        ceo = self.as_("entity-admin", "tesla", "group-ceo")
        tid = int(self.post("/transfers", ceo, body or MOVE, 201)["transfer"]["id"])
        fake_assessment(self.store, tid, fair_usd=120_000_000.0)
        return tid

    def page(self, tid: int) -> Any:
        return ok(self.c.get(f"{API}/transfers/{tid}", headers=self.as_("fleet-admin")))


@pytest.fixture
def board(seeded_store: SeededStore) -> Board:
    """The article's governed register, copied from a template seeded once per worker."""
    store: Store = seeded_store(article_governed)[0]
    return Board(store)


# --- 1. no server file is opened or quoted on a request's say-so ---------------------------


SECRET_LINE = "gpufleet-secret-first-line"


@pytest.fixture
def server_file(tmp_path: Any) -> str:
    path = tmp_path / "secret.csv"
    path.write_text(f"{SECRET_LINE}\nsubmit_s,gpus,duration_s\n0,8,3600\n")
    return str(path)


def trace_attempts(server_file: str) -> list[dict[str, Any]]:
    return [
        {"path": server_file},
        {"path": "/etc/passwd"},
        {"path": server_file + ".missing"},
        {"source": server_file},
        {"source": "../../../../etc/passwd"},
        {"source": "/etc/passwd"},
    ]


def test_a_program_may_not_name_a_server_file_as_its_trace(board: Board, server_file: str) -> None:
    admin = board.as_("entity-admin", "tesla", "tesla-cfo")
    answers = []
    for i, trace in enumerate(trace_attempts(server_file)):
        body = {"name": f"snoop-{i}", "entity": "tesla", "workload": {"trace": trace}}
        for method, path in (("post", "/programs"), ("patch", "/programs/fsd-training")):
            data = body if method == "post" else {"workload": body["workload"]}
            resp = getattr(board.c, method)(f"{API}{path}", headers=admin, json=data)
            err = ok(resp, 422)["error"]
            text = resp.text
            assert SECRET_LINE not in text and "root:" not in text
            assert "philly-2017" in err["problems"][0]["expected"]
            # an existing and a missing file get the same answer: no existence oracle
            answers.append(err["problems"][0]["message"].replace(server_file + ".missing", "F"))
    path_answers = {a for a in answers if "may not name a file" in a}
    assert len(path_answers) == 1
    progs = ok(board.c.get(f"{API}/programs", headers=board.as_("fleet-admin")))
    assert all(not p["name"].startswith("snoop") for p in progs["items"])


def test_a_registry_trace_is_still_accepted_for_a_program() -> None:
    from gpufleet.inputs.scenario.workloads import registry_only_problem

    assert registry_only_problem(None, "philly-2017") is None
    problem = registry_only_problem(None, "philly-2017/../../etc")
    assert problem is not None and problem[0] == "source"


def test_a_seed_with_a_duplicate_trace_key_reads_no_file(store: Store, server_file: str) -> None:
    # yaml.safe_load keeps the last of two keys; the loader keeps the first: a guard that
    # parsed the text apart from the loader checked the registry name and let the path by
    c = client(store)
    admin = bearer(make_token(store, AccessRole.FLEET_ADMIN, name="admin"))
    from tests.support.small_scenario import SMALL

    twice = f"          trace: {{path: {server_file}}}\n          trace: {{source: philly-2017}}\n"
    text = SMALL.replace("        workload:\n", "        workload:\n" + twice, 1)
    assert text != SMALL
    resp = c.post(f"{API}/seed", headers=admin, json={"scenario_yaml": text})
    assert resp.status_code == 422, resp.text
    assert SECRET_LINE not in resp.text
    fields = {p["field"] for p in resp.json()["error"]["problems"]}
    assert any(f.endswith("workload.trace.path") for f in fields), fields
    assert ok(c.get(f"{API}/sites", headers=admin))["total"] == 0


def test_a_one_line_seed_text_is_yaml_not_a_path(store: Store, server_file: str) -> None:
    c = client(store)
    admin = bearer(make_token(store, AccessRole.FLEET_ADMIN, name="admin"))
    resp = c.post(f"{API}/seed", headers=admin, json={"scenario_yaml": server_file})
    assert resp.status_code == 422, resp.text
    assert SECRET_LINE not in resp.text


# --- 2. re-valuing the pool does not remove the independent-director rule ------------------


def test_re_valuing_the_pool_after_the_request_does_not_lower_the_approvals(board: Board) -> None:
    tid = board.request()
    assert board.page(tid)["approvals_required"] == 2
    ceo = board.as_("entity-admin", "tesla", "group-ceo")
    ok(board.c.patch(f"{API}/pools/tesla-h100-12k", headers=ceo, json={"value_usd": 1}))
    page = board.page(tid)
    # frozen: 2,880 x $41,666.67 = $120,000,000 still; now it would be 2,880 x $1/12,000
    assert page["value_usd"] == pytest.approx(120_000_000.0)
    assert page["approvals_required"] == 2 and page["needs_independent"]
    cfo = board.as_("approver", "tesla", "tesla-cfo")  # an officer, not independent
    err = board.post(f"/transfers/{tid}/approve", cfo, {}, 403)["error"]
    assert err["code"] == "not-independent"
    assert "when the transfer was requested" in err["message"]
    assert board.page(tid)["transfer"]["state"] == "assessed"


def test_relaxing_the_groups_rules_after_the_request_does_not_count(board: Board) -> None:
    tid = board.request()
    fleet = board.as_("fleet-admin")
    body = {"related_threshold_usd": 1e12, "independent_approvals": 1}
    ok(board.c.patch(f"{API}/groups/common-control", headers=fleet, json=body))
    assert board.page(tid)["approvals_required"] == 2
    one = board.as_("approver", "tesla", "tesla-independent-1")
    page = board.post(f"/transfers/{tid}/approve", one, {})
    assert page["transfer"]["state"] == "assessed"  # 1 of 2
    assert page["approvals_received"] == 1


def test_the_terms_are_frozen_in_the_request_audit_record(board: Board) -> None:
    tid = board.request()
    fleet = board.as_("fleet-admin")
    records = ok(board.c.get(f"{API}/audit", headers=fleet, params={"limit": 500}))["items"]
    (req,) = [r for r in records if r["action"] == "request" and r["object_id"] == str(tid)]
    after = (
        req["after"] if isinstance(req["after"], dict) else __import__("json").loads(req["after"])
    )
    terms = after["terms"]
    assert terms["value_usd"] == pytest.approx(120_000_000.0)
    assert terms["rules"]["independent_approvals"] == 2
    ceo = next(p for p in terms["people"] if p["name"] == "group-ceo")
    assert {(r["entity"], r["role"]) for r in ceo["roles"]} == {
        ("tesla", "officer"),
        ("xai", "officer"),
    }


# --- 3. roles edited mid-approval ---------------------------------------------------------


def test_the_requester_may_not_change_the_roles_that_decide_his_request(board: Board) -> None:
    tid = board.request()
    ceo = board.as_("entity-admin", "tesla", "group-ceo")
    for person in ("tesla-cfo", "shared-engineer"):
        body = {"person": person, "entity": "tesla", "role": "independent-director"}
        err = board.post("/roles", ceo, body, 403)["error"]
        assert err["code"] == "own-request-roles"
        assert f"transfer {tid}" in err["message"]
    roles = ok(board.c.get(f"{API}/roles", headers=board.as_("fleet-admin"), params={"limit": 500}))
    # his own Tesla seat (the xAI one is another entity's: other-entity anyway)
    mine = [r for r in roles["items"] if r["person"] == "group-ceo" and r["entity"] == "tesla"]
    err = ok(board.c.delete(f"{API}/roles/{mine[0]['id']}", headers=ceo), 403)["error"]
    assert err["code"] == "own-roles"
    # someone else's Tesla seat, while his request is open
    cfo_seat = next(r for r in roles["items"] if r["person"] == "tesla-cfo")
    err = ok(board.c.delete(f"{API}/roles/{cfo_seat['id']}", headers=ceo), 403)["error"]
    assert err["code"] == "own-request-roles"


def test_nobody_changes_their_own_roles(board: Board) -> None:
    cfo = board.as_("entity-admin", "tesla", "tesla-cfo")
    body = {"person": "tesla-cfo", "entity": "tesla", "role": "independent-director"}
    assert board.post("/roles", cfo, body, 403)["error"]["code"] == "own-roles"


def test_roles_granted_after_the_request_do_not_count_for_it(board: Board) -> None:
    tid = board.request()
    other_admin = board.as_("entity-admin", "tesla", "tesla-independent-1")
    for person in ("tesla-cfo", "shared-engineer"):  # made independent by someone else
        body = {"person": person, "entity": "tesla", "role": "independent-director"}
        board.post("/roles", other_admin, body, 201)
    cfo = board.as_("approver", "tesla", "tesla-cfo")
    err = board.post(f"/transfers/{tid}/approve", cfo, {}, 403)["error"]
    assert err["code"] == "not-independent"
    assert err["message"].startswith("when the transfer was requested")
    # the same roles count for a transfer requested after they were granted
    later = board.request({**MOVE, "start": "2024-08-01", "gpus": 2000})
    board.post(f"/transfers/{later}/approve", cfo, {})


def test_a_conflicting_seat_removed_after_the_request_still_conflicts(board: Board) -> None:
    tid = board.request({**MOVE, "gpus": 16})  # $666,667: one officer or director
    fleet = board.as_("fleet-admin")
    roles = ok(board.c.get(f"{API}/roles", headers=fleet, params={"limit": 500}))["items"]
    seat = next(r for r in roles if r["person"] == "xai-director" and r["entity"] == "tesla")
    assert board.c.delete(f"{API}/roles/{seat['id']}", headers=fleet).status_code == 204
    director = board.as_("approver", "xai", "xai-director")
    err = board.post(f"/transfers/{tid}/approve", director, {}, 403)["error"]
    assert err["code"] == "conflicted"
    assert "when the transfer was requested" in err["message"]


def test_a_conflict_that_arises_after_the_request_counts(board: Board) -> None:
    tid = board.request()
    fleet = board.as_("fleet-admin")
    body = {"person": "tesla-independent-1", "entity": "xai", "role": "officer"}
    board.post("/roles", fleet, body, 201)
    one = board.as_("approver", "tesla", "tesla-independent-1")
    assert board.post(f"/transfers/{tid}/approve", one, {}, 403)["error"]["code"] == "conflicted"


# --- 4. every transition, every kind of caller --------------------------------------------


def _approved(board: Board, **move: Any) -> int:
    tid = board.request({**MOVE, **move})
    for person in ("tesla-independent-1", "tesla-independent-2"):
        board.post(f"/transfers/{tid}/approve", board.as_("approver", "tesla", person), {})
    assert board.page(tid)["transfer"]["state"] == "approved"
    return tid


CALLERS: dict[str, tuple[str, str | None, str | None]] = {
    "requester": ("approver", "tesla", "group-ceo"),
    "conflicted-officer": ("approver", "xai", "xai-director"),
    "shared-employee": ("approver", "tesla", "shared-engineer"),
    "non-independent-officer": ("approver", "tesla", "tesla-cfo"),
    "fleet-admin-no-person": ("fleet-admin", None, None),
    "giver-admin": ("entity-admin", "tesla", "tesla-cfo"),
    "taker-viewer": ("viewer", "xai", None),
    "eligible-independent": ("approver", "xai", "xai-independent"),
}

# caller -> the HTTP status (and the error code for a refusal)
DECISION: dict[str, tuple[int, str | None]] = {  # an eligible person's, as approval
    "requester": (403, "own-request"),
    "conflicted-officer": (403, "conflicted"),
    "shared-employee": (403, "conflicted"),
    "non-independent-officer": (403, "not-independent"),
    "fleet-admin-no-person": (403, "no-person"),
    "giver-admin": (403, "forbidden"),
    "taker-viewer": (403, "forbidden"),
    "eligible-independent": (200, None),
}
OPERATION: dict[str, tuple[int, str | None]] = {  # carries a decision out: a party's admin
    "requester": (403, "forbidden"),
    "conflicted-officer": (403, "forbidden"),
    "shared-employee": (403, "forbidden"),
    "non-independent-officer": (403, "forbidden"),
    "fleet-admin-no-person": (200, None),
    "giver-admin": (200, None),
    "taker-viewer": (403, "forbidden"),
    "eligible-independent": (403, "forbidden"),
}
TABLE: dict[str, dict[str, tuple[int, str | None]]] = {
    "approve": DECISION,
    "reject": DECISION,
    "revoke": DECISION,
    "end-early": DECISION,  # ending before the approved end undoes part of the decision
    "activate": OPERATION,
    "end-at-its-end": OPERATION,  # a lease reaching its end
}


def _prepare(board: Board, transition: str) -> tuple[int, str, dict[str, Any]]:
    """A transfer in the state the transition starts from; its path and body."""
    if transition in ("approve", "reject"):
        return board.request(), transition, {}
    board.made += 1
    lease = {"end": "2024-10-01", "name": f"lease {board.made}"}
    tid = _approved(board, **lease)
    if transition in ("revoke", "activate"):
        return tid, transition, {}
    board.post(f"/transfers/{tid}/activate", board.as_("fleet-admin"), {})
    if transition == "end-early":
        return tid, "end", {"at": "2024-08-01"}
    return tid, "end", {}


@pytest.mark.parametrize("transition", list(TABLE))
def test_every_transition_checks_who_may_take_it(board: Board, transition: str) -> None:
    # refusals first, all on one transfer (a refusal changes nothing: checked); each
    # caller who may take the step then takes it on a transfer of its own
    tid, verb, body = _prepare(board, transition)
    expected = TABLE[transition]
    refused = [c for c in CALLERS if expected[c][0] != 200]
    allowed = [c for c in CALLERS if expected[c][0] == 200]
    for caller in refused + allowed:
        if caller in allowed and caller != allowed[0]:
            tid, verb, body = _prepare(board, transition)
        before = board.page(tid)["transfer"]
        who = board.as_(*CALLERS[caller])
        resp = board.c.post(f"{API}/transfers/{tid}/{verb}", headers=who, json=body)
        status, code = expected[caller]
        assert resp.status_code == status, (caller, resp.text)
        if code is not None:
            assert resp.json()["error"]["code"] == code, caller
            assert board.page(tid)["transfer"] == before, caller


def test_allowed_actions_offer_revoke_only_to_an_eligible_person(board: Board) -> None:
    tid = _approved(board)
    for caller, (role, entity, person) in CALLERS.items():
        who = board.as_(role, entity, person)
        page = ok(board.c.get(f"{API}/transfers/{tid}", headers=who))
        assert ("revoke" in page["allowed_actions"]) == (caller == "eligible-independent"), caller

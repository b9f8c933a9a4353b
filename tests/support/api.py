"""What the API tests share: a test client over an app, tokens, and the article's register
with every kind of object the access matrix needs.

``article_register(store)`` seeds the article (Tesla, xAI) and adds:

- a third entity, ``spacex`` ("other": involved in no transfer), with a site, a program
  and a pool; spare objects nobody refers to (a site, an entity, a group, a person, a
  Tesla program, pool, dated quota and role) that a matrix cell may delete;
- people: ``tesla-requester`` (officer of tesla: requested the transfers),
  ``tesla-admin`` (officer of tesla: admin-own's person), ``tesla-director``
  (director of tesla: an eligible approver), ``xai-officer`` (officer of xai: the
  fleet-admin's person), ``spacex-admin`` and ``spacex-director``, ``conflicted``
  (officer of tesla and director of xai), ``tesla-employee``, ``spare-person``;
- four transfers of pool ``tesla-h100-12k`` from tesla to xai, in the states
  requested (800 GPUs), assessed (800), approved (4,000) and active (4,000);
- a queued what-if run created by Tesla's entity-admin;
- a token per caller of the matrix (:data:`CALLERS`), and a spare one.

``RollbackStore`` is a store whose writing transactions never commit: the access matrix
sends every write for real (validation, access checks, governance, the audit append all
run) and the register stays as seeded for the next cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from gpufleet.governance.auth.tokens import create_token, resolve
from gpufleet.governance.register import ops
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.runs import queue
from gpufleet.governance.store.db import Store, Tx
from gpufleet.governance.store.models import AccessRole, TransferRow, TransferState
from gpufleet.governance.transfers import lifecycle
from gpufleet.service.app import create_app
from tests.support.small_scenario import SMALL

API = "/api/v1"

# caller -> (role, entity, person); "none" sends no token
CALLERS: dict[str, tuple[AccessRole, str | None, str | None] | None] = {
    "none": None,
    "fleet": (AccessRole.FLEET_ADMIN, None, "xai-officer"),
    "viewer-own": (AccessRole.VIEWER, "tesla", None),
    "viewer-other": (AccessRole.VIEWER, "spacex", None),
    "admin-own": (AccessRole.ENTITY_ADMIN, "tesla", "tesla-admin"),
    "admin-other": (AccessRole.ENTITY_ADMIN, "spacex", "spacex-admin"),
    "approver-own": (AccessRole.APPROVER, "tesla", "tesla-director"),
    "approver-other": (AccessRole.APPROVER, "spacex", "spacex-director"),
}


def client(store: Store, run_worker: bool = False) -> TestClient:
    return TestClient(create_app(store, run_worker=run_worker), raise_server_exceptions=False)


def bearer(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def make_token(
    store: Store,
    role: AccessRole,
    entity: str | None = None,
    person: str | None = None,
    name: str = "t",
) -> str:
    with store.write("test") as tx:
        return create_token(tx, name, role, entity, person)[1]


def admin_token(store: Store) -> str:
    return make_token(store, AccessRole.FLEET_ADMIN, name="admin")


class RollbackStore(Store):
    """A store whose writes roll back when their ``with`` ends (see the module docs)."""

    @contextmanager
    def write(self, actor: str) -> Iterator[Tx]:
        class _Undo(Exception):
            pass

        try:
            with super().write(actor) as tx:
                yield tx
                raise _Undo
        except _Undo:
            pass


# --- the article's register, with everything the matrix needs ------------------------------


@dataclass
class Register:
    """Ids of the seeded objects and the secrets of the callers' tokens."""

    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)


def _create(tx: Tx, kind: str, **body: Any) -> Any:
    return ops.create(tx, kind, body)


PEOPLE_ROLES = {
    "tesla-admin": [("tesla", "officer")],
    "tesla-requester": [("tesla", "officer")],
    "tesla-director": [("tesla", "director")],
    "xai-officer": [("xai", "officer")],
    "spacex-admin": [("spacex", "officer")],
    "spacex-director": [("spacex", "director")],
    "conflicted": [("tesla", "officer"), ("xai", "director")],
    "tesla-employee": [("tesla", "employee")],
    "spare-person": [],
}


def _extras(tx: Tx, reg: Register) -> None:
    _create(tx, "group", name="spare-group")
    _create(tx, "entity", name="spacex", description="the other entity")
    _create(tx, "entity", name="spare-entity")
    _create(tx, "site", name="spacex-site", power_kw=5000)
    _create(tx, "site", name="spare-site", power_kw=1000)
    _create(tx, "program", name="starlink-ml", entity="spacex")
    _create(tx, "program", name="tesla-spare", entity="tesla")
    reg.ids["spacex-quota"] = _create(
        tx, "quota", program="starlink-ml", gpu_type="H100-SXM", nominal=64
    ).id
    reg.ids["dated-quota"] = _create(
        tx,
        "quota",
        program="fsd-training",
        gpu_type="H100-SXM",
        effective="2025-01-01",
        nominal=22000,
    ).id
    for name, owner in (("spacex-pool", "spacex"), ("tesla-spare-pool", "tesla")):
        _create(
            tx, "pool", name=name, site="spacex-site", gpu_type="H100-SXM", nodes=8, owner=owner
        )
    for person, roles in PEOPLE_ROLES.items():
        _create(tx, "person", name=person)
        for entity, role in roles:
            row = _create(tx, "role", person=person, entity=entity, role=role)
            reg.ids[f"role:{person}:{entity}"] = row.id


TRANSFERS = {  # name -> (GPUs, the state it is put in)
    "t-approved": (4000, TransferState.APPROVED),
    "t-active": (4000, TransferState.ACTIVE),
    "t-requested": (800, TransferState.REQUESTED),
    "t-assessed": (800, TransferState.ASSESSED),
}


def _transfers(store: Store, reg: Register, requester: int) -> None:
    """Requested through governance, then put in their state directly (a fixture: the
    lifecycle itself is tested on its own)."""
    for name, (gpus, state) in TRANSFERS.items():
        with store.write("test") as tx:
            body = {
                "name": name,
                "pool": "tesla-h100-12k",
                "gpus": gpus,
                "to": "xai",
                "start": "2024-07-01",
            }
            t = lifecycle.request(tx, requester, body)
            tx.session.execute(
                update(TransferRow).where(TransferRow.id == t.id).values(state=state.value)
            )
            reg.ids[name] = t.id


def article_register(store: Store) -> Register:
    reg = Register()
    with store.write("test") as tx:
        seed_from_scenario(tx)
        _extras(tx, reg)
        reg.ids["fsd-quota"] = ops.find(tx.session, "quota", 1).id
        # not admin-own's person: a requester may not change roles while his request is open
        reg.ids["requester"] = ops.find(tx.session, "person", "tesla-requester").id
    _transfers(store, reg, reg.ids["requester"])
    for caller, spec in CALLERS.items():
        if spec is not None:
            reg.tokens[caller] = make_token(store, spec[0], spec[1], spec[2], name=caller)
    with store.write("test") as tx:
        reg.ids["spare-token"] = create_token(tx, "spare", AccessRole.VIEWER, "tesla")[0].id
    with store.read() as s:
        admin_own = resolve(s, reg.tokens["admin-own"])
    with store.write(admin_own.actor) as tx:
        req = {"name": "try-move", "changes": {"move": ["800 H100-SXM tesla->xai 2024-07-01"]}}
        run = queue.queue_whatif(tx, {**req, "seeds": 1}, admin_own.entity_id)
        reg.ids["run"] = run.id
    return reg


def small_with_a_request(tx: Tx) -> int:
    """SMALL seeded, person ann (officer of acme) and transfer 1 requested by her (acme
    lends 16 GPUs to beta): a register where ids 1 reach real objects; ann's id."""
    seed_from_scenario(tx, SMALL)
    ann = ops.create(tx, "person", {"name": "ann"})
    ops.create(tx, "role", {"person": "ann", "entity": "acme", "role": "officer"})
    lifecycle.request(
        tx, ann.id, {"pool": "acme-h100", "gpus": 16, "to": "beta", "start": "2024-01-03"}
    )
    return int(ann.id)


def seeded_client(store: Store, run_worker: bool = False) -> tuple[TestClient, dict[str, str]]:
    """A client over the article's register, seeded through the API by a fleet-admin;
    returns it with the admin's headers."""
    admin = bearer(admin_token(store))
    c = client(store, run_worker)
    resp = c.post(f"{API}/seed", headers=admin, json={})
    assert resp.status_code == 201, resp.text
    return c, admin


def ok(resp: Any, status: int = 200) -> Any:
    """The JSON of a response that must have ``status`` (the body in the failure)."""
    assert resp.status_code == status, resp.text
    return resp.json()


def error_of(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The error of a response that must have this status and code, in the one shape."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert set(err) == {"code", "message", "problems"}
    assert err["code"] == code, err
    assert err["message"]
    for p in err["problems"]:
        assert set(p) == {"field", "message", "expected"}
    return err

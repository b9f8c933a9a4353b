"""API tokens: only a hash is stored, the secret is shown once, roles are checked, and a
revoked or unknown token is refused with a reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from gpufleet.cli.main import main
from gpufleet.errors import ForbiddenError, InputError, NotFoundError, UnauthorizedError
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import create_token, parse_role, resolve, revoke_token
from gpufleet.governance.register import ops
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole, Token


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path}/t.db")
    s.upgrade()
    with s.write("setup") as tx:
        for name in ("tesla", "xai"):
            ops.create(tx, "entity", {"name": name})
        ops.create(tx, "person", {"name": "robin"})
    return s


def test_the_secret_is_returned_once_and_only_its_sha256_is_stored(store: Store) -> None:
    with store.write("admin") as tx:
        tok, secret = create_token(tx, "ci", AccessRole.FLEET_ADMIN)
    assert secret.startswith("gf_") and len(secret) > 40
    with store.read() as s:
        row = s.scalars(select(Token)).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str([getattr(row, c.key) for c in Token.__table__.columns])
        p = resolve(s, secret)
    assert (p.token_id, p.role, p.entity_name) == (tok.id, AccessRole.FLEET_ADMIN, None)
    assert p.actor == f"token:ci [token {tok.id}, fleet-admin@fleet]"


def test_an_approver_token_names_its_person_and_entity(store: Store) -> None:
    with store.write("admin") as tx:
        _, secret = create_token(tx, "robin", AccessRole.APPROVER, "tesla", "robin")
    with store.read() as s:
        p = resolve(s, secret)
    assert (p.person_name, p.entity_name, p.scope) == ("robin", "tesla", "tesla")
    assert p.actor.startswith("robin [token")


@pytest.mark.parametrize(
    ("role", "entity", "person", "message"),
    [
        ("fleet-admin", "tesla", None, "not scoped to an entity"),
        ("viewer", None, None, "needs an entity"),
        ("approver", "tesla", None, "must belong to a person"),
        ("viewer", "spacex", None, "no entity 'spacex'"),
        ("viewer", "tesla", "nobody", "no person 'nobody'"),
    ],
    ids=[
        "fleet-admin-scoped-to-an-entity",
        "viewer-without-entity",
        "approver-without-person",
        "unknown-entity",
        "unknown-person",
    ],
)
def test_bad_token_requests_say_what_is_wrong(
    store: Store, role: str, entity: str | None, person: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message), store.write("admin") as tx:
        create_token(tx, "x", parse_role(role), entity, person)
    with store.read() as s:
        assert s.scalars(select(Token)).all() == []


def test_an_unknown_role_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match="viewer, entity-admin, approver, fleet-admin"):
        parse_role("owner")


def test_missing_unknown_and_revoked_tokens_are_refused(store: Store) -> None:
    with store.write("admin") as tx:
        tok, secret = create_token(tx, "v", AccessRole.VIEWER, "tesla")
    with store.read() as s:
        with pytest.raises(UnauthorizedError, match="no API token"):
            resolve(s, None)
        with pytest.raises(UnauthorizedError, match="unknown"):
            resolve(s, "gf_not-a-token")
    with store.write("admin") as tx:
        revoke_token(tx, tok.id)
    with store.read() as s, pytest.raises(UnauthorizedError, match="revoked"):
        resolve(s, secret)
    with pytest.raises(NotFoundError), store.write("admin") as tx:
        revoke_token(tx, 999)


def test_roles_reach_only_their_own_entity(store: Store) -> None:
    with store.write("admin") as tx:
        _, v = create_token(tx, "v", AccessRole.VIEWER, "tesla")
        _, a = create_token(tx, "a", AccessRole.ENTITY_ADMIN, "tesla")
    with store.read() as s:
        viewer, admin = resolve(s, v), resolve(s, a)
    tesla, xai = viewer.entity_id, (viewer.entity_id or 0) + 1
    access.require_read(viewer, [tesla], "pool p")
    with pytest.raises(ForbiddenError, match="another entity"):
        access.require_read(viewer, [xai], "pool q")
    with pytest.raises(ForbiddenError, match="needs an entity-admin"):
        access.require_admin(viewer, tesla, "pool p")
    access.require_admin(admin, tesla, "pool p")
    with pytest.raises(ForbiddenError, match="another entity") as e:
        access.require_admin(admin, xai, "pool q")
    assert e.value.code == "other-entity"
    with pytest.raises(ForbiddenError, match="needs an approver"):
        access.require_approver(admin, [tesla], "transfer 1")


def test_create_token_cli_prints_the_secret_once_and_audits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert main(["admin", "create-token", "--role", "fleet-admin", "--db", url]) == 0
    out = capsys.readouterr()
    secret = out.out.strip()
    assert secret.startswith("gf_") and "shown only now" in out.err
    store = Store(url)
    with store.read() as s:
        assert resolve(s, secret).role is AccessRole.FLEET_ADMIN
    assert main(["audit", "verify", "--db", url]) == 0
    assert "1 records" in capsys.readouterr().out
    store.dispose()
    assert main(["admin", "create-token", "--role", "boss", "--db", url]) == 2
    assert "expected one of" in capsys.readouterr().err

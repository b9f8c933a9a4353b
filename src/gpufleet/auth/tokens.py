"""API tokens. A secret is ``gf_`` + 32 random bytes in URL-safe base64; only its SHA-256
is stored (a secret this long needs no salt or slow hash: it cannot be guessed from a
dictionary), so a copy of the database grants nothing. The secret is returned once, when
the token is created.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gpufleet.errors import InputError, NotFoundError, UnauthorizedError
from gpufleet.store.audit import row_dict
from gpufleet.store.db import Tx, now
from gpufleet.store.models import AccessRole, Entity, Person, Token

PREFIX = "gf_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token, its role and scope, and the person it belongs to."""

    token_id: int
    token_name: str
    role: AccessRole
    entity_id: int | None
    entity_name: str | None
    person_id: int | None
    person_name: str | None

    @property
    def scope(self) -> str:
        return "fleet" if self.role is AccessRole.FLEET_ADMIN else str(self.entity_name)

    @property
    def actor(self) -> str:
        """How the audit log names this caller: person (or token) and role@scope."""
        who = self.person_name or f"token:{self.token_name}"
        return f"{who} [token {self.token_id}, {self.role.value}@{self.scope}]"


def parse_role(text: str) -> AccessRole:
    try:
        return AccessRole(text)
    except ValueError:
        valid = ", ".join(r.value for r in AccessRole)
        raise InputError(f"role {text!r} is not a role (expected one of: {valid})") from None


def create_token(
    tx: Tx,
    name: str,
    role: AccessRole,
    entity: str | None = None,
    person: str | None = None,
) -> tuple[Token, str]:
    """A new token; returns it with its secret (shown once, never stored)."""
    s = tx.session
    if not name.strip():
        raise InputError("token name is empty (expected a short label, e.g. 'ci' or 'alice')")
    if role is AccessRole.FLEET_ADMIN and entity is not None:
        raise InputError("a fleet-admin token is not scoped to an entity (drop --entity)")
    if role is not AccessRole.FLEET_ADMIN and entity is None:
        raise InputError(f"a {role.value} token needs an entity (--entity NAME)")
    entity_id = person_id = None
    if entity is not None:
        e = s.scalar(select(Entity).where(Entity.name == entity))
        if e is None:
            raise NotFoundError("entity", entity)
        entity_id = e.id
    if person is not None:
        p = s.scalar(select(Person).where(Person.name == person))
        if p is None:
            raise NotFoundError("person", person)
        person_id = p.id
    if role is AccessRole.APPROVER and person_id is None:
        raise InputError("an approver token must belong to a person (--person NAME)")
    secret = PREFIX + secrets.token_urlsafe(32)
    tok = Token(
        token_hash=hash_secret(secret),
        name=name,
        role=role.value,
        entity_id=entity_id,
        person_id=person_id,
        created_at=now(),
    )
    s.add(tok)
    s.flush()
    after = row_dict(tok)
    tx.audit("create", "token", tok.id, None, after)
    return tok, secret


def revoke_token(tx: Tx, token_id: int) -> Token:
    tok = tx.session.get(Token, token_id)
    if tok is None:
        raise NotFoundError("token", token_id)
    before = row_dict(tok)
    if tok.revoked_at is None:
        tok.revoked_at = now()
        tx.session.flush()
        tx.audit("revoke", "token", tok.id, before, row_dict(tok))
    return tok


def resolve(s: Session, secret: str | None) -> Principal:
    """The principal of a secret; UnauthorizedError if missing, unknown or revoked."""
    if not secret:
        raise UnauthorizedError("no API token (send 'Authorization: Bearer gf_...')")
    tok = s.scalar(select(Token).where(Token.token_hash == hash_secret(secret)))
    if tok is None:
        raise UnauthorizedError("unknown API token")
    if tok.revoked_at is not None:
        raise UnauthorizedError(f"API token {tok.id} was revoked at {tok.revoked_at.isoformat()}")
    ent = s.get(Entity, tok.entity_id) if tok.entity_id is not None else None
    per = s.get(Person, tok.person_id) if tok.person_id is not None else None
    return Principal(
        tok.id,
        tok.name,
        AccessRole(tok.role),
        tok.entity_id,
        ent.name if ent else None,
        tok.person_id,
        per.name if per else None,
    )


def token_count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Token)) or 0

"""API tokens. A secret is ``gf_`` + 32 random bytes in URL-safe base64; only its SHA-256
is stored (a secret this long needs no salt or slow hash: it cannot be guessed from a
dictionary), so a copy of the database grants nothing. The secret is returned once, when
the token is created.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gpufleet.errors import InputError, NotFoundError, UnauthorizedError
from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.db import Tx, now
from gpufleet.governance.store.models import AccessRole, EntityRow, PersonRow, Token
from gpufleet.governance.store.values import iso_utc

PREFIX = "gf_"
log = logging.getLogger(__name__)


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


def aware(t: datetime) -> datetime:
    """SQLite hands back naive times for timezone-aware columns; the store writes UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def parse_expiry(text: str, at: datetime | None = None) -> datetime:
    """``--expires``: a duration from now (``90d``, ``12h``, ``30m``) or an ISO date or
    time (a date means its midnight UTC; a time without offset is UTC)."""
    at = at or now()
    m = re.fullmatch(r"\s*(\d{1,6})\s*([dhm])\s*", text)
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        return at + timedelta(**{unit: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--expires {text!r}: expected a duration (90d, 12h, 30m) or an ISO date or "
            "time (2027-01-31, 2027-01-31T18:00:00+01:00)"
        ) from None
    return aware(when)


def create_token(
    tx: Tx,
    name: str,
    role: AccessRole,
    entity: str | None = None,
    person: str | None = None,
    *,
    expires_at: datetime | None = None,
) -> tuple[Token, str]:
    """A new token; returns it with its secret (shown once, never stored). With
    ``expires_at`` (in the future) it stops working then."""
    s = tx.session
    if expires_at is not None and aware(expires_at) <= now():
        raise InputError(
            f"expires_at: {aware(expires_at).isoformat()} is not in the future "
            f"(now: {now().isoformat(timespec='seconds')})"
        )
    if not name.strip():
        raise InputError("token name is empty (expected a short label, e.g. 'ci' or 'alice')")
    if role is AccessRole.FLEET_ADMIN and entity is not None:
        raise InputError("a fleet-admin token is not scoped to an entity (drop --entity)")
    if role is not AccessRole.FLEET_ADMIN and entity is None:
        raise InputError(f"a {role.value} token needs an entity (--entity NAME)")
    entity_id = person_id = None
    if entity is not None:
        e = s.scalar(select(EntityRow).where(EntityRow.name == entity))
        if e is None:
            raise NotFoundError("entity", entity)
        entity_id = e.id
    if person is not None:
        p = s.scalar(select(PersonRow).where(PersonRow.name == person))
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
        expires_at=aware(expires_at) if expires_at is not None else None,
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
    if tok.expires_at is not None and aware(tok.expires_at) <= now():
        raise UnauthorizedError(
            f"API token {tok.id} expired at {aware(tok.expires_at).isoformat()} "
            "(ask a fleet-admin for a new one)"
        )
    ent = s.get(EntityRow, tok.entity_id) if tok.entity_id is not None else None
    per = s.get(PersonRow, tok.person_id) if tok.person_id is not None else None
    return Principal(
        tok.id,
        tok.name,
        AccessRole(tok.role),
        tok.entity_id,
        ent.name if ent else None,
        tok.person_id,
        per.name if per else None,
    )


USE_GRANULARITY = timedelta(minutes=1)
"""A token's last use is written at most once a minute: a read stays a read."""


def record_use(engine: Engine, token_id: int, at: datetime | None = None) -> None:
    """Note that token ``token_id`` was used now (``tokens.last_used_at``), unless it was
    noted less than :data:`USE_GRANULARITY` ago. Operational metadata, not a decision: it
    is written outside the audited writer transaction (so reads do not queue behind
    writers) and is the one column the audit replay leaves out. Best effort: a busy
    database skips the note rather than failing the request."""
    at = at or now()
    stmt = (
        update(Token)
        .where(
            Token.id == token_id,
            or_(Token.last_used_at.is_(None), Token.last_used_at < at - USE_GRANULARITY),
        )
        .values(last_used_at=at)
    )
    try:
        with engine.begin() as conn:
            conn.execute(stmt)
    except OperationalError as e:
        log.info("token %s: last use not recorded (%s)", token_id, e.orig)


def token_state(t: Token, at: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if t.revoked_at is not None:
        return "revoked"
    if t.expires_at is not None and aware(t.expires_at) <= (at or now()):
        return "expired"
    return "active"


def token_count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(Token)) or 0


def token_dict(s: Session, t: Token) -> dict[str, Any]:
    """A token as the API and ``admin list-tokens`` show it: no secret, no hash."""
    ent = s.get(EntityRow, t.entity_id) if t.entity_id is not None else None
    per = s.get(PersonRow, t.person_id) if t.person_id is not None else None
    return {
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "entity": ent.name if ent else None,
        "person": per.name if per else None,
        "created_at": iso_utc(t.created_at),
        "revoked_at": iso_utc(t.revoked_at),
        "expires_at": iso_utc(t.expires_at),
        "last_used_at": iso_utc(t.last_used_at),
        "state": token_state(t),
    }

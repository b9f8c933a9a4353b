"""Tokens that expire, and a listing that shows each token's state and last use, on both
backends; the last use is the one column the audit replay leaves out, so recording it
never reads as tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from gpufleet.errors import InputError
from gpufleet.governance.auth.tokens import USE_GRANULARITY, parse_expiry, record_use
from gpufleet.governance.store.audit_check import verify_store
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AccessRole, Token
from tests.support.api import API, bearer, client, make_token, ok

pytestmark = pytest.mark.security

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_an_expiry_is_a_duration_or_a_date() -> None:
    assert parse_expiry("90d", NOW) == NOW + timedelta(days=90)
    assert parse_expiry("12h", NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("30m", NOW) == NOW + timedelta(minutes=30)
    assert parse_expiry("2027-01-31", NOW) == datetime(2027, 1, 31, tzinfo=UTC)
    # an offset is kept: 18:00 at +01:00 is 17:00 UTC
    at = parse_expiry("2027-01-31T18:00:00+01:00", NOW)
    assert at.astimezone(UTC) == datetime(2027, 1, 31, 17, 0, tzinfo=UTC)
    with pytest.raises(InputError, match="expected a duration"):
        parse_expiry("next week", NOW)


def test_an_expired_token_is_refused_and_says_when_it_expired(store: Store) -> None:
    secret = make_token(store, AccessRole.FLEET_ADMIN, name="short")
    c = client(store)
    ok(c.get(f"{API}/tokens", headers=bearer(secret)))
    past = datetime.now(UTC) - timedelta(seconds=1)
    with store.write("test") as tx:
        tx.session.execute(update(Token).values(expires_at=past))
    err = ok(c.get(f"{API}/tokens", headers=bearer(secret)), 401)["error"]
    assert "expired at" in err["message"]


def test_a_token_cannot_be_created_already_expired(store: Store) -> None:
    admin = bearer(make_token(store, AccessRole.FLEET_ADMIN, name="admin"))
    c = client(store)
    body = {"name": "x", "role": "fleet-admin", "expires_at": "2020-01-01T00:00:00+00:00"}
    err = ok(c.post(f"{API}/tokens", headers=admin, json=body), 422)["error"]
    assert "not in the future" in err["message"] + str(err["problems"])
    naive = {**body, "expires_at": "2030-01-01T00:00:00"}  # no offset: ambiguous
    ok(c.post(f"{API}/tokens", headers=admin, json=naive), 422)
    later = {**body, "expires_at": "2030-01-01T00:00:00+00:00"}
    made = ok(c.post(f"{API}/tokens", headers=admin, json=later), 201)
    assert made["expires_at"] == "2030-01-01T00:00:00+00:00"
    assert made["state"] == "active"


def test_the_listing_shows_last_use_and_state(store: Store) -> None:
    admin = make_token(store, AccessRole.FLEET_ADMIN, name="admin")
    unused = make_token(store, AccessRole.FLEET_ADMIN, name="unused")
    assert unused
    c = client(store)
    items = ok(c.get(f"{API}/tokens", headers=bearer(admin)))["items"]
    by_name = {t["name"]: t for t in items}
    assert by_name["admin"]["last_used_at"] is not None  # this very request
    assert by_name["unused"]["last_used_at"] is None
    assert {t["state"] for t in items} == {"active"}


def test_last_use_is_written_at_most_once_a_minute(store: Store) -> None:
    make_token(store, AccessRole.FLEET_ADMIN, name="admin")
    record_use(store.engine, 1, NOW)
    record_use(store.engine, 1, NOW + USE_GRANULARITY / 2)  # too soon: kept at NOW
    with store.read() as s:
        got = s.get(Token, 1)
        assert got is not None and got.last_used_at is not None
        assert got.last_used_at.replace(tzinfo=UTC) == NOW
    record_use(store.engine, 1, NOW + USE_GRANULARITY * 2)
    with store.read() as s:
        got = s.get(Token, 1)
        assert got is not None and got.last_used_at is not None
        assert got.last_used_at.replace(tzinfo=UTC) == NOW + USE_GRANULARITY * 2


def test_recording_use_does_not_read_as_tampering(store: Store) -> None:
    secret = make_token(store, AccessRole.FLEET_ADMIN, name="admin")
    ok(client(store).get(f"{API}/tokens", headers=bearer(secret)))
    with store.read() as s:
        report = verify_store(s)
    assert report.ok, report


def test_the_cli_lists_tokens_and_refuses_a_past_expiry(tmp_path: Path) -> None:
    from gpufleet.cli.main import main

    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert (
        main(["admin", "create-token", "--db", db, "--role", "fleet-admin", "--expires", "1d"]) == 0
    )
    past = ["admin", "create-token", "--db", db, "--role", "fleet-admin", "--expires", "2020-01-01"]
    assert main(past) == 2
    assert main(["admin", "list-tokens", "--db", db, "--json"]) == 0

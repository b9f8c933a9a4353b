"""API tokens, fleet-admin only: create (the secret is in the response, once; optionally
expiring), list (no secrets, no hashes; each token's state and last use), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field
from sqlalchemy import select

from gpufleet.errors import InputError, Problem
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import create_token, revoke_token, token_dict
from gpufleet.governance.store.models import AccessRole, Token
from gpufleet.inputs.scenario.schema import ByValue, Name, Strict
from gpufleet.service.deps import Caller, IdPath, StoreDep
from gpufleet.service.pagination import PageDep

router = APIRouter(tags=["tokens"])


EXAMPLE = "2027-01-31T18:00:00+01:00"


class TokenBody(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100, description="a short label")]
    role: Annotated[AccessRole, ByValue]
    entity: Name | None = Field(default=None, description="the entity (all roles but fleet-admin)")
    person: Name | None = Field(default=None, description="the person (approvers need one)")
    expires_at: Annotated[str, Field(max_length=40)] | None = Field(
        default=None,
        description="when it stops working: an ISO time with its offset, e.g. "
        "2027-01-31T18:00:00+01:00 (default: never)",
    )

    def expiry(self) -> datetime | None:
        """``expires_at`` as an aware time; InputError naming the field otherwise."""
        if self.expires_at is None:
            return None
        try:
            at = datetime.fromisoformat(self.expires_at)
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise InputError(
                f"expires_at: {self.expires_at!r} is not an ISO time with an offset",
                [
                    Problem(
                        "expires_at", "not an ISO time with an offset", "2027-01-31T18:00:00+01:00"
                    )
                ],
            )
        return at


@router.get("/tokens", summary="List API tokens (no secrets)")
def list_tokens(p: Caller, store: StoreDep, page: PageDep) -> dict[str, Any]:
    access.require_fleet_admin(p, "listing tokens")
    with store.read() as s:
        return page.of_query(s, select(Token).order_by(Token.id), lambda t: token_dict(s, t))


@router.post("/tokens", status_code=201, summary="Create an API token; the secret is shown once")
def new_token(body: TokenBody, p: Caller, store: StoreDep) -> dict[str, Any]:
    access.require_fleet_admin(p, "creating tokens")
    with store.write(p.actor) as tx:
        tok, secret = create_token(
            tx, body.name, body.role, body.entity, body.person, expires_at=body.expiry()
        )
        return {**token_dict(tx.session, tok), "secret": secret}


@router.delete(
    "/tokens/{token_id}", status_code=204, response_class=Response, summary="Revoke a token"
)
def delete_token(token_id: IdPath, p: Caller, store: StoreDep) -> Response:
    access.require_fleet_admin(p, "revoking tokens")
    with store.write(p.actor) as tx:
        revoke_token(tx, token_id)
    return Response(status_code=204)

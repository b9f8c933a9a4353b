"""What every route depends on: the store, and who is calling.

The store lives on ``app.state.store`` (set by :func:`gpufleet.service.app.create_app`).
The caller is resolved from ``Authorization: Bearer gf_...`` by
:func:`gpufleet.governance.auth.tokens.resolve` in a short read transaction of its own; a missing,
unknown or revoked token is a 401 (raised as :class:`~gpufleet.errors.UnauthorizedError`,
which the error handlers shape).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gpufleet.errors import InternalError, UnauthorizedError
from gpufleet.governance.auth.tokens import Principal, record_use, resolve
from gpufleet.governance.store.db import Store

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token: `Authorization: Bearer gf_...` "
    "(the first one from `gpufleet admin create-token --role fleet-admin`).",
)


def get_store(request: Request) -> Store:
    store = getattr(request.app.state, "store", None)
    if not isinstance(store, Store):
        raise InternalError("the app has no store (create it with create_app(store))")
    return store


def get_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if creds is None and request.headers.get("authorization"):
        raise UnauthorizedError(
            "the Authorization header is not a bearer token (send 'Authorization: Bearer gf_...')"
        )
    store = get_store(request)
    with store.read() as s:
        p = resolve(s, creds.credentials if creds else None)
    record_use(store.engine, p.token_id)
    return p


MAX_ID = 2**31 - 1
"""The largest row id (a 32-bit integer column); a bigger one in a path names nothing."""

StoreDep = Annotated[Store, Depends(get_store)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
Caller = Annotated[Principal, Depends(get_principal)]

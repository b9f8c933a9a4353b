"""What operators and their tools ask a running service, at the root, without a token:

- ``GET /healthz``: the process answers (200 ``{"status": "ok"}``); nothing else is
  checked, so a restart is never caused by the database (Kubernetes' liveness probe);
- ``GET /readyz``: the database answers a query and its schema is at the migrations' head
  (200), else 503 with each check's finding, so a load balancer sends no traffic to a
  server that would fail it (the readiness probe);
- ``GET /metrics``: the Prometheus text format (:mod:`gpufleet.service.metrics`): requests
  by route, method and status, their latency, the run queue by status and the audit chain's
  head sequence.

The probes need no token and reveal no more than a status: a database that cannot be
reached is said to be unreachable, its driver's message (host names, user names, paths)
goes to the server's log only. ``/metrics`` needs a bearer token: the scrape secret
``gpufleet serve --metrics-token-file`` names (Prometheus sends it with
``authorization: {credentials_file: ...}``), or a fleet-admin API token. Its counts are
not public: the audit head's sequence is how many governance records exist (the audit
log itself is fleet-admin only), and the request counts by route show who uses what.
They are outside ``/api/v1`` because probes and scrapers look for them at these paths.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from gpufleet.errors import UnauthorizedError
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import record_use, resolve
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.migrate import current, head
from gpufleet.governance.store.models import Run, RunStatus
from gpufleet.service.deps import StoreDep, bearer
from gpufleet.service.metrics import RequestMetrics, gauge

router = APIRouter(tags=["operations"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the exposition format's
log = logging.getLogger(__name__)


@router.get("/healthz", summary="Liveness: the process answers (no token needed)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is current (no token needed)",
    responses={503: {"description": "a check failed; the body says which and why"}},
)
def readyz(store: StoreDep) -> JSONResponse:
    checks = readiness(store)
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ready else "not-ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def readiness(store: Store) -> dict[str, dict[str, Any]]:
    """The database check (a ``SELECT 1``) and the migrations check (revision = head)."""
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current(store.engine)
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        # the driver's words name hosts, users and paths: the log has them, the
        # unauthenticated answer does not
        log.warning("readiness: the database is unreachable: %s", reason)
        return {
            "database": {"ok": False, "detail": "unreachable (the server's log says why)"},
            "migrations": {"ok": False, "detail": "not checked: the database is unreachable"},
        }
    want = head()
    at = {"ok": revision == want, "revision": revision, "head": want}
    if revision != want:
        at["detail"] = f"schema at {revision}, expected {want}: run `gpufleet db upgrade`"
    return {"database": {"ok": True}, "migrations": at}


def scraper(
    request: Request,
    store: StoreDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Who may read /metrics: the scrape secret of ``serve --metrics-token-file``
    (compared in constant time), else a fleet-admin API token; anyone else gets 401/403."""
    secret: str | None = getattr(request.app.state, "metrics_secret", None)
    given = creds.credentials if creds else None
    if secret and given and hmac.compare_digest(given.encode(), secret.encode()):
        return
    if given is None:
        raise UnauthorizedError(
            "/metrics needs a bearer token: the scrape secret `gpufleet serve "
            "--metrics-token-file` names, or a fleet-admin token (docs/service.md)"
        )
    with store.read() as s:
        p = resolve(s, given)
    record_use(store.engine, p.token_id)
    access.require_fleet_admin(p, "reading /metrics without the scrape secret")


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency, run queue, audit head (the scrape "
    "secret or a fleet-admin token)",
    response_class=PlainTextResponse,
    dependencies=[Depends(scraper)],
)
def metrics(request: Request, store: StoreDep) -> Response:
    counted: RequestMetrics = request.app.state.metrics
    lines = counted.lines() + store_gauges(store)
    return Response("\n".join(lines) + "\n", media_type=CONTENT_TYPE)


def store_gauges(store: Store) -> list[str]:
    """The run queue by status (queued, running) and the audit chain's head sequence."""
    with store.read() as s:
        q = select(Run.status, func.count()).group_by(Run.status)
        by_status = {status: n for status, n in s.execute(q)}
        seq, _ = audit.head_of(s)
    waiting = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
    return gauge(
        "gpufleet_run_queue_length",
        "What-if runs and assessments waiting or running, by status.",
        [({"status": st}, float(by_status.get(st, 0))) for st in waiting],
    ) + gauge(
        "gpufleet_audit_head_seq",
        "The audit chain's head: the sequence number of its newest record.",
        [({}, float(seq))],
    )

"""What operators and their tools ask a running service, at the root, without a token:

- ``GET /healthz``: the process answers (200 ``{"status": "ok"}``); nothing else is
  checked, so a restart is never caused by the database (Kubernetes' liveness probe);
- ``GET /readyz``: the database answers a query and its schema is at the migrations' head
  (200), else 503 with each check's finding, so a load balancer sends no traffic to a
  server that would fail it (the readiness probe);
- ``GET /metrics``: the Prometheus text format (:mod:`gpufleet.service.metrics`): requests
  by route, method and status, their latency, the run queue by status and the audit chain's
  head sequence.

Neither route reveals more than counts: no names, tokens or rows. They are outside
``/api/v1`` because probes and scrapers look for them at these paths.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.migrate import current, head
from gpufleet.governance.store.models import Run, RunStatus
from gpufleet.service.deps import StoreDep
from gpufleet.service.metrics import RequestMetrics, gauge

router = APIRouter(tags=["operations"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the exposition format's


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
        return {
            "database": {"ok": False, "detail": f"unreachable: {reason}"},
            "migrations": {"ok": False, "detail": "not checked: the database is unreachable"},
        }
    want = head()
    at = {"ok": revision == want, "revision": revision, "head": want}
    if revision != want:
        at["detail"] = f"schema at {revision}, expected {want}: run `gpufleet db upgrade`"
    return {"database": {"ok": True}, "migrations": at}


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency, run queue, audit head (no token needed)",
    response_class=PlainTextResponse,
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

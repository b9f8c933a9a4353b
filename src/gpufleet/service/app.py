"""The app factory: ``create_app(store)`` is the whole service, REST API and dashboard.

- the REST API under ``/api/v1`` (the routers in :data:`ROUTERS`, one module of
  :mod:`gpufleet.service.routes` per resource), its OpenAPI schema at
  ``/api/openapi.json`` and its docs at ``/api/docs``, served without a CDN
  (:mod:`gpufleet.service.apidocs`);
- ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus) for probes and scrapers
  (:mod:`gpufleet.service.routes.ops`; requests counted by
  :mod:`gpufleet.service.metrics`);
- the dashboard (:mod:`gpufleet.service.dashboard`) at ``/`` and ``/static``;
- one error shape for every error (:mod:`gpufleet.service.errors`);
- with ``run_worker``, a background worker that runs queued what-if runs and
  assessments (:class:`gpufleet.governance.runs.queue.RunWorker`): started with the app and
  stopped with it. One server per database runs them (the worker's lease); it first puts
  back in the queue the runs a killed predecessor left running. Each run runs within
  ``run_budget`` (time and memory, :mod:`gpufleet.governance.runs.budget`); an entity has at
  most ``runs_per_entity`` runs queued or running (:mod:`gpufleet.governance.runs.fairness`);
- rate limits per token on the expensive routes (:mod:`gpufleet.service.ratelimit`).

Run it with ``gpufleet serve --db URL --port N``, or any ASGI server:
``uvicorn --factory`` cannot pass a store, so build it in a small module of your own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

import gpufleet
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.runs.budget import DEFAULT_BUDGET, RunBudget
from gpufleet.governance.runs.fairness import MAX_ACTIVE_RUNS
from gpufleet.governance.runs.queue import RunWorker
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.migrate import current
from gpufleet.registry import Registry
from gpufleet.service import apidocs, dashboard, errors
from gpufleet.service.checkpoints import AnchorSettings, Checkpointer
from gpufleet.service.deps import Caller, StoreDep
from gpufleet.service.live_worker import LivePoller
from gpufleet.service.metrics import MetricsMiddleware, RequestMetrics
from gpufleet.service.ratelimit import DEFAULT_RATE, RateLimit, RateLimitMiddleware
from gpufleet.service.routes import audit, live, ops, register, reports, runs, tokens, transfers

log = logging.getLogger("gpufleet.service")

API = "/api/v1"

meta = APIRouter(tags=["service"])


@meta.get("/health", summary="Liveness and schema revision (no token needed)")
def health(store: StoreDep) -> dict[str, Any]:
    return {"status": "ok", "schema_revision": current(store.engine)}


@meta.get("/me", summary="Who the token belongs to")
def me(p: Caller) -> dict[str, Any]:
    return principal_dict(p)


def principal_dict(p: Principal) -> dict[str, Any]:
    return {
        "token_id": p.token_id,
        "name": p.token_name,
        "role": p.role.value,
        "entity": p.entity_name,
        "person": p.person_name,
    }


# the API's routers by resource, included under API in this order (the OpenAPI schema's)
ROUTERS = Registry[APIRouter]("API router")
ROUTERS.add("service", meta)
ROUTERS.add("register", register.router)
ROUTERS.add("transfers", transfers.router)
ROUTERS.add("runs", runs.router)
ROUTERS.add("reports", reports.router)
ROUTERS.add("live", live.router)
ROUTERS.add("audit", audit.router)
ROUTERS.add("tokens", tokens.router)


def route_templates(app: FastAPI) -> list[str]:
    """Every path template the app answers: the OpenAPI schema's, the dashboard's and the
    docs page's (both left out of the schema). The schema's paths are read from the routes
    as FastAPI's ``get_openapi`` reads them (each ``APIRoute`` in the schema, by its
    ``path_format``), not by building the schema: that took about a second at each app's
    first request."""
    extra = [r.path for r in dashboard.router.routes if isinstance(r, APIRoute)]
    docs = [apidocs.DOCS, f"{apidocs.DOCS}/oauth2-redirect", f"{apidocs.DOCS}/assets/{{path:path}}"]
    return [*_schema_paths(app), *extra, *docs, apidocs.SCHEMA]


def _schema_paths(app: FastAPI) -> list[str]:
    """The OpenAPI schema's paths, in its order, without building it."""
    try:  # FastAPI 0.16x keeps included routers nested; get_openapi walks them so
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        routes: list[Any] = [r for r in app.routes if isinstance(r, APIRoute)]
    else:
        contexts = iter_route_contexts(app.routes)
        routes = [c for c in contexts if isinstance(c.original_route, APIRoute)]
    return list(dict.fromkeys(r.path_format for r in routes if r.include_in_schema))


def create_app(
    store: Store,
    run_worker: bool = True,
    anchors: AnchorSettings | None = None,
    *,
    run_budget: RunBudget = DEFAULT_BUDGET,
    runs_per_entity: int = MAX_ACTIVE_RUNS,
    rate_limit: RateLimit = DEFAULT_RATE,
    live_poller: LivePoller | None = None,
    swagger_ui_dir: Path | None = None,
    metrics_secret: str | None = None,
) -> FastAPI:
    """The service over ``store`` (whose schema is upgraded already); with ``anchors``,
    ``GET /audit/verify`` checks the signed checkpoints too, and with a signing key and a
    period a thread signs new ones (:mod:`gpufleet.service.checkpoints`). The run budget,
    the cap on runs per entity and the rate limit are ``gpufleet serve``'s options
    (docs/security.md, "Runs"). ``live_poller`` observes the server's live sources
    (``gpufleet serve --live-config FILE``): started and stopped with the app, and asked
    by ``POST /api/v1/live/observe`` (:mod:`gpufleet.service.live_worker`). With
    ``swagger_ui_dir`` (checked by :func:`gpufleet.service.apidocs.swagger_ui_dir`),
    ``/api/docs`` is Swagger UI from that folder, else a plain reference page. With
    ``metrics_secret`` (``serve --metrics-token-file``), a scraper that sends it as a
    bearer token reads ``/metrics``; a fleet-admin token always may."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker: RunWorker | None = None
        if run_worker:
            worker = RunWorker(store, budget=run_budget)
            worker.start()
            app.state.worker = worker
        signer = Checkpointer(store, anchors) if anchors and anchors.every_s else None
        if signer is not None:
            signer.start()
        if live_poller is not None:
            live_poller.start()
        try:
            yield
        finally:
            if live_poller is not None:
                live_poller.stop()
            if signer is not None:
                signer.stop()
            if worker is not None:
                worker.stop()
                app.state.worker = None

    app = FastAPI(
        title="gpufleet",
        version=gpufleet.__version__,
        description=(gpufleet.__doc__ or "").strip()
        + "\n\nEvery endpoint but `GET /api/v1/health` needs `Authorization: Bearer gf_...`. "
        'Every error is `{"error": {"code", "message", "problems": [...]}}`.',
        openapi_url="/api/openapi.json",
        docs_url=None,  # apidocs.install: no CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.anchors = anchors
    app.state.runs_per_entity = runs_per_entity
    app.state.live_poller = live_poller
    app.state.metrics = RequestMetrics()
    app.state.metrics_secret = metrics_secret
    errors.install(app)
    app.add_middleware(RateLimitMiddleware, limit=rate_limit)
    # outermost: it sees the rate limit's 429s too
    app.add_middleware(
        MetricsMiddleware, metrics=app.state.metrics, templates=lambda: route_templates(app)
    )
    for _resource, router in ROUTERS.items():
        app.include_router(router, prefix=API)
    app.include_router(ops.router)
    apidocs.install(app, swagger_ui_dir)
    app.include_router(dashboard.router)
    return app

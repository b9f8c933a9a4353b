"""The live fleet (issue 12): what the sources were seen to hold, and what it means.

- ``GET /live/status``: the fleet at a glance over a window, as ``gpufleet status
  --json`` gives it (:func:`gpufleet.live.status.status_json`: in use, idle and stranded
  GPUs now and GPU-days with dollars per entity, site and GPU type, totals by entity and
  by site, pending demand with reasons, drift, suggested leases, failed sources, down
  nodes), plus the latest sample's capacity, usage and caps in force, and for a fleet
  admin the unmapped names and the server's poller;
- ``GET /live/series``: capacity per entity, site and GPU type over a window, at a
  resolution the window chooses (bounded: :mod:`gpufleet.service.live_json`);
- ``GET /live/findings``: the waste with its totals, and the drift (with the settings the
  enactment found changed outside gpufleet and not yet made again, ``enact_drift``);
- ``GET /live/suggestions``: the suggested leases, each with the body of ``POST
  /transfers`` that would request it (nothing is requested here) and the command that
  assesses it;
- ``POST /live/observe``: observe the sources now (fleet admins only: an observation
  writes the whole fleet's sample, and only a fleet admin changes what is not one
  entity's, :mod:`gpufleet.governance.auth.access`). The sources are the server's own
  (``gpufleet serve --live-config FILE``): the request takes no fields at all (an
  unknown field is a 422), so a caller can name no file, command or URL. Single-flight
  and bounded (:class:`gpufleet.service.live_worker.LivePoller`): a call while a cycle
  runs is 409 ``observation-running``, one within the file's ``min_interval`` of the
  last cycle's start 429 ``observation-too-soon`` with ``Retry-After``.

**Who sees what** (:func:`gpufleet.service.visibility.live_status`): a fleet admin the
whole fleet; a token scoped to an entity its own entity's GPUs, waste, programs, demand,
caps, drift (not the enactment's, whose Slurm accounts name no entity of the register) and
down nodes, and the leases suggested between its entity and another (with
both parties' figures). Every route but ``observe`` is open to every token; every one is
rate-limited per token (:mod:`gpufleet.service.ratelimit`): each reads a window of
samples and computes over it, and ``observe`` asks every source.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gpufleet.errors import ConflictError
from gpufleet.governance.auth import access
from gpufleet.governance.auth.tokens import Principal
from gpufleet.governance.store.models import LiveSampleRow
from gpufleet.inputs.scenario.schema import Strict
from gpufleet.live import store as live_store
from gpufleet.live.findings import DEFAULT_RULES
from gpufleet.live.status import live_status, status_json
from gpufleet.service import live_json as lj
from gpufleet.service import visibility
from gpufleet.service.deps import Caller, StoreDep
from gpufleet.service.live_worker import LivePoller, result_json
from gpufleet.service.visibility import live_sample, view_of

router = APIRouter(tags=["live"])

WindowQuery = Annotated[
    str,
    Query(
        max_length=20,
        description="how far back from `end`: a duration like 90m, 24h or 7d",
        examples=["1d"],
    ),
]
EndQuery = Annotated[
    datetime | None,
    Query(description="the window's end, ISO 8601 (no offset: UTC); default now"),
]
NameQuery = Annotated[str, Query(max_length=100, description="only this one (empty: all)")]
ResolutionQuery = Annotated[
    str | None,
    Query(max_length=20, description="minute, hour or day; default: the finest that fits"),
]

FINDINGS_KEYS = (
    "now", "window", "latest", "fleet", "by_entity", "by_site", "drift", "enact_drift",
)  # fmt: skip
SUGGESTIONS_KEYS = ("now", "window", "latest", "suggestions")


def _poller(request: Request) -> LivePoller | None:
    poller = getattr(request.app.state, "live_poller", None)
    return poller if isinstance(poller, LivePoller) else None


def _status(
    store: StoreDep, p: Principal, request: Request, window: str, end: datetime | None
) -> dict[str, Any]:
    """The status as the caller may see it: computed on the whole fleet (a suggested lease
    joins two entities), then cut to the caller's view; with the latest sample's rows."""
    w = lj.window_of(window, end, lj.MAX_FINDINGS_WINDOW_S)
    poller = _poller(request)
    rules = poller.rules if poller is not None else DEFAULT_RULES
    with store.read() as s:
        view = view_of(s, p)
        st = visibility.live_status(live_status(s, w.end, w.seconds, rules), view)
    if not view.whole:
        # a Slurm account's drift names no entity of the register (the mapping does, and
        # the service may have none): the whole fleet's viewers only
        st = replace(st, enact_drift=())
    out = status_json(st)
    out["scope"] = p.scope
    out.update(lj.latest_json(st.latest, view.whole))
    return out


@router.get("/live/status", summary="The live fleet at a glance over a window")
def get_live_status(
    p: Caller,
    store: StoreDep,
    request: Request,
    window: WindowQuery = lj.DEFAULT_WINDOW,
    end: EndQuery = None,
) -> dict[str, Any]:
    out = _status(store, p, request, window, end)
    poller = _poller(request)
    out["polling"] = poller is not None
    out["poller"] = poller.state.as_dict() if poller and access.is_fleet_admin(p) else None
    return out


@router.get("/live/series", summary="Capacity per entity, site and GPU type over a window")
def get_live_series(
    p: Caller,
    store: StoreDep,
    window: WindowQuery = lj.DEFAULT_WINDOW,
    end: EndQuery = None,
    resolution: ResolutionQuery = None,
    entity: NameQuery = "",
    site: NameQuery = "",
    gpu_type: NameQuery = "",
) -> JSONResponse:
    w = lj.window_of(window, end, lj.MAX_SERIES_WINDOW_S)
    res = lj.resolution_of(w, resolution)
    keep = (entity, site, gpu_type)
    with store.read() as s:
        view = view_of(s, p)
        last = live_store.latest(s, until=w.end)
        seen_last = live_sample(last, view) if last is not None else None
        lj.estimate(seen_last, _count(s, w), w, res, keep)
        stored = live_store.samples(s, w.start, w.end, parts=("capacity",))
        seen = [live_sample(x, view) for x in stored]
    buckets = lj.downsample(seen, res)
    # the answer is plain JSON already: skip FastAPI's encoder (2 s for 35,000 points)
    return JSONResponse({"scope": p.scope, **lj.series_json(buckets, w, res, keep)})


def _count(s: Session, w: lj.Window) -> int:
    """Samples stored in the window (the store's read API has no count; one query)."""
    q = select(func.count(LiveSampleRow.id)).where(
        LiveSampleRow.at >= w.start, LiveSampleRow.at < w.end
    )
    return int(s.execute(q).scalar_one())


@router.get("/live/findings", summary="In use, idle and stranded GPU-days with dollars; drift")
def get_live_findings(
    p: Caller,
    store: StoreDep,
    request: Request,
    window: WindowQuery = lj.DEFAULT_WINDOW,
    end: EndQuery = None,
) -> dict[str, Any]:
    out = _status(store, p, request, window, end)
    return {"scope": p.scope, **{k: out[k] for k in FINDINGS_KEYS}}


@router.get("/live/suggestions", summary="Leases suggested by what the sources show")
def get_live_suggestions(
    p: Caller,
    store: StoreDep,
    request: Request,
    window: WindowQuery = lj.DEFAULT_WINDOW,
    end: EndQuery = None,
) -> dict[str, Any]:
    out = _status(store, p, request, window, end)
    return {"scope": p.scope, **{k: out[k] for k in SUGGESTIONS_KEYS}}


class ObserveBody(Strict):
    """``POST /live/observe`` takes no fields: the sources are the server's own."""


@router.post("/live/observe", summary="Observe the server's sources now (fleet admins)")
def post_live_observe(
    p: Caller, request: Request, body: ObserveBody | None = None
) -> dict[str, Any]:
    access.require_fleet_admin(p, "observing the sources")
    poller = _poller(request)
    if poller is None:
        raise ConflictError(
            "this server has no live configuration: start it with "
            "`gpufleet serve --live-config FILE` to observe sources",
            "no-live-config",
        )
    return result_json(poller.once())

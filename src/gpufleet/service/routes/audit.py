"""The audit log, fleet-admin only: a page of records (``?after_seq=`` to follow the log),
its verification (chain, signed anchors, rows), and exports for auditors (CSV or JSON, the same as
``gpufleet audit export``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from gpufleet.governance.auth import access
from gpufleet.governance.store import audit, audit_check
from gpufleet.governance.store.models import AuditRecord
from gpufleet.service.checkpoints import AnchorSettings
from gpufleet.service.deps import MAX_ID, Caller, StoreDep
from gpufleet.service.pagination import PageDep

router = APIRouter(tags=["audit"])


def record_dict(r: AuditRecord) -> dict[str, Any]:
    d = audit.as_fields(r)
    d["before"], d["after"] = json.loads(r.before), json.loads(r.after)
    return d


@router.get("/audit", summary="Audit records in order (fleet-admin)")
def list_audit(
    p: Caller,
    store: StoreDep,
    page: PageDep,
    after_seq: Annotated[
        int, Query(ge=0, le=MAX_ID, description="only records after this one")
    ] = 0,
) -> dict[str, Any]:
    access.require_fleet_admin(p, "reading the audit log")
    with store.read() as s:
        q = select(AuditRecord).where(AuditRecord.seq > after_seq).order_by(AuditRecord.seq)
        return page.of_query(s, q, record_dict)


@router.get("/audit/verify", summary="Verify the chain, its anchors and the rows (fleet-admin)")
def verify_audit(
    p: Caller,
    store: StoreDep,
    request: Request,
    rows: Annotated[bool, Query(description="replay the log against the rows")] = True,
) -> dict[str, Any]:
    """The chain; the signed checkpoints when the server was started with an anchor file
    and a key; and, unless ``rows=false``, every row of every audited table against the
    log's replay. ``ok`` only when all of them agree."""
    access.require_fleet_admin(p, "verifying the audit log")
    settings: AnchorSettings | None = getattr(request.app.state, "anchors", None)
    with store.read() as s:
        report = audit_check.verify_store(s, settings.anchors() if settings else None, rows)
    return report.as_dict()


@router.get(
    "/audit/export",
    summary="The whole log as CSV or JSON, for auditors (fleet-admin)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_audit(p: Caller, store: StoreDep, format: Literal["csv", "json"] = "json") -> Response:
    access.require_fleet_admin(p, "exporting the audit log")
    with store.read() as s:
        recs = list(audit.iter_records(s))
    if format == "csv":
        text, media = audit.export_csv(recs), "text/csv; charset=utf-8"
    else:
        text, media = audit.export_json(recs), "application/json"
    headers = {"Content-Disposition": f'attachment; filename="gpufleet-audit.{format}"'}
    return Response(text, media_type=media, headers=headers)

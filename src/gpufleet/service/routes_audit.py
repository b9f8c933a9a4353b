"""The audit log, fleet-admin only: a page of records (``?after_seq=`` to follow the log),
the chain's verification, and exports for auditors (CSV or JSON, the same as
``gpufleet audit export``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from gpufleet.auth import access
from gpufleet.service.deps import MAX_ID, Caller, StoreDep
from gpufleet.service.pagination import PageDep
from gpufleet.store import audit
from gpufleet.store.models import AuditRecord

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


@router.get("/audit/verify", summary="Verify the hash chain (fleet-admin)")
def verify_audit(p: Caller, store: StoreDep) -> dict[str, Any]:
    access.require_fleet_admin(p, "verifying the audit log")
    with store.read() as s:
        v = audit.verify(s)
    return {
        "ok": v.ok,
        "records": v.records,
        "first_bad_seq": v.first_bad_seq,
        "problem": v.problem,
        "message": v.render(),
    }


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

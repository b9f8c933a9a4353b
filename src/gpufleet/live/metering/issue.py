"""Issuing a statement: its canonical JSON is stored (table ``statements``) and committed
to the audit chain (object type ``statement``, the row with the JSON's SHA-256).

Re-issuing a period that was issued is the same version when the figures are the same
(same digest: nothing is written), else a new version whose row (and so its audit record)
says what changed: the totals before and after, and the lines that differ."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gpufleet.governance.store.audit import row_dict
from gpufleet.governance.store.canonical import canonical
from gpufleet.governance.store.db import Tx, now
from gpufleet.governance.store.models import StatementRow


@dataclass(frozen=True)
class Issued:
    version: int
    digest: str
    new: bool  # False: the same figures were issued before


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    old_lines = {x["pool"]: x for x in old.get("lines", [])}
    new_lines = {x["pool"]: x for x in new.get("lines", [])}
    lines = {
        pool: {"before": old_lines.get(pool), "after": new_lines.get(pool)}
        for pool in sorted(set(old_lines) | set(new_lines))
        if old_lines.get(pool) != new_lines.get(pool)
    }
    return {"totals": {"before": old.get("totals"), "after": new.get("totals")}, "lines": lines}


def issue(tx: Tx, doc: dict[str, Any]) -> Issued:
    head = doc["statement"]
    text = canonical(doc)
    digest = hashlib.sha256(text.encode()).hexdigest()
    s = tx.session
    last = s.scalars(
        select(StatementRow)
        .where(
            StatementRow.period_start == head["from"],
            StatementRow.period_end == head["to"],
            StatementRow.giver == head["giver"],
            StatementRow.taker == head["taker"],
        )
        .order_by(StatementRow.version.desc())
        .limit(1)
    ).one_or_none()
    if last is not None and last.digest == digest:
        return Issued(last.version, digest, False)
    changes = canonical(_changes(json.loads(last.body), doc)) if last is not None else ""
    row = StatementRow(
        period_start=head["from"], period_end=head["to"], giver=head["giver"],
        taker=head["taker"], version=(last.version + 1) if last else 1, digest=digest,
        body=text, changes=changes, issued_at=now(),
    )  # fmt: skip
    s.add(row)
    s.flush()
    tx.audit("issue", "statement", row.id, None, row_dict(row))
    return Issued(row.version, digest, True)

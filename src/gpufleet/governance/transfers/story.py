"""The article's move, governed: what ``gpufleet demo`` shows after its simulations.

On a fresh SQLite register filled from the article's scenario and its governance file
(``data/article-governance.yaml``), the head of both companies requests the move of the
12,000 H100 to xAI at a price of $0, as the article reports; the what-if planner assesses
it; the rules then say who may approve, who may not and why, and whether the price is
below fair value; the head's own attempt to approve is refused; and the audit chain is
verified. Nothing is approved: that is the board's decision, not the demo's.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gpufleet.errors import AccessError
from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.runs import queue
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import PersonRow
from gpufleet.governance.transfers import lifecycle

REQUESTER = "group-ceo"
MOVE: dict[str, Any] = {
    "name": "12k H100 to xAI",
    "pool": "tesla-h100-12k",
    "gpus": 12000,
    "to": "xai",
    "to_site": "xai-memphis",
    "start": "2024-06-15",
    "price_usd": 0,
    "note": "ARTICLE: shipped to xAI because Tesla's hall was not ready",
}


def article_governance_path() -> Path:
    return Path(str(files("gpufleet.data").joinpath("article-governance.yaml")))


def _person(store: Store, name: str) -> int:
    with store.read() as s:
        pid = s.scalar(select(PersonRow.id).where(PersonRow.name == name))
    assert pid is not None, f"the governance file has no {name}"
    return pid


def governed_move(store: Store, scenario: Path, governance: Path, seeds: int = 1) -> dict[str, Any]:
    """Run the story on an empty, upgraded store; what happened, as JSON values."""
    with store.write("demo:setup") as tx:
        seed_from_scenario(tx, scenario)
        load_governance(tx, governance)
    ceo = _person(store, REQUESTER)
    with store.write(REQUESTER) as tx:
        tid = lifecycle.request(tx, ceo, MOVE).id
        run_id = lifecycle.queue_assessment(tx, tid, seeds=seeds).id
    run = queue.execute(store, run_id)
    refused = ""
    try:
        with store.write(REQUESTER) as tx:
            lifecycle.approve(tx, tid, ceo, "approving my own request")
    except AccessError as e:
        refused = str(e)
    with store.read() as s:
        review = lifecycle.review(s, tid)
        verdict = audit.verify(s)
    return {
        "transfer_id": tid,
        "state": review["transfer"]["state"],
        "verdict": review["verdict"],
        "assessment": run.result,
        "requester_refused": refused,
        "audit": verdict.render(),
        "audit_ok": verdict.ok,
    }

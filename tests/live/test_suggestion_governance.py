"""A suggested lease is a transfer request the register's own governance accepts: read
from the store by ``live_status`` after one stored observation, its body goes through
``lifecycle.request`` unchanged (SQLite and PostgreSQL) and comes out as a requested,
related-party transfer, while the status itself created none."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from gpufleet.domain import Reason
from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import PersonRow, TransferRow, TransferState
from gpufleet.governance.transfers import lifecycle
from gpufleet.live.findings import SuggestionRules
from gpufleet.live.status import live_status
from gpufleet.live.store import ingest
from tests.live.builders import cap, down_node, observation, pending

HERE = Path(__file__).parent
GOVERNANCE = HERE.parents[1] / "src" / "gpufleet" / "data" / "article-governance.yaml"
T = observation().at.replace(year=2026, month=12, day=6, hour=18)


def test_the_suggested_body_is_accepted_by_governance_as_a_related_party_request(
    store: Store,
) -> None:
    with store.write("cli:test") as tx:
        seed_from_scenario(tx, HERE / "register" / "devcluster.yaml")
        load_governance(tx, GOVERNANCE)
    obs = observation(
        T,
        capacity=(cap("tesla", "buffalo", "A100-80GB", 4, up=0, down=4),),
        demand=(pending("xai", "grok", "A100-80GB", 2, Reason.NO_GPU_TYPE, "ReqNodeNotAvail"),),
        down=(down_node("gf-a100-1", "tesla", "buffalo", "buffalo-a100", "A100-80GB", 4),),
    )
    with store.write("live:test") as tx:
        ingest(tx, obs, 60.0)
    rules = SuggestionRules(min_gpus=2, after_s=60.0, lease_days=30)
    with store.read() as s:
        status = live_status(s, T + timedelta(seconds=5), rules=rules)
        assert s.scalar(select(func.count()).select_from(TransferRow)) == 0
    (lease,) = status.suggestions
    with store.write("cli:tesla-cfo") as tx:
        person = tx.session.execute(select(PersonRow).where(PersonRow.name == "tesla-cfo"))
        row = lifecycle.request(tx, person.scalar_one().id, lease.request)
        assert (row.state, row.gpus, row.start, row.end) == (
            TransferState.REQUESTED.value,
            4,  # buffalo-a100's one node of 4 A100
            "2026-12-06",
            "2027-01-05",
        )
        # both parties in the article's common-control group: a related-party request
        assert row.terms is not None
        assert row.terms["giver"] == {"entity": "tesla", "group": "common-control"}
        assert row.terms["taker"] == {"entity": "xai", "group": "common-control"}

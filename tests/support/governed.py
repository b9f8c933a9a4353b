"""A small governed register for the transfer and run tests.

The plan is ``tests.support.small_scenario.SMALL`` (10 days from 2024-01-01; acme owns pool
acme-h100, 8 nodes x 8 H100 with no value given, so $30,000 per GPU from the catalog;
beta owns beta-h100 and beta-a100). Both companies form group ``holding``: a transfer
between them over $1,000,000 needs 2 independent directors. People:

=====  ==========================================  =========================================
ann    officer of acme                             requests the transfers
bob    officer of acme and director of beta        conflicted
cat    independent director of acme
dan    independent director of beta
eve    employee of beta                            may not commit the company
fay    officer of beta
=====  ==========================================  =========================================

16 H100 are worth 16 x $30,000 = $480,000 (one approval by an officer or director);
64 H100 are worth $1,920,000 (two independent directors).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import (
    EntityRow,
    GroupRules,
    PersonRole,
    PersonRow,
    Run,
    RunStatus,
)
from gpufleet.governance.transfers import lifecycle
from tests.support.small_scenario import SMALL

ROLES = {
    "ann": [("acme", "officer")],
    "bob": [("acme", "officer"), ("beta", "director")],
    "cat": [("acme", "independent-director")],
    "dan": [("beta", "independent-director")],
    "eve": [("beta", "employee")],
    "fay": [("beta", "officer")],
}

SMALL_MOVE: dict[str, Any] = {"pool": "acme-h100", "gpus": 16, "to": "beta", "start": "2024-01-03"}
BIG_MOVE: dict[str, Any] = {**SMALL_MOVE, "gpus": 64, "name": "all of acme's H100"}


def governed_register(store: Store, require_assessment: bool = True) -> dict[str, int]:
    """Seed SMALL, group both companies, add the people; their ids by name."""
    with store.write("test:setup") as tx:
        seed_from_scenario(tx, SMALL)
        s = tx.session
        g = GroupRules(
            name="holding",
            related_threshold_usd=1_000_000.0,
            independent_approvals=2,
            require_assessment=require_assessment,
            flag_below_fair_value=True,
        )
        s.add(g)
        s.flush()
        ents = {e.name: e for e in s.scalars(select(EntityRow))}
        for e in ents.values():
            e.group_id = g.id
        ids = {}
        for name, roles in ROLES.items():
            p = PersonRow(name=name)
            s.add(p)
            s.flush()
            ids[name] = p.id
            for ent, role in roles:
                s.add(PersonRole(person_id=p.id, entity_id=ents[ent].id, role=role))
        s.flush()
    return ids


def request(store: Store, person: int, fields: dict[str, Any]) -> int:
    with store.write("test:ann") as tx:
        return lifecycle.request(tx, person, fields).id


def fake_assessment(store: Store, transfer_id: int, fair_usd: float = 1000.0) -> int:
    """Queue an assessment and finish it by hand with a charge of ``fair_usd``."""
    with store.write("system:test") as tx:
        run = lifecycle.queue_assessment(tx, transfer_id)
        run.status = RunStatus.DONE.value
        run.result = {"charge": {"fair_usd": fair_usd, "price_usd": 0, "rule": "test"}}
        tx.session.flush()
        lifecycle.record_assessment(tx, run)
        return run.id


def state(store: Store, transfer_id: int) -> str:
    with store.read() as s:
        t = s.get(lifecycle.TransferRow, transfer_id)
        assert t is not None
        return t.state


def run_row(store: Store, run_id: int) -> Run:
    with store.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        return run

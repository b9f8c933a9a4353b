"""A transfer's terms, frozen when it is requested: what its decision depends on.

The rules (:mod:`.rules`) look at the parties and their groups, the transfer's value, the
group's rules and everyone's roles. All of these live in tables that entity-admins and
fleet-admins may change (a pool's ``value_usd``, a person's roles, a group's rules), so a
party could otherwise change the decision's inputs while the decision is open: re-value the
pool under the threshold, name new independent directors, drop a conflicting seat.

:func:`freeze` turns the case at request time into plain JSON, stored on the transfer
(``transfers.terms``) and in its audit record; :func:`thaw` gives the case back. The case
the rules judge is the current one with ``frozen`` set to the thawed one (see
:func:`gpufleet.governance.transfers.case.case_of`): the stricter of the two holds.
"""

from __future__ import annotations

from typing import Any

from gpufleet.governance.store.models import RoleKind
from gpufleet.governance.transfers.rules import Case, Party, Person, Role, Rules

VERSION = 1


def freeze(c: Case) -> dict[str, Any]:
    """The case's decision inputs as JSON values (decisions and fair value excluded: they
    come later)."""
    return {
        "version": VERSION,
        "giver": {"entity": c.giver.entity, "group": c.giver.group},
        "taker": {"entity": c.taker.entity, "group": c.taker.group},
        "value_usd": c.value_usd,
        "rules": {
            "related_threshold_usd": c.rules.related_threshold_usd,
            "independent_approvals": c.rules.independent_approvals,
            "require_assessment": c.rules.require_assessment,
            "flag_below_fair_value": c.rules.flag_below_fair_value,
        },
        "requester_id": c.requester_id,
        "people": [
            {
                "id": p.id,
                "name": p.name,
                "roles": [
                    {"entity": r.entity, "role": r.role.value, "group": r.group} for r in p.roles
                ],
            }
            for p in c.people
        ],
    }


def thaw(doc: dict[str, Any]) -> Case:
    """The case a :func:`freeze` document describes."""
    rules = doc["rules"]
    return Case(
        giver=Party(doc["giver"]["entity"], doc["giver"]["group"]),
        taker=Party(doc["taker"]["entity"], doc["taker"]["group"]),
        value_usd=float(doc["value_usd"]),
        rules=Rules(
            float(rules["related_threshold_usd"]),
            int(rules["independent_approvals"]),
            bool(rules["require_assessment"]),
            bool(rules["flag_below_fair_value"]),
        ),
        people=tuple(
            Person(
                int(p["id"]),
                str(p["name"]),
                tuple(Role(str(r["entity"]), RoleKind(r["role"]), r["group"]) for r in p["roles"]),
            )
            for p in doc["people"]
        ),
        requester_id=int(doc["requester_id"]),
    )

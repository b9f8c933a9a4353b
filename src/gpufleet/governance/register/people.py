"""A governance file: the groups of related entities with their rules, and the people with
their roles in the entities. It fills the part of the register a scenario file has no place
for, so a board can keep it under version control beside the scenario::

    groups:
      - name: holding
        members: [acme, beta]          # entities already in the register
        related_threshold_usd: 1000000 # over this, a transfer between members needs
        independent_approvals: 2       # this many independent directors
    people:
      - name: ann
        roles: [{entity: acme, role: officer}, {entity: beta, role: director}]

Every problem names the file, line and field. Loading goes through :mod:`.ops`, so each
row is audited and the whole file lands in one transaction or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from gpufleet.errors import InputError, Problem, ScenarioError
from gpufleet.governance.register import ops
from gpufleet.governance.register.bodies import GroupBody
from gpufleet.governance.store.db import Tx
from gpufleet.governance.store.models import RoleKind
from gpufleet.inputs.scenario.pydantic_errors import problems_from_validation
from gpufleet.inputs.scenario.schema import Name, Strict
from gpufleet.inputs.scenario.yamlsrc import Located, parse


class GroupIn(GroupBody):
    members: list[Name] = Field(default_factory=list)


class RoleIn(Strict):
    entity: Name
    role: RoleKind


class PersonIn(Strict):
    name: Name
    email: str = ""
    roles: list[RoleIn] = Field(default_factory=list)
    note: str = ""


class GovernanceIn(Strict):
    groups: list[GroupIn] = Field(default_factory=list)
    people: list[PersonIn] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)


def read_governance(text: str, file: str) -> tuple[GovernanceIn, Located]:
    located, problems = parse(text, file)
    if located is None or problems:
        raise ScenarioError(file, problems)
    try:
        return GovernanceIn.model_validate(located.value or {}, strict=False), located
    except ValidationError as e:
        raise ScenarioError(
            file, problems_from_validation(e, located, file, GovernanceIn)
        ) from None


def load_governance(tx: Tx, path: str | Path) -> dict[str, int]:
    """Add the file's groups, memberships, people and roles; counts of each."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{file}: cannot read the governance file: {e.strerror}") from None
    model, located = read_governance(text, file)
    counts = {"groups": 0, "members": 0, "people": 0, "roles": 0}
    for i, g in enumerate(model.groups):
        _at(
            located, file, ("groups", i), ops.create, tx, "group", g.model_dump(exclude={"members"})
        )
        counts["groups"] += 1
        for j, member in enumerate(g.members):
            _at(
                located,
                file,
                ("groups", i, "members", j),
                ops.update,
                tx,
                "entity",
                member,
                {"group": g.name},
            )
            counts["members"] += 1
    for i, p in enumerate(model.people):
        _at(
            located,
            file,
            ("people", i),
            ops.create,
            tx,
            "person",
            {"name": p.name, "email": p.email},
        )
        counts["people"] += 1
        for j, r in enumerate(p.roles):
            body = {"person": p.name, "entity": r.entity, "role": r.role.value}
            _at(located, file, ("people", i, "roles", j), ops.create, tx, "role", body)
            counts["roles"] += 1
    return counts


def _at(located: Located, file: str, path: tuple[str | int, ...], fn: Any, *args: Any) -> None:
    """Run one register write; a refusal is reported at this item's line of the file."""
    try:
        fn(*args)
    except InputError as e:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)[1:]
        raise ScenarioError(
            file, [Problem(where, e.render(), "", file, located.line(path))]
        ) from None

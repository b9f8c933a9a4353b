"""The governance file: groups, people and roles, loaded in one audited transaction; each
problem is reported at its file line and field, and nothing of a bad file is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gpufleet.cli.main import main
from gpufleet.errors import ScenarioError
from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import EntityRow, GroupRules, PersonRole, PersonRow
from gpufleet.governance.transfers.story import article_governance_path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path}/g.db")
    s.upgrade()
    with s.write("seed") as tx:
        seed_from_scenario(tx, None)
    return s


def counts(store: Store) -> tuple[int, int, int]:
    with store.read() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m)) or 0
            for m in (GroupRules, PersonRow, PersonRole)
        )


def test_the_articles_governance_file_joins_both_companies_and_adds_the_cast(
    store: Store,
) -> None:
    with store.write("alice") as tx:
        got = load_governance(tx, article_governance_path())
    assert got == {"groups": 1, "members": 2, "people": 7, "roles": 10}
    with store.read() as s:
        groups = {e.name: e.group_id for e in s.scalars(select(EntityRow))}
        assert groups["tesla"] == groups["xai"] is not None
        assert audit.verify(s).ok


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        (
            "groups:\n  - name: g\n    members: [tesla, spacex]\n",
            3,
            "groups[0].members[1]",
            "no entity 'spacex'",
        ),
        (
            "people:\n  - name: ann\n    roles:\n      - {entity: tesla, role: boss}\n",
            4,
            "people[0].roles[0].role",
            "boss",
        ),
        ("people:\n  - name: ann\n  - name: ann\n", 3, "people[1]", "already exists"),
        ("people:\n  - name: ann\n    age: 3\n", 3, "people[0].age", "age"),
    ],
    ids=["unknown-member", "unknown-role", "duplicate-person", "unknown-key"],
)
def test_a_bad_governance_file_names_line_and_field_and_changes_nothing(
    store: Store, tmp_path: Path, body: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "gov.yaml"
    path.write_text(body)
    before = counts(store)
    with pytest.raises(ScenarioError) as e, store.write("alice") as tx:
        load_governance(tx, path)
    p = e.value.problems[0]
    assert (p.line, p.field) == (line, field)
    assert message in p.message
    assert counts(store) == before


def test_db_seed_fills_an_empty_register_and_refuses_a_second_cast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    gov = str(article_governance_path())
    assert main(["db", "seed", "--db", url, "--governance", gov]) == 0
    assert "7 people, 10 roles" in capsys.readouterr().out
    assert main(["db", "seed", "--db", url, "--governance", gov]) == 2
    assert "a group named 'common-control' already exists" in capsys.readouterr().err
    assert main(["db", "plan", "--db", url, "-o", str(tmp_path / "plan.yaml")]) == 0
    assert main(["validate", str(tmp_path / "plan.yaml")]) == 0

"""The register <-> scenario round trip: seed a register from a file, write it back out as
the plan's document, load and simulate it; on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from gpufleet.errors import ConflictError, InputError, ScenarioError
from gpufleet.governance.register.plan import (
    article_path,
    normalize_doc,
    plan_doc,
    plan_scenario,
    seed_from_scenario,
)
from gpufleet.governance.store.audit import verify
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import (
    AuditRecord,
    EntityRow,
    PersonRow,
    Pool,
    ProgramRow,
    QuotaRow,
    TransferRow,
    TransferState,
)
from gpufleet.inputs.scenario.load import load_scenario
from gpufleet.sim.simulator import simulate
from tests.support.small_scenario import SMALL, line_of, with_defect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL_LAB = EXAMPLES / "small-lab.yaml"


def seed(st: Store, source: str | Path | None = None, **kw: int) -> dict[str, object]:
    with st.write("test:seeder") as tx:
        return seed_from_scenario(tx, source, **kw)


@pytest.mark.parametrize("path", [article_path(), SMALL_LAB], ids=["article", "small-lab"])
def test_the_plan_of_a_seeded_register_is_the_normalized_file(store: Store, path: Path) -> None:
    seed(store, path)
    with store.read() as s:
        doc = plan_doc(s)
    assert doc == normalize_doc(yaml.safe_load(path.read_text()), path.parent)


def test_the_seeded_article_simulates_exactly_like_the_file(store: Store) -> None:
    seed(store)
    with store.read() as s:
        from_register = simulate(plan_scenario(s), None, 1)
    from_file = simulate(load_scenario(article_path()), None, 1)
    assert from_register.summary == from_file.summary
    assert from_register.to_dict() == from_file.to_dict()


def test_seeding_reports_its_rows_and_the_variants_it_left_out(store: Store) -> None:
    report = seed(store, SMALL_LAB)
    # small-lab: 2 sites, 1 entity, 3 programs; quotas: llm-pretrain H100, vision A100 and
    # H100, eval A100 (4 from the start) + 2 timeline changes = 6; 2 pools
    assert report == {
        "plan": 1,
        "site": 2,
        "entity": 1,
        "program": 3,
        "quota": 6,
        "pool": 2,
        "variants_skipped": ["fair-share", "quotas"],
    }
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == 1 + 2 + 1 + 3 + 6 + 2
        assert verify(s).ok
        kinds = {r.object_type for r in s.scalars(select(AuditRecord))}
        assert kinds == {"plan", "site", "entity", "program", "quota", "pool"}


def test_dated_quotas_become_the_plans_timeline(store: Store) -> None:
    seed(store, SMALL_LAB)
    with store.read() as s:
        dated = s.scalars(select(QuotaRow).where(QuotaRow.effective.is_not(None))).all()
        assert sorted((q.gpu_type, q.effective, q.nominal) for q in dated) == [
            ("H100-SXM", "2025-03-17", 16),
            ("H100-SXM", "2025-03-17", 48),
        ]
        timeline = plan_doc(s)["timeline"]
    assert timeline == [
        {
            "quota": {
                "at": "2025-03-17",
                "program": "llm-pretrain",
                "gpu_type": "H100-SXM",
                "nominal": 48,
                "borrowing_limit": 16,
                "lending_limit": 24,
            }
        },
        {"quota": {"at": "2025-03-17", "program": "eval", "gpu_type": "H100-SXM", "nominal": 16}},
    ]


def test_a_relative_trace_path_becomes_absolute(store: Store) -> None:
    seed(store, SMALL_LAB)
    with store.read() as s:
        eval_program = s.scalar(select(ProgramRow).where(ProgramRow.name == "eval"))
    assert eval_program is not None and eval_program.workload is not None
    assert eval_program.workload["trace"]["path"] == str(EXAMPLES / "small-lab-jobs.csv")


def test_seeding_a_register_that_has_entities_is_refused(store: Store) -> None:
    seed(store, SMALL)
    with pytest.raises(ConflictError) as e:
        seed(store, SMALL_LAB)
    assert e.value.code == "register-not-empty"


def test_seeding_an_invalid_file_names_its_line_and_writes_nothing(store: Store) -> None:
    bad = with_defect("nodes: 4\n", "nodes: 0\n")
    with pytest.raises(ScenarioError) as e:
        seed(store, bad)
    assert [(p.field, p.line) for p in e.value.problems] == [
        ("pools[1].nodes", line_of(bad, "nodes: 0"))
    ]
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_a_register_without_a_plan_header_has_no_plan(store: Store) -> None:
    with store.read() as s, pytest.raises(ConflictError) as e:
        plan_doc(s)
    assert e.value.code == "no-plan"


BASE_TRANSFER = SMALL.replace(
    "variants:\n",
    "timeline:\n"
    "  - transfer: {pool: acme-h100, gpus: 16, to: beta, start: 2024-01-03, end: 2024-01-08}\n"
    "variants:\n",
)


def test_base_timeline_transfers_need_someone_who_requested_them(store: Store) -> None:
    with pytest.raises(InputError, match="requester_id"):
        seed(store, BASE_TRANSFER)
    with store.write("test") as tx:
        p = PersonRow(name="alice")
        tx.session.add(p)
        tx.session.flush()
        pid = p.id
    seed(store, BASE_TRANSFER, requester_id=pid)
    with store.read() as s:
        t = s.scalars(select(TransferRow)).one()
        assert (t.state, t.gpus, t.start, t.end) == ("active", 16, "2024-01-03", "2024-01-08")
        sc = plan_scenario(s)
    assert [(x.pool, x.gpus, x.from_entity, x.to_entity) for x in sc.transfers] == [
        ("acme-h100", 16, "acme", "beta")
    ]


def _transfer(
    s_pool: Pool, giver: EntityRow, taker: EntityRow, state: str, **kw: object
) -> TransferRow:
    fields: dict[str, object] = {
        "name": f"t-{state}",
        "pool_id": s_pool.id,
        "gpus": 8,
        "from_entity_id": giver.id,
        "to_entity_id": taker.id,
        "start": "2024-01-03",
        "state": state,
        "requested_by": 1,
        "requested_at": datetime(2024, 1, 1, tzinfo=UTC),
        **kw,
    }
    return TransferRow(**fields)


def test_only_approved_active_and_ended_transfers_are_in_the_plan(store: Store) -> None:
    seed(store, SMALL)
    with store.write("test") as tx:
        s = tx.session
        s.add(PersonRow(id=1, name="alice"))
        pool = s.scalars(select(Pool).where(Pool.name == "acme-h100")).one()
        acme, beta = (
            s.scalars(select(EntityRow).where(EntityRow.name == n)).one() for n in ("acme", "beta")
        )
        for state in TransferState:
            end = "2024-01-06" if state == TransferState.ENDED else None
            s.add(_transfer(pool, acme, beta, state.value, end=end))
        s.flush()
    with store.read() as s:
        candidate = _transfer(pool, acme, beta, "requested", name="candidate", gpus=16)
        candidate.start = "2024-01-07"
        items = [i["transfer"] for i in plan_doc(s, [candidate])["timeline"]]
        sc = plan_scenario(s, [candidate])
    # the plan's own, by start, then the candidate
    assert [(t["name"], t["start"], t.get("end")) for t in items] == [
        ("t-approved", "2024-01-03", None),
        ("t-active", "2024-01-03", None),
        ("t-ended", "2024-01-03", "2024-01-06"),
        ("candidate", "2024-01-07", None),
    ]
    # acme's 64 H100: 8 + 8 given for good, 8 lent until the 6th, 16 more on the 7th
    assert sum(t.gpus for t in sc.transfers) == 8 + 8 + 8 + 16


def test_a_broken_register_is_reported_by_the_plans_field(store: Store) -> None:
    seed(store, SMALL)
    with store.write("test") as tx:
        prog = tx.session.scalars(select(ProgramRow).where(ProgramRow.name == "vision")).one()
        tx.session.add(QuotaRow(program_id=prog.id, gpu_type="TPU-v9", nominal=8))
    with store.read() as s, pytest.raises(ScenarioError) as e:
        plan_scenario(s)
    assert [p.field for p in e.value.problems] == ["entities[0].programs[0].quotas.TPU-v9"]
    assert e.value.file == "<register>"

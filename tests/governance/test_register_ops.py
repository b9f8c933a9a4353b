"""Writing the register: each write is checked, audited, and re-validates the plan; a bad
one names its field and leaves the store, audit log included, as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gpufleet.errors import ConflictError, InputError, NotFoundError
from gpufleet.governance.register import ops
from gpufleet.governance.register.plan import plan_doc, seed_from_scenario
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord, Pool


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reg") / "seeded.db"
    s = Store(f"sqlite:///{path}")
    s.upgrade()
    with s.write("seed") as tx:
        seed_from_scenario(tx, None)
    s.dispose()
    return path


@pytest.fixture
def store(seeded_file: Path, tmp_path: Path) -> Store:
    """A fresh copy of the register seeded from the article."""
    copy = tmp_path / "r.db"
    copy.write_bytes(seeded_file.read_bytes())
    return Store(f"sqlite:///{copy}")


def snapshot(store: Store) -> tuple[int, dict[str, Any]]:
    with store.read() as s:
        n = s.scalar(select(func.count()).select_from(AuditRecord)) or 0
        return n, plan_doc(s)


def refused(store: Store, exc: type[Exception], match: str, fn: Any, *args: Any) -> Exception:
    before = snapshot(store)
    with pytest.raises(exc, match=match) as e, store.write("alice") as tx:
        fn(tx, *args)
    assert snapshot(store) == before, "a refused write changed the store"
    with store.read() as s:
        assert audit.verify(s).ok
    return e.value


def test_a_new_pool_is_audited_with_its_row_and_joins_the_plan(store: Store) -> None:
    n0, _ = snapshot(store)
    body = {
        "name": "xai-h100-extra",
        "site": "xai-memphis",
        "gpu_type": "H100-SXM",
        "nodes": 10,
        "owner": "xai",
        "delivered": "2024-07-01",
    }
    with store.write("alice") as tx:
        ops.create(tx, "pool", body)
    n1, doc = snapshot(store)
    assert n1 == n0 + 1
    pool = next(p for p in doc["pools"] if p["name"] == "xai-h100-extra")
    assert (pool["nodes"], pool["owner"], str(pool["delivered"])) == (10, "xai", "2024-07-01")
    with store.read() as s:
        rec = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert rec is not None
        assert (rec.actor, rec.action, rec.object_type, rec.object_id, rec.before) == (
            "alice",
            "create",
            "pool",
            "xai-h100-extra",
            "null",
        )
        assert (
            ops.body_of(s, "pool", ops.find(s, "pool", "xai-h100-extra"))["site"] == "xai-memphis"
        )


def test_an_update_records_before_and_after(store: Store) -> None:
    with store.write("alice") as tx:
        ops.update(tx, "site", "xai-memphis", {"power_kw": 45000})
    with store.read() as s:
        rec = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert rec is not None
        assert '"power_kw":40000' in rec.before and '"power_kw":45000' in rec.after


def test_a_pool_at_an_unknown_site_names_the_field_and_the_valid_sites(store: Store) -> None:
    body = {"name": "p", "site": "mars", "gpu_type": "H100-SXM", "nodes": 1, "owner": "xai"}
    e = refused(store, InputError, "site: no site named 'mars'", ops.create, "pool", body)
    assert isinstance(e, InputError)
    assert "tesla-gigatexas, xai-memphis" in e.problems[0].expected


def test_an_unknown_field_and_a_wrong_type_are_named(store: Store) -> None:
    e = refused(store, InputError, "problem", ops.update, "site", "xai-memphis", {"colour": 1})
    assert isinstance(e, InputError) and e.problems[0].field == "colour"
    e = refused(store, InputError, "problem", ops.update, "pool", "tesla-h100-12k", {"nodes": "x"})
    assert isinstance(e, InputError) and e.problems[0].field == "nodes"


def test_a_change_that_breaks_the_plan_fails_with_the_loaders_problem(store: Store) -> None:
    # an unknown GPU type passes the body's shape but not the plan's cross-checks
    e = refused(
        store,
        InputError,
        "without a valid plan",
        ops.update,
        "pool",
        "tesla-h100-12k",
        {"gpu_type": "Z9000"},
    )
    assert isinstance(e, InputError) and any("Z9000" in p.message for p in e.problems)


def test_duplicates_and_deleting_what_is_in_use_are_conflicts(store: Store) -> None:
    e = refused(
        store,
        ConflictError,
        "already exists",
        ops.create,
        "site",
        {"name": "xai-memphis", "power_kw": 1},
    )
    assert isinstance(e, ConflictError) and e.code == "exists"
    e = refused(store, ConflictError, "used by 2 pools", ops.delete, "site", "tesla-gigatexas")
    assert isinstance(e, ConflictError) and e.code == "in-use"
    refused(store, NotFoundError, "no pool 'nope'", ops.delete, "pool", "nope")


def test_a_dated_quota_becomes_a_quota_change_on_the_plans_timeline(store: Store) -> None:
    with store.write("alice") as tx:
        q = ops.create(
            tx,
            "quota",
            {
                "program": "grok-pretraining",
                "gpu_type": "H100-SXM",
                "effective": "2024-08-01",
                "nominal": 15000,
            },
        )
    with store.read() as s:
        doc = plan_doc(s)
        assert ops.body_of(s, "quota", q)["effective"] == "2024-08-01"
    changes = [i["quota"] for i in doc.get("timeline", []) if "quota" in i]
    assert [(c["program"], c["nominal"], str(c["at"])) for c in changes] == [
        ("grok-pretraining", 15000, "2024-08-01")
    ]
    refused(
        store,
        ConflictError,
        "already has a H100-SXM quota from 2024-08-01",
        ops.create,
        "quota",
        {
            "program": "grok-pretraining",
            "gpu_type": "H100-SXM",
            "effective": "2024-08-01",
            "nominal": 1,
        },
    )


def test_deleting_an_unused_pool_removes_it_from_the_plan(store: Store) -> None:
    with store.write("alice") as tx:
        ops.delete(tx, "pool", "xai-h100-existing")
    with store.read() as s:
        assert s.scalar(select(Pool).where(Pool.name == "xai-h100-existing")) is None
        assert audit.verify(s).ok


def test_the_plan_body_accepts_every_header_key_of_a_scenario_file() -> None:
    # the plan header is the scenario file less the lists the register keeps in tables:
    # a key added to the scenario schema must be editable through PUT /plan too
    from gpufleet.governance.register.bodies import PlanBody
    from gpufleet.governance.register.plan import HEADER_KEYS

    assert set(PlanBody.model_fields) == set(HEADER_KEYS)

"""The audit log: every write appends a hash-chained record; any edit, removal, reordering
or truncation is detected and the first bad record named, in the store and in exports."""

from __future__ import annotations

import itertools
import json

import pytest

from gpufleet.cli.main import main
from gpufleet.governance.store import audit
from gpufleet.governance.store.db import Store
from tests.support.audit import as_owner


@pytest.fixture
def chained(store: Store) -> Store:
    """A store (each backend) holding a five-record chain: records 1..5, objects o1..o5."""
    for i in range(1, 6):
        with store.write(f"person{i}") as tx:
            tx.audit("update", "site", f"o{i}", {"power_kw": i}, {"power_kw": i + 1, "note": "é"})
    return store


def test_the_migrations_build_exactly_the_models_tables(store: Store) -> None:
    # Alembic's autogenerate comparison finds nothing to change after "upgrade head"
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from gpufleet.governance.store.migrate import current, head
    from gpufleet.governance.store.models import Base

    with store.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
    assert current(store.engine) == head()


def verdict(store: Store) -> audit.ChainCheck:
    with store.read() as s:
        return audit.verify(s)


def sql(store: Store, statement: str) -> None:
    # audit_log refuses UPDATE and DELETE by trigger: tamper as an owner, who may drop it
    as_owner(store, statement)


def test_an_untouched_chain_verifies_and_links_each_record_to_the_last(chained: Store) -> None:
    v = verdict(chained)
    assert (v.ok, v.records) == (True, 5)
    with chained.read() as s:
        recs = list(audit.iter_records(s))
    assert recs[0]["prev_hash"] == audit.GENESIS
    for a, b in itertools.pairwise(recs):
        assert b["prev_hash"] == a["hash"]
    # the hash is SHA-256 of the canonical JSON of the other fields
    assert recs[2]["hash"] == audit.record_hash(recs[2])
    assert json.loads(recs[0]["after"]) == {"power_kw": 2, "note": "é"}


def test_an_edited_record_is_named(chained: Store) -> None:
    sql(chained, "UPDATE audit_log SET after = '{\"power_kw\":999}' WHERE seq = 3")
    v = verdict(chained)
    assert (v.ok, v.first_bad_seq) == (False, 3)
    assert "edited" in v.problem


def test_an_edited_actor_is_named_even_when_its_hash_is_recomputed(chained: Store) -> None:
    # rewriting the hash as well breaks the next record's link instead
    with chained.read() as s:
        rec = next(r for r in audit.iter_records(s) if r["seq"] == 2)
    rec["actor"] = "someone else"
    new_hash = audit.record_hash(rec)
    sql(chained, f"UPDATE audit_log SET actor = 'someone else', hash = '{new_hash}' WHERE seq = 2")
    v = verdict(chained)
    assert (v.ok, v.first_bad_seq) == (False, 3)
    assert "prev_hash" in v.problem


def test_a_removed_record_is_named(chained: Store) -> None:
    sql(chained, "DELETE FROM audit_log WHERE seq = 2")
    v = verdict(chained)
    assert (v.ok, v.first_bad_seq) == (False, 2)
    assert "missing" in v.problem


def test_reordered_records_are_named(chained: Store) -> None:
    # swap records 3 and 4 by renumbering them
    sql(chained, "UPDATE audit_log SET seq = -3 WHERE seq = 3")
    sql(chained, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
    sql(chained, "UPDATE audit_log SET seq = 4 WHERE seq = -3")
    v = verdict(chained)
    assert (v.ok, v.first_bad_seq) == (False, 3)


def test_a_truncated_tail_is_caught_by_the_head(chained: Store) -> None:
    sql(chained, "DELETE FROM audit_log WHERE seq >= 4")
    v = verdict(chained)
    assert (v.ok, v.first_bad_seq) == (False, 4)
    assert "head says the log ends at record 5" in v.problem


def test_a_failed_transaction_leaves_neither_data_nor_audit_record(chained: Store) -> None:
    with pytest.raises(RuntimeError), chained.write("someone") as tx:
        tx.audit("create", "site", "x", None, {"name": "x"})
        raise RuntimeError("boom")
    v = verdict(chained)
    assert (v.ok, v.records) == (True, 5)


def test_exports_verify_offline_and_tampering_with_them_is_named(chained: Store) -> None:
    with chained.read() as s:
        recs = list(audit.iter_records(s))
    as_json, as_csv = audit.export_json(recs), audit.export_csv(recs)
    assert audit.verify_export(as_json, "json").ok
    assert audit.verify_export(as_csv, "csv").ok
    rows = json.loads(as_json)
    rows[1]["after"]["power_kw"] = 0
    bad = audit.verify_export(json.dumps(rows), "json")
    assert (bad.ok, bad.first_bad_seq) == (False, 2)
    lines = as_csv.splitlines()
    del lines[4]  # the header, then records 1, 2, 3: drop record 4
    bad = audit.verify_export("\n".join(lines) + "\n", "csv")
    assert (bad.ok, bad.first_bad_seq) == (False, 4)


def test_the_cli_verifies_exports_and_exits_4_naming_the_record(
    chained: Store, tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    url = chained.url
    out = f"{tmp_path}/log.json"
    assert main(["audit", "export", "--db", url, "--format", "json", "-o", out]) == 0
    # the fixture's records are synthetic (no rows behind them): check the chain alone
    assert main(["audit", "verify", "--db", url, "--no-rows"]) == 0
    assert "intact: 5 records" in capsys.readouterr().out
    assert main(["audit", "verify", "--file", out]) == 0
    missing = f"{tmp_path}/no/such/folder/log.csv"
    assert main(["audit", "export", "--db", url, "--format", "csv", "-o", missing]) == 2
    assert "--out" in capsys.readouterr().err
    sql(chained, "UPDATE audit_log SET action = 'delete' WHERE seq = 4")
    assert main(["audit", "verify", "--db", url, "--no-rows"]) == 4
    assert "broken at record 4" in capsys.readouterr().err

"""Replaying the audit log against the rows: a data row changed, inserted or deleted
behind the log's back is named (table, id, field, the log's value and the row's), though
the chain itself is intact. On both backends, over a register whose every row was written
through the audited code paths (:func:`tests.support.audit.audited_register`: 25 records).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, select

from gpufleet.cli.main import main
from gpufleet.governance.register import ops
from gpufleet.governance.store import audit_check, replay
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import Base, Pool, Run, Token, TransferRow, TransferStep
from tests.support.audit import audited_register, flip

pytestmark = pytest.mark.security


@pytest.fixture
def reg(store: Store) -> dict[str, int]:
    return audited_register(store)


def check(store: Store) -> audit_check.Report:
    with store.read() as s:
        return audit_check.verify_store(s)


def problems(store: Store) -> list[str]:
    r = check(store)
    assert r.chain.ok  # every case below leaves the chain itself intact
    assert r.rows is not None
    return [d.render() for d in r.rows.diffs]


def test_a_register_written_through_the_app_agrees_with_its_log(
    store: Store, reg: dict[str, int]
) -> None:
    r = check(store)
    assert r.ok and r.rows is not None
    # 12 seeded (plan, 2 sites, 2 entities, 2 programs, 2 quotas, 3 pools) + group + 2
    # people + 3 roles + token + transfer + approval + run = 22 rows, + 2 transfer steps
    assert r.rows.rows == 24


def test_a_transfer_flipped_to_approved_is_named(
    store: Store, reg: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    flip(store, TransferRow, reg["transfer"], state="approved")
    tid = reg["transfer"]
    assert problems(store) == [
        f'transfers row {tid} (\'t-1\'): state is "approved", the log says "rejected" '
        "(as of record 22, reject)"
    ]
    assert main(["audit", "verify", "--db", store.url]) == 4
    err = capsys.readouterr().err
    assert "audit log intact" in err and f"transfers row {tid} ('t-1'): state" in err
    assert main(["audit", "verify", "--db", store.url, "--no-rows"]) == 0  # the chain: fine


def test_an_inserted_token_row_is_named(store: Store, reg: dict[str, int]) -> None:
    row = {
        "token_hash": "f" * 64,
        "name": "backdoor",
        "role": "fleet-admin",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    with store.engine.begin() as c:
        c.execute(insert(Token).values(**row))
    with store.read() as s:
        new_id = s.scalar(select(Token.id).where(Token.name == "backdoor"))
    assert problems(store) == [
        f"tokens row {new_id} ('backdoor'): no audit record (inserted outside the log)"
    ]


def test_a_deleted_pool_row_is_named(store: Store, reg: dict[str, int]) -> None:
    with store.read() as s:
        pool = s.scalars(select(Pool).where(Pool.name != "tesla-h100-12k")).first()
        assert pool is not None
        pid, name = pool.id, pool.name
    with store.engine.begin() as c:
        c.execute(delete(Pool).where(Pool.id == pid))
    [problem] = problems(store)
    assert problem.startswith(f"pools row {pid} ('{name}'): the log (record ")
    assert problem.endswith(", create) says it exists; it is gone (deleted outside the log)")


def test_a_row_deleted_through_the_app_and_put_back_by_hand_is_named(
    store: Store, reg: dict[str, int]
) -> None:
    with store.write("test:admin") as tx:
        sid = ops.create(tx, "site", {"name": "gone-soon", "power_kw": 10}).id
    with store.write("test:admin") as tx:
        ops.delete(tx, "site", "gone-soon")
    assert check(store).ok  # created and deleted through the app: nothing to report
    with store.engine.begin() as c:
        c.exec_driver_sql(
            f"INSERT INTO sites (id, name, description, power_kw, pue, "
            f"electricity_usd_per_kwh, ready) VALUES ({sid}, 'gone-soon', '', 10, 1.3, 0.08, '[]')"
        )
    [problem] = problems(store)
    assert problem.startswith(f"sites row {sid} ('gone-soon'): the log deleted it at record ")


def test_a_change_laundered_by_a_later_audited_update_is_named(
    store: Store, reg: dict[str, int]
) -> None:
    # the pool's size is changed by hand, then someone edits its note through the app:
    # the row now agrees with the log's last record, whose before betrays the change
    with store.read() as s:
        pid = s.scalars(select(Pool.id).where(Pool.name == "tesla-h100-12k")).one()
    flip(store, Pool, pid, nodes=1)
    with store.write("test:admin") as tx:
        ops.update(tx, "pool", "tesla-h100-12k", {"note": "checked"})
    [problem] = problems(store)
    assert problem.startswith(f"pools row {pid} ('tesla-h100-12k'): changed outside the log ")
    assert "before is not what record" in problem and "nodes " in problem and "-> 1" in problem


def test_an_edited_run_result_no_longer_matches_its_digest(
    store: Store, reg: dict[str, int]
) -> None:
    flip(store, Run, reg["run"], result={"comparison": {"gpu_hours": 99.0}})
    [problem] = problems(store)
    assert problem.startswith(f'runs row {reg["run"]}: result is {{"sha256"')
    assert "the log says" in problem and "(as of record 25, finish)" in problem


def test_a_token_used_is_not_a_difference(store: Store, reg: dict[str, int]) -> None:
    # last_used_at changes on every request without an audit record: left out, by design
    flip(store, Token, reg["token"], last_used_at=datetime(2026, 12, 6, tzinfo=UTC))
    assert check(store).ok
    flip(store, Token, reg["token"], role="fleet-admin")  # but any other field is named
    [problem] = problems(store)
    assert problem.startswith(f"tokens row {reg['token']} ('ro'): role is \"fleet-admin\"")


def test_a_forged_or_removed_transfer_step_is_named(store: Store, reg: dict[str, int]) -> None:
    tid = reg["transfer"]
    with store.engine.begin() as c:
        c.execute(
            insert(TransferStep).values(
                transfer_id=tid, from_state="rejected", to_state="approved", actor="cli:admin",
                at=datetime(2026, 1, 1, tzinfo=UTC), note="approved after all",
            )
        )  # fmt: skip
    [problem] = problems(store)
    assert "transfer_steps row" in problem
    assert f"step of transfer {tid} (rejected -> approved) has no transfer record" in problem
    with store.engine.begin() as c:
        c.execute(delete(TransferStep))
    found = problems(store)
    assert len(found) == 2  # the request's step and the rejection's
    assert found[0].startswith(f"transfer_steps: transfer {tid}'s record 20 (None -> requested)")


def test_the_article_fixture_s_direct_state_edits_are_exactly_what_is_named(
    store: Store,
) -> None:
    # tests/api_support.article_register requests four transfers through governance, then
    # puts three of them in their state with SQL (a fixture shortcut): those three, no more
    from tests.support.api import article_register

    ids = article_register(store).ids
    found = problems(store)
    assert len(found) == 3
    for name, state in (("t-approved", "approved"), ("t-active", "active")):
        assert any(
            p.startswith(f"transfers row {ids[name]} ('{name}'): state is \"{state}\"")
            for p in found
        )


def test_every_table_is_replayed_or_left_out_for_a_stated_reason() -> None:
    replayed = {m.__tablename__ for m in replay.AUDITED.values()}
    tables = set(Base.metadata.tables)
    assert replayed | set(replay.NOT_REPLAYED) == tables, "a new table: replay it or say why not"
    assert not replayed & set(replay.NOT_REPLAYED)


def test_the_replay_digest_is_the_one_a_finished_run_s_record_holds() -> None:
    from gpufleet.governance.runs.queue import result_digest

    result = {"comparison": {"gpu_hours": 12.5, "arms": ["base", "é"]}}
    assert replay.result_digest(result) == result_digest(result)


def test_the_api_names_the_rows_that_differ(store: Store, reg: dict[str, int]) -> None:
    from tests.support.api import API, admin_token, bearer, client, ok

    headers = bearer(admin_token(store))
    c = client(store)
    assert ok(c.get(f"{API}/audit/verify", headers=headers))["ok"] is True
    flip(store, TransferRow, reg["transfer"], state="approved")
    body = ok(c.get(f"{API}/audit/verify", headers=headers))
    assert (body["ok"], body["chain"]["ok"], body["rows"]["ok"]) == (False, True, False)
    [diff] = body["rows"]["differences"]
    assert (diff["table"], diff["id"]) == ("transfers", reg["transfer"])
    assert ok(c.get(f"{API}/audit/verify?rows=false", headers=headers))["ok"] is True

"""``gpufleet meter`` and ``gpufleet statement`` on a real register (SQLite and
PostgreSQL): the enact story's lease of tesla's memphis node to xai, a saved sacct answer,
DCGM busy samples in the store; metering twice gives the same rows and one audit record,
a statement re-issued with the same figures is the same version, with other figures a new
version that says what changed; bad input is exit 2 naming the flag, line or field, and
changes nothing stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gpufleet.cli.main import main
from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import seed_from_scenario
from gpufleet.governance.store.audit import verify
from gpufleet.governance.store.db import Store
from gpufleet.governance.store.models import AuditRecord, MeterRow, StatementRow
from gpufleet.live.series import Sample, UsagePoint
from gpufleet.live.store import write_sample
from tests.live.enact.lease import lend
from tests.live.metering.builders import row, sacct
from tests.support.stores import SeededStore

ROOT = Path(__file__).parents[3]
CONFIG = ROOT / "tests/live/register/live.yaml"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
SINCE, UNTIL = TODAY - timedelta(days=1), TODAY + timedelta(days=30)  # the lease's window
T0 = int(SINCE.timestamp())


def leased_register(store: Store) -> None:
    """The enact story's register with its lease: seeded once per worker and backend
    (the lease runs a real assessment), copied for each test."""
    with store.write("cli:test") as tx:
        seed_from_scenario(tx, ROOT / "tests/live/enact/register.yaml")
        load_governance(tx, ROOT / "src/gpufleet/data/article-governance.yaml")
    lend(store, today=TODAY.date())  # 8 H100 of memphis-h100, tesla -> xai, SINCE -> UNTIL


@pytest.fixture
def register(seeded_store: SeededStore) -> Store:
    store: Store = seeded_store(leased_register)[0]
    return store


def _busy_sample(store: Store, at: datetime, busy: float) -> None:
    usage = UsagePoint("xai", "grok", "tesla", "memphis", "H100-SXM", busy, busy, 0.0, 0.0)
    sample = Sample(at, "raw", 3600.0, 1, 10.0, (), (usage,), (), (), (), (), ())
    with store.write("test") as tx:
        write_sample(tx.session, sample)


def _meter(store: Store, sacct_file: Path, *extra: str) -> int:
    return main([
        "meter", "--config", str(CONFIG), "--cluster", "gfdev", "--sacct-file", str(sacct_file),
        "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--db", store.url, *extra,
    ])  # fmt: skip


def _statement(store: Store, out: Path, *extra: str) -> int:
    return main([
        "statement", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
        "--from", "tesla", "--to", "xai", "--db", store.url, "-o", str(out), *extra,
    ])  # fmt: skip


def _count(store: Store, *where: object) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditRecord).where(*where)) or 0)


def test_metering_twice_is_the_same_rows_and_the_statement_bills_them(
    register: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "sacct.txt"
    # xai: 4 GPUs x 2 h on tesla's gf-h100-1 = 8 GPU-h; 2 x 1 h on its own gf-h100-2 = 2
    jobs.write_text("\n".join(sacct(
        row("10", "xai", T0 + 3600, T0 + 3 * 3600, "gres/gpu:h100=4,gres/gpu=4", "gf-h100-1"),
        row("11", "xai", T0, T0 + 3600, "gres/gpu=2", "gf-h100-2"),
    )) + "\n")  # fmt: skip
    # DCGM saw 3 of xai's GPUs busy on tesla's node for two one-hour samples: 6 busy GPU-h
    for hour in (1, 2):
        _busy_sample(register, SINCE + timedelta(hours=hour), 3.0)
    assert _meter(register, jobs, "--json") == 0
    first = json.loads(capsys.readouterr().out)
    with register.read() as s:
        rows = [(r.source, r.entity, r.owner, r.pool, r.gpu_seconds, r.jobs)
                for r in s.scalars(select(MeterRow).order_by(MeterRow.id))]  # fmt: skip
    assert sorted(rows) == [
        ("dcgm", "xai", "tesla", "", 21_600.0, 2),  # 3 GPUs x 3,600 s x 2 samples
        ("sacct", "xai", "tesla", "memphis-h100", 28_800.0, 1),  # 4 x 7,200
        ("sacct", "xai", "xai", "colossus-h100", 7_200.0, 1),  # 2 x 3,600
    ]
    assert first["changed"] == {"sacct": True, "dcgm": True}
    audited = _count(register, AuditRecord.object_type == "meter-period")
    assert audited == 2
    # again: the same rows, nothing new in the chain
    assert _meter(register, jobs, "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rows"] == first["rows"] and again["changed"] == {"sacct": False, "dcgm": False}
    assert _count(register, AuditRecord.object_type == "meter-period") == audited

    out = tmp_path / "statement.json"
    assert _statement(register, out, "--format", "json") == 0
    doc = json.loads(out.read_text())
    (line,) = doc["lines"]
    assert (line["pool"], line["gpu_hours"], line["busy_gpu_hours"]) == ("memphis-h100", 8.0, 6.0)
    # the lease: $1,500,000 for 8 GPUs x 31 days x 24 h = 5,952 GPU-h; 8 x 1.5e6 / 5,952
    assert line["agreed_usd"] == round(8 * 1_500_000 / 5_952, 2) == 2016.13
    # flat cost $2.00/GPU-h, the assessment's markup 0: 8 x $2.00 = $16, stranded the same
    assert (line["cost_plus_usd"], line["stranded_cost_avoided_usd"]) == (16.0, 16.0)
    assert line["market_usd"] is None  # no market rate given anywhere
    assert doc["plan_versus_actual"]["planned_gpu_hours"] == 5952.0
    assert doc["version"] == 1
    assert _count(register, AuditRecord.object_type == "statement") == 1
    # the same figures again: the same version and hash, nothing written
    assert _statement(register, tmp_path / "again.json", "--format", "json") == 0
    assert json.loads((tmp_path / "again.json").read_text())["sha256"] == doc["sha256"]
    assert _count(register, AuditRecord.object_type == "statement") == 1

    # a late job in the accounting: metering finds it, the re-issue is version 2 saying so
    with jobs.open("a") as f:
        f.write(row("12", "xai", T0, T0 + 1800, "gres/gpu=8", "gf-h100-1") + "\n")  # 4 GPU-h
    assert _meter(register, jobs) == 0
    assert _statement(register, tmp_path / "v2.csv", "--format", "csv") == 0
    assert "memphis-h100" in (tmp_path / "v2.csv").read_text()
    with register.read() as s:
        versions = [
            (r.version, json.loads(r.body)["totals"]["gpu_hours"])
            for r in s.scalars(select(StatementRow).order_by(StatementRow.version))
        ]
        record = s.scalars(select(AuditRecord).where(AuditRecord.object_type == "statement")
                           .order_by(AuditRecord.seq.desc())).first()  # fmt: skip
        assert verify(s).ok
    assert versions == [(1, 8.0), (2, 12.0)]
    assert record is not None
    changed = json.loads(json.loads(record.after)["changes"])
    assert changed["totals"]["before"]["gpu_hours"] == 8.0
    assert changed["totals"]["after"]["gpu_hours"] == 12.0
    assert main(["audit", "verify", "--db", register.url]) == 0
    assert "rows agree" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--from", "nobody"], "--from 'nobody': no such entity"),
        (["--to", "tesla"], "--from and --to: the same entity"),
        (["--market-rate", "-1"], "--market-rate -1"),
    ],
)
def test_a_bad_statement_request_is_exit_2_naming_the_flag(
    register: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
    says: str,
) -> None:  # fmt: skip
    base = ["statement", "--period", "2026-12", "--from", "tesla", "--to", "xai"]
    assert main([*base, "--db", register.url, *argv]) == 2
    assert says in capsys.readouterr().err


def test_bad_input_to_meter_is_exit_2_and_leaves_the_stored_rows_as_they_were(
    register: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("\n".join(sacct(row("1", "xai", T0, T0 + 3600, "gres/gpu=4", "gf-h100-1"))))
    assert _meter(register, good) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(sacct(
        row("1", "xai", T0, T0 + 3600, "gres/gpu=4", "gf-h100-1"),
        row("2", "xai", T0, T0 - 5, "gres/gpu=4", "gf-h100-1"),
    )))  # fmt: skip
    capsys.readouterr()
    assert _meter(register, bad) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: End: '{T0 - 5}' is before Start (expected End at or after Start)" in err
    with register.read() as s:
        assert [r.gpu_seconds for r in s.scalars(select(MeterRow))] == [14_400.0]
    for argv, says in (
        (["--period", "2026-13"], "--period '2026-13'"),
        (["--since", "2026-12-02", "--until", "2026-12-01"], "--until"),
    ):
        assert main(["meter", "--config", str(CONFIG), "--cluster", "c", "--sacct-file",
                     str(good), "--db", register.url, *argv]) == 2  # fmt: skip
        assert says in capsys.readouterr().err
    assert main(["statement", "--period", "2020-01", "--from", "tesla", "--to", "xai",
                 "--db", register.url]) == 2  # fmt: skip
    assert "nothing metered" in capsys.readouterr().err


def test_without_from_and_to_every_related_pair_gets_its_statement_in_the_folder(
    register: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "sacct.txt"
    # xai on tesla's node (and the lease), tesla on xai's node, xai on its own (no pair)
    jobs.write_text("\n".join(sacct(
        row("1", "xai", T0, T0 + 3600, "gres/gpu=4", "gf-h100-1"),
        row("2", "tesla", T0, T0 + 1800, "gres/gpu=2", "gf-h100-2"),
        row("3", "xai", T0, T0 + 3600, "gres/gpu=1", "gf-h100-2"),
    )))  # fmt: skip
    assert _meter(register, jobs) == 0
    folder = tmp_path / "statements"
    folder.mkdir()
    window = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    argv = ["statement", *window, "--format", "json", "--db", register.url]
    assert main([*argv, "-o", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["tesla-xai.json", "xai-tesla.json"]
    back = json.loads((folder / "xai-tesla.json").read_text())
    # tesla used 2 GPUs x 0.5 h of xai's colossus node with no transfer: 1 GPU-h, unpriced
    (line,) = back["lines"]
    assert (line["pool"], line["gpu_hours"], line["agreed_usd"]) == ("colossus-h100", 1.0, None)
    assert back["notes"] == ["tesla used colossus-h100 with no transfer in the period: no "
                             "agreed price"]  # fmt: skip
    assert json.loads((folder / "tesla-xai.json").read_text())["lines"][0]["gpu_hours"] == 4.0
    issued = _count(register, AuditRecord.object_type == "statement")
    assert issued == 2
    capsys.readouterr()
    for extra, says in (
        (["--from", "tesla"], "--to: missing"),
        (["-o", str(jobs)], "every pair needs an existing folder"),
        (["--from", "tesla", "--to", "xai", "-o", str(tmp_path / "no/such/dir/x.json")],
         "cannot be written"),
    ):  # fmt: skip
        assert main([*argv, *extra]) == 2
        assert says in capsys.readouterr().err
    assert _count(register, AuditRecord.object_type == "statement") == issued

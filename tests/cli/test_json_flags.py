"""``--json`` on every command that prints data: trace list/convert, db upgrade/seed,
admin create-token/revoke-token, audit verify/keygen/checkpoint. Each prints one JSON
document on stdout and the same exit code as its text form; a walk of the parser keeps
every new command to the rule (or on the list of commands whose output is a file format
of its own)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from gpufleet.api import article_scenario_path
from gpufleet.cli.main import _subparsers, main, parser
from gpufleet.governance.store.migrate import head
from gpufleet.inputs.traces.registry import known_traces
from tests.support.servers import ROOT

Capture = pytest.CaptureFixture[str]
JOBS = ROOT / "examples" / "imports" / "jobs.csv"
JOBS_MAP = "submit=created_at,duration=runtime_s,gpus=num_gpus"

# commands that print no data of their own kind, or data in a file format of its own
NO_JSON = {
    "gpufleet serve": "runs the service",
    "gpufleet export": "prints the scheduler's own configuration format",
    "gpufleet db plan": "prints a scenario file (YAML)",
    "gpufleet audit export": "--format json already",
    "gpufleet statement": "--format json already",
    "gpufleet completion": "prints a shell script",
}


def _json(capsys: Capture) -> object:
    return json.loads(capsys.readouterr().out)


def test_every_command_that_prints_data_has_json() -> None:
    missing = set()
    for p in _subparsers(parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in p._actions):
            continue  # a group: its commands are walked
        if not any("--json" in a.option_strings for a in p._actions):
            missing.add(p.prog)
    assert missing <= set(NO_JSON), missing - set(NO_JSON)


# --- trace --------------------------------------------------------------------------------
def test_trace_list_json_names_every_source_and_whether_its_folder_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    specs = known_traces()
    (tmp_path / specs[0].folder).mkdir()  # one trace's folder present, the rest absent
    monkeypatch.setenv("GPUFLEET_TRACES", str(tmp_path))
    assert main(["trace", "list", "--json"]) == 0
    d = _json(capsys)
    assert isinstance(d, dict)
    assert d["traces_folder"] == str(tmp_path)
    assert d["searched"][0] == {"origin": "$GPUFLEET_TRACES", "folder": str(tmp_path)}
    assert [t["name"] for t in d["traces"]] == [s.name for s in specs]
    found = {t["folder"] for t in d["traces"] if t["found"]}
    assert found == {specs[0].folder}


def test_trace_convert_json_counts_the_jobs_and_gpu_hours_it_wrote(
    tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "jobs.parquet"
    argv = ["trace", "convert", str(JOBS), str(out), "--map", JOBS_MAP, "--json"]
    assert main(argv) == 0
    d = _json(capsys)
    with JOBS.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # 5 rows; GPU-hours = sum runtime_s x num_gpus / 3600
    # = (7200 x 4 + 86400 x 64 + 2700 x 1 + 1200 x 0.5 + 86400 x 128) / 3600
    # = 16,620,900 / 3600 = 4616.9167
    assert len(rows) == 5
    assert d == {
        "out": str(out),
        "jobs": 5,
        "gpu_hours": 4616.9167,
        "notes": ["time format taken as iso from the first row's submit '2024-05-01T08:00:00Z'"],
    }
    assert out.is_file()


# --- db -------------------------------------------------------------------------------------
def test_db_upgrade_and_seed_json_say_the_revision_and_what_was_seeded(
    tmp_path: Path, capsys: Capture
) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    assert main(["db", "upgrade", "--db", db, "--json"]) == 0
    assert _json(capsys) == {"url": db, "revision": head()}
    assert main(["db", "seed", "--db", db, "--json"]) == 0
    assert _json(capsys) == {"plan_from": str(article_scenario_path()), "governance": None}
    assert main(["db", "seed", "--db", db, "--json"]) == 0  # a plan is there: nothing to do
    assert _json(capsys) == {"plan_from": None, "governance": None}


# --- admin ----------------------------------------------------------------------------------
def test_create_token_json_holds_the_secret_and_revoke_token_json_the_new_state(
    tmp_path: Path, capsys: Capture
) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    assert main(["db", "seed", "--db", db]) == 0  # the article's entities, tesla among them
    capsys.readouterr()
    argv = ["admin", "create-token", "--role", "viewer", "--entity", "tesla", "--db", db]
    assert main([*argv, "--name", "ci", "--json"]) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert {k: d[k] for k in ("id", "name", "role", "entity", "person", "expires_at")} == {
        "id": 1,
        "name": "ci",
        "role": "viewer",
        "entity": "tesla",
        "person": None,
        "expires_at": None,
    }
    assert isinstance(d["secret"], str) and len(d["secret"]) >= 32
    assert "the secret is shown only now" in err  # the note stays on stderr
    assert main(["admin", "revoke-token", "1", "--db", db, "--json"]) == 0
    assert _json(capsys) == {"id": 1, "state": "revoked"}
    assert main(["admin", "list-tokens", "--db", db, "--json"]) == 0
    [token] = _json(capsys)  # type: ignore[misc]
    assert token["state"] == "revoked"


def test_create_token_json_with_quiet_leaves_stderr_empty(tmp_path: Path, capsys: Capture) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    assert main(["-q", "admin", "create-token", "--role", "fleet-admin", "--db", db, "--json"]) == 0
    out, err = capsys.readouterr()
    assert (json.loads(out)["role"], err) == ("fleet-admin", "")


# --- audit ----------------------------------------------------------------------------------
def test_audit_verify_json_is_the_api_s_report_and_exit_4_when_an_export_is_edited(
    tmp_path: Path, capsys: Capture
) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    assert main(["db", "seed", "--db", db]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--db", db, "--json"]) == 0
    d = _json(capsys)
    assert isinstance(d, dict)
    assert (d["ok"], d["first_bad_seq"], d["chain"]["ok"], d["rows"]["ok"]) == (
        True,
        None,
        True,
        True,
    )
    records = d["records"]
    assert records > 0
    export = tmp_path / "log.json"
    assert main(["audit", "export", "--db", db, "-o", str(export)]) == 0
    recs = json.loads(export.read_text(encoding="utf-8"))
    recs[2]["actor"] = "cli:mallory"  # record 3 edited, its hash left as it was
    export.write_text(json.dumps(recs), encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", "verify", "--file", str(export), "--json"]) == 4
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert (d["ok"], d["first_bad_seq"], d["records"] <= records, err) == (False, 3, True, "")


def test_audit_keygen_and_checkpoint_json_name_the_files_and_the_signed_record(
    tmp_path: Path, capsys: Capture
) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    key, anchors = tmp_path / "k", tmp_path / "anchors.jsonl"
    assert main(["db", "seed", "--db", db]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--db", db, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert main(["audit", "keygen", "--out", str(key), "--json"]) == 0
    kg = _json(capsys)
    assert isinstance(kg, dict)
    assert (kg["signing_key"], kg["public_key"]) == (str(key), f"{key}.pub")
    argv = ["audit", "checkpoint", "--signing-key", str(key), "--anchor-file", str(anchors)]
    assert main([*argv, "--db", db, "--json"]) == 0
    cp = _json(capsys)
    assert isinstance(cp, dict)
    assert (cp["ok"], cp["written"], cp["number"], cp["seq"]) == (True, True, 1, records)
    assert main([*argv, "--db", db, "--json"]) == 0  # a second checkpoint is appended
    again = _json(capsys)
    assert isinstance(again, dict)
    assert (again["ok"], again["written"], again["number"]) == (True, True, 2)
    assert again["seq"] >= cp["seq"] and again["anchor_file"] == str(anchors)

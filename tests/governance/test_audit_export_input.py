"""``audit verify --file`` on a file that is not a well-formed export: exit 2 and a message
naming the file, the line, the record and the field, never exit 1 and never "intact"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpufleet.cli.main import main
from gpufleet.governance.store import audit

pytestmark = pytest.mark.security

REC = {
    "seq": 1,
    "at": "2026-12-06T00:00:00+00:00",
    "actor": "cli:admin",
    "action": "create",
    "object_type": "site",
    "object_id": "s",
    "before": None,
    "after": {"id": 1, "name": "s"},
    "prev_hash": audit.GENESIS,
}
REC["hash"] = audit.record_hash(
    {**REC, "before": audit.canonical(None), "after": audit.canonical(REC["after"])}
)
GOOD = json.dumps([REC], indent=2)


def _with(**changes: object) -> str:
    return json.dumps([{**REC, **changes}], indent=2)


def _without(field: str) -> str:
    return json.dumps([{k: v for k, v in REC.items() if k != field}], indent=2)


# name -> (file name, content, what the message must say after "<file>:")
CASES = {
    "not JSON": ("log.json", "[{", "1: record 1: not JSON: Expecting property name"),
    "an empty file": ("log.json", "", "1: the file is empty"),
    "an object, not a list": ("log.json", "{}", "1: found an object (expected a JSON list"),
    "an empty list": ("log.json", "[]", "1: an empty list: no records"),
    "a list of numbers": ("log.json", "[\n  1\n]", "2: record 1: found int (expected an object)"),
    "a record without its hash": ("log.json", _without("hash"), "2: record 1.hash: missing"),
    "a seq that is a string": (
        "log.json",
        _with(seq="1"),
        "2: record 1.seq: found '1' (expected a whole number >= 1)",
    ),
    "an actor that is a number": ("log.json", _with(actor=7), "2: record 1.actor: found int"),
    "a short hash": ("log.json", _with(hash="abc"), "2: record 1.hash: found 'abc'"),
    "an after that is a list": ("log.json", _with(after=[1]), "2: record 1.after: found a list"),
    "an unknown field": ("log.json", _with(extra=1), "2: record 1.extra: not a field"),
    "text after the list": ("log.json", GOOD + "\n[]", "17: text after the list"),
    "a CSV without a header": ("log.csv", "", "1: the file is empty"),
    "a CSV header missing a column": ("log.csv", "seq,at\n", "1: header: found 'seq,at'"),
    "a CSV header without rows": (
        "log.csv",
        ",".join(audit.FIELDS) + "\n",
        "1: a header without rows: no records",
    ),
    "a CSV row with a column missing": (
        "log.csv",
        ",".join(audit.FIELDS) + "\n1,2,3\n",
        "2: record 1: 3 columns (expected 10)",
    ),
    "a CSV before that is not JSON": (
        "log.csv",
        audit.export_csv([{**REC, "before": "{oops", "after": "null"}]),
        "2: record 1.before: not JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_export_is_bad_input_named_by_file_line_and_field(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, text, said = CASES[case]
    path = tmp_path / name
    path.write_text(text)
    assert main(["audit", "verify", "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{said}" in err, err
    assert "intact" not in err


def test_a_well_formed_export_of_one_record_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.json"
    path.write_text(GOOD)
    assert main(["audit", "verify", "--file", str(path)]) == 0
    assert "intact: 1 records" in capsys.readouterr().out


def test_a_file_that_is_not_text_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "log.json"
    path.write_bytes(b"\xff\xfe[")
    assert main(["audit", "verify", "--file", str(path)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err

"""Signed checkpoints anchor the audit chain outside the database: the rewrites the chain
alone cannot see (an edit with every later hash recomputed, a truncation with the head
moved back, an emptied log) are named by ``audit verify --public-key --anchor-file``; the
checkpoints themselves cannot be edited, reordered or forged without the key; a rewritten
log is never signed. On both backends.

The log: 25 sites created in one transaction (records 1-25, real rows behind them); then

    checkpoint 1 at record 25, one write (record 26), checkpoint 2 at 26,
    two writes (records 27, 28), checkpoint 3 at 28.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import DBAPIError

from gpufleet.cli.main import main
from gpufleet.governance.register import ops
from gpufleet.governance.store import anchor, audit, audit_check
from gpufleet.governance.store.db import Store
from tests.support.audit import (
    as_owner,
    keypair,
    records,
    rewrite_from,
    sign_now,
    truncate_to,
)

pytestmark = pytest.mark.security


class Anchored:
    def __init__(self, store: Store, tmp: Path) -> None:
        self.store = store
        self.key, self.pub = keypair(tmp)
        self.file = tmp / "anchors.jsonl"
        with store.write("test:admin") as tx:
            for i in range(1, 26):
                ops.create(tx, "site", {"name": f"s-{i}", "power_kw": 100})
        assert sign_now(store, self.key, self.file) == 25
        self.site("n-26")
        assert sign_now(store, self.key, self.file) == 26
        self.site("n-27")
        self.site("n-28")
        assert sign_now(store, self.key, self.file) == 28

    def site(self, name: str) -> None:
        with self.store.write("test:admin") as tx:
            ops.create(tx, "site", {"name": name, "power_kw": 100})

    def anchors(self) -> audit_check.Anchors:
        return audit_check.Anchors(self.file, anchor.load_public_key(self.pub))

    def report(self, anchored: bool = True) -> audit_check.Report:
        with self.store.read() as s:
            return audit_check.verify_store(s, self.anchors() if anchored else None, rows=False)

    def cli(self, *extra: str) -> int:
        flags = ["--public-key", str(self.pub), "--anchor-file", str(self.file)]
        return main(["audit", "verify", "--db", self.store.url, *flags, *extra])


@pytest.fixture
def log(store: Store, tmp_path: Path) -> Anchored:
    return Anchored(store, tmp_path)


def test_an_untouched_log_agrees_with_its_three_checkpoints(
    log: Anchored, capsys: pytest.CaptureFixture[str]
) -> None:
    r = log.report()
    assert r.ok and r.anchors is not None and r.anchors.checkpoints == 3
    lines = log.file.read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [25, 26, 28]
    assert log.cli() == 0
    out = capsys.readouterr().out
    assert "intact: 28 records" in out and "3 checkpoint(s)" in out and "rows agree" in out


def test_an_edited_record_is_named_by_the_chain_and_the_anchors_still_hold(log: Anchored) -> None:
    as_owner(log.store, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 27")
    r = log.report()
    assert (r.ok, r.chain.first_bad_seq) == (False, 27)
    assert r.anchors is not None and r.anchors.ok  # record 28's stored hash is unchanged


def test_an_edit_with_every_later_hash_recomputed_is_named_by_the_anchors(
    log: Anchored, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite_from(log.store, 26, actor="someone else")
    plain = log.report(anchored=False)
    assert plain.ok  # the chain alone: intact, since every hash and the head were redone
    r = log.report()
    assert r.anchors is not None and not r.ok
    # checkpoint 1 (record 25) still matches, checkpoint 2 (record 26) does not: record 26
    assert r.anchors.first_bad_seq == 26
    assert "record 26's hash is not the one checkpoint 2" in r.anchors.problem
    assert "signed at 20" in r.anchors.problem  # the checkpoint's time, e.g. 2026-12-06T...
    assert log.cli() == 4
    assert "anchors broken: record 26: record 26's hash" in capsys.readouterr().err


def test_a_recomputed_edit_between_checkpoints_is_bounded_by_them(log: Anchored) -> None:
    rewrite_from(log.store, 28, action="approve")
    r = log.report()
    assert r.anchors is not None and r.anchors.first_bad_seq == 27  # after checkpoint 2 (26)
    assert "one of records 27 to 28 was changed" in r.anchors.problem


def test_a_truncation_with_the_head_moved_back_is_named(log: Anchored) -> None:
    truncate_to(log.store, 26)
    assert log.report(anchored=False).ok  # chain and head agree: 26 records
    r = log.report()
    assert r.anchors is not None and r.anchors.first_bad_seq == 27
    assert "checkpoint 3" in r.anchors.problem
    assert "the log ends at record 26: records 27 to 28 were removed" in r.anchors.problem


def test_an_emptied_log_with_the_head_reset_to_genesis_is_named(log: Anchored) -> None:
    truncate_to(log.store, 0)
    plain = log.report(anchored=False)
    assert (plain.ok, plain.chain.records) == (True, 0)
    r = log.report()
    assert r.anchors is not None and r.anchors.first_bad_seq == 1
    assert "checkpoint 1" in r.anchors.problem and "(the log was emptied)" in r.anchors.problem


def test_a_truncated_log_rebuilt_past_the_checkpoint_is_named(log: Anchored) -> None:
    # remove 27-28, then append new records 27-29 through the app: a valid chain again
    truncate_to(log.store, 26)
    for name in ("x-27", "x-28", "x-29"):
        log.site(name)
    assert log.report(anchored=False).ok
    r = log.report()
    assert r.anchors is not None and r.anchors.first_bad_seq == 27
    assert "record 28's hash is not the one checkpoint 3" in r.anchors.problem


def _lines(log: Anchored) -> list[str]:
    return log.file.read_text().splitlines(keepends=True)


def test_an_edited_checkpoint_does_not_verify(log: Anchored) -> None:
    lines = _lines(log)
    cp = json.loads(lines[2])
    cp["seq"], cp["records"] = 26, 26  # pretend the log only had to reach record 26
    cp["hash"] = records(log.store)[25]["hash"]
    lines[2] = json.dumps(cp) + "\n"
    log.file.write_text("".join(lines))
    r = log.report()
    assert r.anchors is not None and not r.anchors.ok
    assert "checkpoint 3" in r.anchors.problem and "signature does not verify" in r.anchors.problem


def test_reordered_checkpoints_are_named(log: Anchored) -> None:
    lines = _lines(log)
    log.file.write_text(lines[2] + lines[0] + lines[1])
    r = log.report()
    assert r.anchors is not None and not r.anchors.ok
    assert "checkpoints never go back" in r.anchors.problem


def test_checkpoints_signed_with_another_key_do_not_verify(log: Anchored, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    _, other_pub = keypair(tmp_path / "other")
    r = audit_check.verify_store
    with log.store.read() as s:
        rep = r(s, audit_check.Anchors(log.file, anchor.load_public_key(other_pub)), rows=False)
    assert rep.anchors is not None and "checkpoint 1" in rep.anchors.problem
    assert "signature does not verify with key" in rep.anchors.problem


def test_a_rewritten_log_is_never_signed(log: Anchored, capsys: pytest.CaptureFixture[str]) -> None:
    before = log.file.read_bytes()
    truncate_to(log.store, 26)
    key = str(log.pub)[: -len(".pub")]
    args = ["audit", "checkpoint", "--db", log.store.url, "--signing-key", key]
    assert main([*args, "--anchor-file", str(log.file)]) == 4
    assert "no checkpoint written" in capsys.readouterr().err
    assert log.file.read_bytes() == before


def test_an_edit_after_the_newest_checkpoint_is_never_signed(log: Anchored) -> None:
    # the records since the newest checkpoint are verified before the head is signed
    before = log.file.read_bytes()
    log.site("n-29")
    as_owner(log.store, "UPDATE audit_log SET actor = 'x' WHERE seq = 29")
    done = audit_check.checkpoint(log.store, log.key, log.file)
    assert done.checkpoint is None and done.refused is not None
    assert "broken at record 29" in done.render(log.file)
    assert log.file.read_bytes() == before


def test_checkpoint_refuses_an_anchor_file_it_cannot_verify(
    log: Anchored, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    _, _ = keypair(tmp_path / "other")
    other_key = tmp_path / "other" / "audit.key"
    args = ["audit", "checkpoint", "--db", log.store.url, "--signing-key", str(other_key)]
    assert main([*args, "--anchor-file", str(log.file)]) == 2
    err = capsys.readouterr().err
    assert f"--anchor-file {log.file}: line 1 does not verify" in err
    log.file.write_text(log.file.read_text() + "not json\n")
    own = str(log.pub)[: -len(".pub")]
    args = ["audit", "checkpoint", "--db", log.store.url, "--signing-key", own]
    assert main([*args, "--anchor-file", str(log.file)]) == 2
    assert f"{log.file}:4: not JSON" in capsys.readouterr().err


def test_the_periodic_checkpointer_signs_only_when_the_head_moved(log: Anchored) -> None:
    from gpufleet.service.checkpoints import AnchorSettings, Checkpointer

    settings = AnchorSettings.from_args(str(log.file), str(log.pub)[:-4], None, 5.0)
    assert settings is not None
    signer = Checkpointer(log.store, settings)
    assert signer.once().checkpoint is None  # still at record 28
    log.site("n-29")
    done = signer.once()
    assert done.checkpoint is not None and (done.checkpoint.seq, done.number) == (29, 4)
    assert log.report().ok


def test_the_api_checks_the_anchors_the_server_was_given(log: Anchored) -> None:
    from gpufleet.service.checkpoints import AnchorSettings
    from tests.support.api import API, admin_token, bearer, client, ok

    settings = AnchorSettings.from_args(str(log.file), None, str(log.pub), None)
    headers = bearer(admin_token(log.store))  # record 29: after the newest checkpoint
    c = client(log.store)
    c.app.state.anchors = settings  # type: ignore[attr-defined]
    body = ok(c.get(f"{API}/audit/verify", headers=headers))
    assert body["ok"] and body["anchors"]["checkpoints"] == 3 and body["rows"]["ok"]
    rewrite_from(log.store, 26, actor="someone else")
    body = ok(c.get(f"{API}/audit/verify", headers=headers))
    assert (body["ok"], body["chain"]["ok"], body["first_bad_seq"]) == (False, True, 26)
    assert "checkpoint 2" in body["anchors"]["problem"]


def test_serve_refuses_anchor_flags_that_do_not_fit(log: Anchored, tmp_path: Path) -> None:
    from gpufleet.errors import InputError
    from gpufleet.service.checkpoints import AnchorSettings

    key = str(log.pub)[:-4]
    cases = [
        ((None, key, None, 5.0), "need --anchor-file"),
        ((str(log.file), None, str(log.pub), 5.0), "with --signing-key"),
        ((str(log.file), key, None, 0.0), "expected seconds >= 1"),
        ((str(log.file), None, None, None), "needs --public-key or --signing-key"),
        ((str(log.file), str(tmp_path / "none"), None, None), "no such file"),
        ((str(log.file), str(log.pub), None, None), "not an unencrypted PEM private key"),
    ]
    for args, message in cases:
        with pytest.raises(InputError, match=message):
            AnchorSettings.from_args(*args)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "k"
    assert main(["audit", "keygen", "--out", str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert isinstance(anchor.load_signing_key(out), Ed25519PrivateKey)
    anchor.load_public_key(tmp_path / "k.pub")
    assert main(["audit", "keygen", "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["audit", "keygen", "--out", str(tmp_path / "no" / "k")]) == 2


def test_verify_needs_both_anchor_flags_real_keys_and_a_checkpoint(
    log: Anchored, capsys: pytest.CaptureFixture[str]
) -> None:
    url = log.store.url
    assert main(["audit", "verify", "--db", url, "--public-key", str(log.pub)]) == 2
    assert "--public-key needs --anchor-file" in capsys.readouterr().err
    key = str(log.pub)[:-4]
    flags = ["--public-key", key, "--anchor-file", str(log.file)]  # the private key
    assert main(["audit", "verify", "--db", url, *flags]) == 2
    assert "not a PEM public key" in capsys.readouterr().err
    empty = log.file.with_name("empty.jsonl")
    empty.write_text("")
    flags = ["--public-key", str(log.pub), "--anchor-file", str(empty)]
    assert main(["audit", "verify", "--db", url, *flags]) == 2
    assert "holds no checkpoints" in capsys.readouterr().err


def test_an_export_is_checked_against_the_anchors(
    log: Anchored, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "log.json"
    assert main(["audit", "export", "--db", log.store.url, "-o", str(out)]) == 0
    flags = ["--public-key", str(log.pub), "--anchor-file", str(log.file)]
    assert main(["audit", "verify", "--file", str(out), *flags]) == 0
    recs = json.loads(out.read_text())
    out.write_text(json.dumps(recs[:26]))  # an auditor handed a copy cut after record 26
    assert main(["audit", "verify", "--file", str(out), "--no-rows"]) == 0  # chain: fine
    assert main(["audit", "verify", "--file", str(out), *flags]) == 4
    assert "records 27 to 28 were removed" in capsys.readouterr().err


def test_the_triggers_refuse_update_and_delete_on_the_log(log: Anchored) -> None:
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), log.store.engine.begin() as c:
            c.exec_driver_sql(sql)
    assert len(records(log.store)) == 28


def test_a_checkpoint_signs_seq_hash_time_and_count(tmp_path: Path) -> None:
    key, pub = keypair(tmp_path)
    cp = anchor.sign(key, 3, "a" * 64)
    body = json.loads(cp.to_line())
    assert set(body) == {"seq", "hash", "at", "records", "signature"}
    assert cp.verifies(anchor.load_public_key(pub))
    # the message signed is the canonical JSON of the four fields, nothing else
    msg = audit.canonical({"seq": 3, "hash": "a" * 64, "at": cp.at, "records": 3}).encode()
    import base64

    anchor.load_public_key(pub).verify(base64.b64decode(cp.signature), msg)

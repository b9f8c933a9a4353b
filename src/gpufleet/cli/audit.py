"""``gpufleet audit verify|export|keygen|checkpoint``: the hash-chained audit log.

Exit codes: 0 the log (and, when given, its anchors and the rows) verify; 2 bad input (a
missing or malformed file, a key that is not one); 4 the log, an anchor or a row does not
verify (:attr:`ExitCode.BROKEN`), the report naming the first bad record or every bad row.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gpufleet.cli import output
from gpufleet.cli.common import emit, json_flag, print_json
from gpufleet.cli.store import db_arg, open_store
from gpufleet.errors import ExitCode, InputError
from gpufleet.governance.store import anchor, audit, audit_check


def cmd_audit_verify(args: argparse.Namespace) -> int:
    anchors = audit_check.Anchors.load(args.anchor_file, args.public_key)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise InputError(f"--file {path}: no such file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"--file {path}: not UTF-8 text (byte {e.start})") from None
        fmt = "json" if path.suffix == ".json" else "csv"
        report = audit_check.verify_file(text, fmt, str(path), anchors)
    else:
        with open_store(args) as store, store.read() as s:
            report = audit_check.verify_store(s, anchors, rows=not args.no_rows)
    if args.json:  # the API's shape (GET /audit/verify); the exit code says ok or not
        print_json(report.as_dict())
    elif report.ok:
        print(report.render())
    else:
        output.error(report.render(), prefix="")
    return ExitCode.OK if report.ok else ExitCode.BROKEN


def cmd_audit_export(args: argparse.Namespace) -> int:
    with open_store(args) as store, store.read() as s:
        recs = list(audit.iter_records(s))
    text = audit.export_json(recs) if args.format == "json" else audit.export_csv(recs)
    emit(args.out, text, f"{len(recs)} audit records")
    return ExitCode.OK


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    pub = anchor.keygen(out)
    key = anchor.load_public_key(pub)
    if args.json:
        print_json(
            {
                "signing_key": str(out),
                "public_key": str(pub),
                "fingerprint": anchor.fingerprint(key),
            }
        )
        return ExitCode.OK
    print(
        f"signing key written to {out} (mode 0600; keep it off the database host), "
        f"public key to {pub} (key {anchor.fingerprint(key)})"
    )
    return ExitCode.OK


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    key = anchor.load_signing_key(Path(args.signing_key))
    file = Path(args.anchor_file)
    with open_store(args) as store:
        done = audit_check.checkpoint(store, key, file)
    ok = done.refused is None
    if args.json:
        cp = done.checkpoint
        print_json(
            {
                "ok": ok,
                "written": cp is not None,
                "number": done.number,
                "seq": cp.seq if cp else None,
                "hash": cp.hash if cp else None,
                "at": cp.at if cp else None,
                "anchor_file": str(file),
                "message": done.render(file),
            }
        )
    elif ok:
        print(done.render(file))
    else:
        output.error(done.render(file), prefix="")
    return ExitCode.OK if ok else ExitCode.BROKEN


def add_commands(sub: Any) -> None:
    au = sub.add_parser("audit", help="the hash-chained audit log and its signed anchors")
    aus = au.add_subparsers(dest="audit_command", required=True)
    ve = aus.add_parser(
        "verify",
        help="check the chain, the signed checkpoints and the rows; name what does not verify",
    )
    ve.add_argument("--file", help="verify an exported copy (.json or .csv) instead of the store")
    ve.add_argument("--public-key", metavar="PUB", help="the checkpoints' public key (PEM)")
    ve.add_argument("--anchor-file", metavar="FILE", help="the checkpoints (one JSON per line)")
    ve.add_argument(
        "--no-rows", action="store_true", help="skip replaying the log against the rows"
    )
    json_flag(ve)
    db_arg(ve)
    ve.set_defaults(fn=cmd_audit_verify)
    ex = aus.add_parser("export", help="write the log as CSV or JSON for auditors")
    ex.add_argument(
        "--format", choices=("csv", "json"), default="json", help="file format (default json)"
    )
    ex.add_argument("-o", "--out", help="file to write (default: stdout)")
    db_arg(ex)
    ex.set_defaults(fn=cmd_audit_export)
    kg = aus.add_parser("keygen", help="make an Ed25519 signing key (FILE) and its FILE.pub")
    kg.add_argument("--out", required=True, metavar="KEYFILE", help="never overwritten")
    json_flag(kg)
    kg.set_defaults(fn=cmd_audit_keygen)
    cp = aus.add_parser("checkpoint", help="sign the log's head and append it to the anchor file")
    cp.add_argument(
        "--signing-key",
        required=True,
        metavar="KEYFILE",
        help="the private key from `gpufleet audit keygen` that signs the checkpoint",
    )
    cp.add_argument("--anchor-file", required=True, metavar="FILE", help="appended to")
    json_flag(cp)
    db_arg(cp)
    cp.set_defaults(fn=cmd_audit_checkpoint)

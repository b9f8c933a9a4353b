"""``gpufleet admin create-token|list-tokens|revoke-token``: the API's tokens."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import select

from gpufleet.cli.common import json_flag, print_json
from gpufleet.cli.output import note
from gpufleet.cli.store import db_arg, open_store
from gpufleet.errors import ExitCode
from gpufleet.governance.auth.tokens import (
    create_token,
    parse_expiry,
    parse_role,
    revoke_token,
    token_dict,
)
from gpufleet.governance.store.models import Token


def cmd_create_token(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        role = parse_role(args.role)
        expires = parse_expiry(args.expires) if args.expires else None
        with store.write(f"cli:{args.actor}") as tx:
            tok, secret = create_token(
                tx, args.name or args.role, role, args.entity, args.person, expires_at=expires
            )
        scope = f"@{args.entity}" if args.entity else ""
        until = f", expires {expires.isoformat(timespec='seconds')}" if expires else ""
        note(f"token {tok.id} ({role.value}{scope}{until}); the secret is shown only now:")
        if args.json:
            at = expires.isoformat(timespec="seconds") if expires else None
            d = {"id": tok.id, "name": tok.name, "role": role.value, "entity": args.entity}
            print_json({**d, "person": args.person, "expires_at": at, "secret": secret})
        else:
            print(secret)
        return ExitCode.OK


def cmd_list_tokens(args: argparse.Namespace) -> int:
    with open_store(args) as store, store.read() as s:
        rows = [token_dict(s, t) for t in s.scalars(select(Token).order_by(Token.id))]
    if args.json:
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    row = "{:>4}  {:<8} {:<12} {:<12} {:<20} {:<32} {}"
    print(row.format("id", "state", "role", "entity", "person", "last used", "expires"))
    for r in rows:
        cells = (r["id"], r["state"], r["role"], r["entity"] or "-", r["person"] or "-")
        print(row.format(*cells, r["last_used_at"] or "never", r["expires_at"] or "never"))
    return ExitCode.OK


def cmd_revoke_token(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        with store.write(f"cli:{args.actor}") as tx:
            tok = revoke_token(tx, args.token_id)
        if args.json:
            print_json({"id": tok.id, "state": "revoked"})
        else:
            print(f"token {tok.id} revoked")
        return ExitCode.OK


def add_commands(sub: Any) -> None:
    adm = sub.add_parser("admin", help="API tokens")
    adms = adm.add_subparsers(dest="admin_command", required=True)
    ct = adms.add_parser("create-token", help="create an API token; prints its secret once")
    ct.add_argument("--role", required=True, help="viewer, entity-admin, approver or fleet-admin")
    ct.add_argument("--entity", help="the entity the role applies to (all but fleet-admin)")
    ct.add_argument("--person", help="the person the token belongs to (approvers need one)")
    ct.add_argument("--name", help="a label for the token (default: the role)")
    ct.add_argument(
        "--expires", metavar="WHEN", help="stop working after a duration (90d, 12h) or at a date"
    )
    json_flag(ct)
    db_arg(ct)
    ct.set_defaults(fn=cmd_create_token)
    lt = adms.add_parser("list-tokens", help="every API token: state, role, last use, expiry")
    lt.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    db_arg(lt)
    lt.set_defaults(fn=cmd_list_tokens)
    rt = adms.add_parser("revoke-token", help="revoke an API token by id")
    rt.add_argument("token_id", type=int, help="the token's id (see list-tokens)")
    json_flag(rt)
    db_arg(rt)
    rt.set_defaults(fn=cmd_revoke_token)

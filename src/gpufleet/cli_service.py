"""``gpufleet db|admin|audit|serve``: the store, its tokens, its audit log and the server.

Each command opens the store named by ``--db`` (else ``GPUFLEET_DATABASE_URL``, else
``sqlite:///gpufleet.db``) and upgrades its schema first, so a fresh folder just works.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from gpufleet.errors import InputError
from gpufleet.store.db import Store


@contextmanager
def open_store(args: argparse.Namespace) -> Iterator[Store]:
    """The store named on the command line, its schema upgraded; closed afterwards."""
    store = Store(args.db)
    try:
        try:
            store.upgrade()
        except OperationalError as e:
            reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
            raise InputError(
                f"cannot open the database {store.engine.url.render_as_string()}: {reason} "
                "(expected a reachable sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB)"
            ) from None
        yield store
    finally:
        store.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gpufleet.store.migrate import current

    with open_store(args) as store:
        print(f"{store.engine.url.render_as_string()}: schema at revision {current(store.engine)}")
        return 0


def cmd_db_seed(args: argparse.Namespace) -> int:
    """An empty register is filled from the scenario (default: the article's); then the
    governance file, if given, adds groups, people and roles. One transaction."""
    from gpufleet.api import article_scenario_path
    from gpufleet.register.people import load_governance
    from gpufleet.register.plan import seed_from_scenario
    from gpufleet.store.models import Plan

    with open_store(args) as store, store.write(f"cli:{args.actor}") as tx:
        done = []
        if args.scenario or tx.session.get(Plan, 1) is None:
            path = Path(args.scenario) if args.scenario else article_scenario_path()
            seed_from_scenario(tx, path)
            done.append(f"plan from {path}")
        if args.governance:
            counts = load_governance(tx, args.governance)
            done.append(", ".join(f"{n} {k}" for k, n in counts.items()))
    print("register: " + "; ".join(done or ["nothing to do"]))
    return 0


def cmd_db_plan(args: argparse.Namespace) -> int:
    """The register's plan as a scenario file: approved transfers on its timeline, ready
    for ``gpufleet simulate``, ``whatif`` or ``export``."""
    from gpufleet.register.plan import plan_text

    with open_store(args) as store, store.read() as s:
        text = plan_text(s)
    _emit(args.out, text, "plan")
    return 0


def _emit(out: str | None, text: str, what: str) -> None:
    """``text`` to the ``--out`` file (whole or not at all), else to stdout."""
    if not out:
        sys.stdout.write(text)
        return
    from gpufleet.cli import _write

    _write("--out", Path(out), text)
    print(f"{what} written to {out}", file=sys.stderr)


def cmd_create_token(args: argparse.Namespace) -> int:
    from gpufleet.auth.tokens import create_token, parse_role

    with open_store(args) as store:
        role = parse_role(args.role)
        with store.write(f"cli:{args.actor}") as tx:
            tok, secret = create_token(tx, args.name or args.role, role, args.entity, args.person)
        scope = f"@{args.entity}" if args.entity else ""
        print(
            f"token {tok.id} ({role.value}{scope}); the secret is shown only now:", file=sys.stderr
        )
        print(secret)
        return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    from gpufleet.auth.tokens import revoke_token

    with open_store(args) as store:
        with store.write(f"cli:{args.actor}") as tx:
            tok = revoke_token(tx, args.token_id)
        print(f"token {tok.id} revoked")
        return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gpufleet.store import audit

    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise InputError(f"--file {path}: no such file")
        fmt = "json" if path.suffix == ".json" else "csv"
        verdict = audit.verify_export(path.read_text(encoding="utf-8"), fmt)
    else:
        with open_store(args) as store, store.read() as s:
            verdict = audit.verify(s)
    print(verdict.render(), file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 4


def cmd_audit_export(args: argparse.Namespace) -> int:
    from gpufleet.store import audit

    with open_store(args) as store, store.read() as s:
        recs = list(audit.iter_records(s))
    text = audit.export_json(recs) if args.format == "json" else audit.export_csv(recs)
    _emit(args.out, text, f"{len(recs)} audit records")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gpufleet.service.app import create_app

    with open_store(args) as store:
        app = create_app(store, run_worker=not args.no_worker)
        print(
            f"gpufleet serving {store.engine.url.render_as_string()} on http://{args.host}:{args.port}"
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return 0


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $GPUFLEET_DATABASE_URL, else sqlite:///gpufleet.db)",
    )
    p.add_argument("--actor", default="admin", help="who the audit log names for this command")


def add_commands(sub: Any) -> None:
    db = sub.add_parser("db", help="the store: create or upgrade its schema, fill the register")
    dbs = db.add_subparsers(dest="db_command", required=True)
    up = dbs.add_parser("upgrade", help="create or upgrade the schema (Alembic migrations)")
    _db_arg(up)
    up.set_defaults(fn=cmd_db_upgrade)
    seed = dbs.add_parser("seed", help="fill an empty register from a scenario file")
    seed.add_argument("scenario", nargs="?", help="scenario file (default: the article's)")
    seed.add_argument(
        "--governance",
        metavar="FILE",
        help="a governance file: groups of related entities, people and their roles",
    )
    _db_arg(seed)
    seed.set_defaults(fn=cmd_db_seed)
    pl = dbs.add_parser(
        "plan", help="write the register's plan (approved transfers included) as a scenario file"
    )
    pl.add_argument("-o", "--out", help="file to write (default: stdout)")
    _db_arg(pl)
    pl.set_defaults(fn=cmd_db_plan)

    adm = sub.add_parser("admin", help="API tokens")
    adms = adm.add_subparsers(dest="admin_command", required=True)
    ct = adms.add_parser("create-token", help="create an API token; prints its secret once")
    ct.add_argument("--role", required=True, help="viewer, entity-admin, approver or fleet-admin")
    ct.add_argument("--entity", help="the entity the role applies to (all but fleet-admin)")
    ct.add_argument("--person", help="the person the token belongs to (approvers need one)")
    ct.add_argument("--name", help="a label for the token (default: the role)")
    _db_arg(ct)
    ct.set_defaults(fn=cmd_create_token)
    rt = adms.add_parser("revoke-token", help="revoke an API token by id")
    rt.add_argument("token_id", type=int)
    _db_arg(rt)
    rt.set_defaults(fn=cmd_revoke_token)

    au = sub.add_parser("audit", help="the hash-chained audit log")
    aus = au.add_subparsers(dest="audit_command", required=True)
    ve = aus.add_parser(
        "verify", help="check the chain; names the first edited, removed or reordered record"
    )
    ve.add_argument("--file", help="verify an exported copy (.json or .csv) instead of the store")
    _db_arg(ve)
    ve.set_defaults(fn=cmd_audit_verify)
    ex = aus.add_parser("export", help="write the log as CSV or JSON for auditors")
    ex.add_argument("--format", choices=("csv", "json"), default="json")
    ex.add_argument("-o", "--out", help="file to write (default: stdout)")
    _db_arg(ex)
    ex.set_defaults(fn=cmd_audit_export)

    sv = sub.add_parser("serve", help="run the REST API and the web dashboard")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--log-level", default="info")
    sv.add_argument("--no-worker", action="store_true", help="do not run what-if runs here")
    _db_arg(sv)
    sv.set_defaults(fn=cmd_serve)

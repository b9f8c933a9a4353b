"""``gpufleet db upgrade|seed|plan|grant-app-role``: the store's schema, the register's
contents, and the rights of the role the server runs as."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gpufleet.api import article_scenario_path
from gpufleet.cli.common import emit, json_flag, print_json
from gpufleet.cli.store import db_arg, open_store
from gpufleet.errors import ExitCode
from gpufleet.governance.register.people import load_governance
from gpufleet.governance.register.plan import plan_text, seed_from_scenario
from gpufleet.governance.store.models import Plan
from gpufleet.governance.store.roles import grant_app_role


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    # imported here: Alembic takes 0.3 s to load, and only this command names the revision
    from gpufleet.governance.store.migrate import current

    with open_store(args) as store:
        url, revision = store.engine.url.render_as_string(), current(store.engine)
    if args.json:  # the URL as rendered hides a password ('***')
        print_json({"url": url, "revision": revision})
    else:
        print(f"{url}: schema at revision {revision}")
    return ExitCode.OK


def cmd_db_seed(args: argparse.Namespace) -> int:
    """An empty register is filled from the scenario (default: the article's); then the
    governance file, if given, adds groups, people and roles. One transaction."""
    plan_from: Path | None = None
    counts: dict[str, int] | None = None
    with open_store(args) as store, store.write(f"cli:{args.actor}") as tx:
        if args.scenario or tx.session.get(Plan, 1) is None:
            plan_from = Path(args.scenario) if args.scenario else article_scenario_path()
            seed_from_scenario(tx, plan_from)
        if args.governance:
            counts = dict(load_governance(tx, args.governance))
    if args.json:
        print_json({"plan_from": str(plan_from) if plan_from else None, "governance": counts})
        return ExitCode.OK
    done = [f"plan from {plan_from}"] if plan_from else []
    if counts is not None:
        done.append(", ".join(f"{n} {k}" for k, n in counts.items()))
    print("register: " + "; ".join(done or ["nothing to do"]))
    return ExitCode.OK


def cmd_db_plan(args: argparse.Namespace) -> int:
    """The register's plan as a scenario file: approved transfers on its timeline, ready
    for ``gpufleet simulate``, ``whatif`` or ``export``."""
    with open_store(args) as store, store.read() as s:
        text = plan_text(s)
    emit(args.out, text, "plan")
    return ExitCode.OK


def cmd_grant_app_role(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        done = grant_app_role(store.engine, args.role)
    if args.json:
        print_json({"role": args.role, "statements": len(done)})
        return ExitCode.OK
    print(f"role {args.role}: {len(done)} statements run; it may append to audit_log, never")
    print("update, delete or truncate it. Run `db upgrade` as the schema's owner from now on.")
    return ExitCode.OK


def add_commands(sub: Any) -> None:
    db = sub.add_parser("db", help="the store: create or upgrade its schema, fill the register")
    dbs = db.add_subparsers(dest="db_command", required=True)
    up = dbs.add_parser("upgrade", help="create or upgrade the schema (Alembic migrations)")
    json_flag(up)
    db_arg(up)
    up.set_defaults(fn=cmd_db_upgrade)
    seed = dbs.add_parser("seed", help="fill an empty register from a scenario file")
    seed.add_argument("scenario", nargs="?", help="scenario file (default: the article's)")
    seed.add_argument(
        "--governance",
        metavar="FILE",
        help="a governance file: groups of related entities, people and their roles",
    )
    json_flag(seed)
    db_arg(seed)
    seed.set_defaults(fn=cmd_db_seed)
    pl = dbs.add_parser(
        "plan", help="write the register's plan (approved transfers included) as a scenario file"
    )
    pl.add_argument("-o", "--out", help="file to write (default: stdout)")
    db_arg(pl)
    pl.set_defaults(fn=cmd_db_plan)
    gr = dbs.add_parser(
        "grant-app-role",
        help="PostgreSQL: give a role the app's rights, with no UPDATE/DELETE on the audit log",
    )
    gr.add_argument("role", help="an existing PostgreSQL role (CREATE ROLE name LOGIN ...)")
    json_flag(gr)
    db_arg(gr)
    gr.set_defaults(fn=cmd_grant_app_role)

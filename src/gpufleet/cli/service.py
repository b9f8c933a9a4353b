"""``gpufleet db|admin|audit|serve``: the store, its tokens, its audit log and the server.

Each command opens the store named by ``--db`` (else ``GPUFLEET_DATABASE_URL``, else
``sqlite:///gpufleet.db``) and upgrades its schema first, so a fresh folder just works.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from gpufleet.errors import InputError
from gpufleet.governance.store.db import Store


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
    from gpufleet.governance.store.migrate import current

    with open_store(args) as store:
        print(f"{store.engine.url.render_as_string()}: schema at revision {current(store.engine)}")
        return 0


def cmd_db_seed(args: argparse.Namespace) -> int:
    """An empty register is filled from the scenario (default: the article's); then the
    governance file, if given, adds groups, people and roles. One transaction."""
    from gpufleet.api import article_scenario_path
    from gpufleet.governance.register.people import load_governance
    from gpufleet.governance.register.plan import seed_from_scenario
    from gpufleet.governance.store.models import Plan

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
    from gpufleet.governance.register.plan import plan_text

    with open_store(args) as store, store.read() as s:
        text = plan_text(s)
    _emit(args.out, text, "plan")
    return 0


def _emit(out: str | None, text: str, what: str) -> None:
    """``text`` to the ``--out`` file (whole or not at all), else to stdout."""
    if not out:
        sys.stdout.write(text)
        return
    from gpufleet.cli.main import _write

    _write("--out", Path(out), text)
    print(f"{what} written to {out}", file=sys.stderr)


def cmd_create_token(args: argparse.Namespace) -> int:
    from gpufleet.governance.auth.tokens import create_token, parse_expiry, parse_role

    with open_store(args) as store:
        role = parse_role(args.role)
        expires = parse_expiry(args.expires) if args.expires else None
        with store.write(f"cli:{args.actor}") as tx:
            tok, secret = create_token(
                tx, args.name or args.role, role, args.entity, args.person, expires_at=expires
            )
        scope = f"@{args.entity}" if args.entity else ""
        until = f", expires {expires.isoformat(timespec='seconds')}" if expires else ""
        print(
            f"token {tok.id} ({role.value}{scope}{until}); the secret is shown only now:",
            file=sys.stderr,
        )
        print(secret)
        return 0


def cmd_list_tokens(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from gpufleet.governance.store.models import Token
    from gpufleet.service.routes.tokens import token_dict

    with open_store(args) as store, store.read() as s:
        rows = [token_dict(s, t) for t in s.scalars(select(Token).order_by(Token.id))]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    row = "{:>4}  {:<8} {:<12} {:<12} {:<20} {:<32} {}"
    print(row.format("id", "state", "role", "entity", "person", "last used", "expires"))
    for r in rows:
        cells = (r["id"], r["state"], r["role"], r["entity"] or "-", r["person"] or "-")
        print(row.format(*cells, r["last_used_at"] or "never", r["expires_at"] or "never"))
    return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    from gpufleet.governance.auth.tokens import revoke_token

    with open_store(args) as store:
        with store.write(f"cli:{args.actor}") as tx:
            tok = revoke_token(tx, args.token_id)
        print(f"token {tok.id} revoked")
        return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gpufleet.service.app import create_app
    from gpufleet.service.checkpoints import AnchorSettings

    anchors = AnchorSettings.from_args(
        args.anchor_file, args.signing_key, args.public_key, args.checkpoint_every
    )
    with open_store(args) as store:
        app = create_app(store, run_worker=not args.no_worker, anchors=anchors, **_run_limits(args))
        print(
            f"gpufleet serving {store.engine.url.render_as_string()} on http://{args.host}:{args.port}"
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return 0


def _run_limits(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s run budget, cap on runs per entity and rate limit (runs work)."""
    from gpufleet.governance.runs.budget import RunBudget
    from gpufleet.service.ratelimit import RateLimit

    for flag, value, least in (
        ("--run-timeout", args.run_timeout, 1),
        ("--run-memory-mb", args.run_memory_mb, 0),
        ("--run-attempts", args.run_attempts, 1),
        ("--runs-per-entity", args.runs_per_entity, 1),
        ("--rate-per-minute", args.rate_per_minute, 0),
        ("--rate-burst", args.rate_burst, 1),
    ):
        if not value >= least:
            raise InputError(f"{flag} {value:g}: expected a number of {least} or more")
    return {
        "run_budget": RunBudget(args.run_timeout, args.run_memory_mb, args.run_attempts),
        "runs_per_entity": args.runs_per_entity,
        "rate_limit": RateLimit(args.rate_per_minute, args.rate_burst),
    }


def _serve_limits(sv: argparse.ArgumentParser) -> None:
    add = sv.add_argument
    add(
        "--run-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="a run's wall-time budget, seconds; past it the run fails (default 600)",
    )
    add(
        "--run-memory-mb",
        type=int,
        default=2048,
        metavar="M",
        help="a run's memory budget (address space), MB; 0: none (default 2048)",
    )
    add(
        "--run-attempts",
        type=int,
        default=2,
        metavar="N",
        help="starts of a run before one its server died in is failed (default 2)",
    )
    add(
        "--runs-per-entity",
        type=int,
        default=3,
        metavar="N",
        help="runs an entity may have queued or running at once (default 3)",
    )
    add(
        "--rate-per-minute",
        type=float,
        default=30.0,
        metavar="N",
        help="expensive requests (runs, assessments, reports, exports, seeding) a token "
        "may make a minute after its burst; 0: no limit (default 30)",
    )
    add("--rate-burst", type=int, default=20, metavar="B",
        help="expensive requests a token may make at once (default 20)")  # fmt: skip


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $GPUFLEET_DATABASE_URL, else sqlite:///gpufleet.db)",
    )
    p.add_argument("--actor", default="admin", help="who the audit log names for this command")


def add_commands(sub: Any) -> None:
    from gpufleet.cli.audit import add_audit_commands, add_grant_command

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
    add_grant_command(dbs, _db_arg)

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
    _db_arg(ct)
    ct.set_defaults(fn=cmd_create_token)
    lt = adms.add_parser("list-tokens", help="every API token: state, role, last use, expiry")
    lt.add_argument("--json", action="store_true")
    _db_arg(lt)
    lt.set_defaults(fn=cmd_list_tokens)
    rt = adms.add_parser("revoke-token", help="revoke an API token by id")
    rt.add_argument("token_id", type=int)
    _db_arg(rt)
    rt.set_defaults(fn=cmd_revoke_token)

    add_audit_commands(sub, _db_arg)

    sv = sub.add_parser("serve", help="run the REST API and the web dashboard")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--log-level", default="info")
    sv.add_argument("--no-worker", action="store_true", help="do not run what-if runs here")
    _serve_limits(sv)
    sv.add_argument("--anchor-file", metavar="FILE", help="signed audit checkpoints (verify)")
    sv.add_argument("--signing-key", metavar="KEYFILE", help="sign checkpoints with this key")
    sv.add_argument("--public-key", metavar="PUB", help="verify checkpoints with this key")
    sv.add_argument(
        "--checkpoint-every", type=float, metavar="SECONDS", help="sign the head this often"
    )
    _db_arg(sv)
    sv.set_defaults(fn=cmd_serve)

"""``gpufleet serve``: the REST API and the web dashboard on the store named by ``--db``,
with the run budget, the cap on runs per entity, the rate limit, signed checkpoints and,
with ``--live-config FILE``, a poller that observes the live sources the file names."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpufleet.cli.store import db_arg, open_store
from gpufleet.errors import ExitCode, InputError
from gpufleet.extras import require
from gpufleet.governance.runs.budget import RunBudget
from gpufleet.governance.store.db import Store
from gpufleet.service.checkpoints import AnchorSettings

if TYPE_CHECKING:
    from gpufleet.service.live_worker import LivePoller


def cmd_serve(args: argparse.Namespace) -> int:
    # imported here: the service loads FastAPI and uvicorn (about a second), which only
    # `serve` needs and only the `service` extra installs; every other command runs without
    for module in ("fastapi", "uvicorn"):
        require("service", module, "`gpufleet serve`")
    import uvicorn

    from gpufleet.service.apidocs import swagger_ui_dir
    from gpufleet.service.app import create_app

    docs_assets = swagger_ui_dir(args.swagger_ui_dir)  # checked before the store opens
    anchors = AnchorSettings.from_args(
        args.anchor_file, args.signing_key, args.public_key, args.checkpoint_every
    )
    limits = _run_limits(args)
    metrics_secret = scrape_secret(args.metrics_token_file)
    with open_store(args) as store:
        poller: LivePoller | None = None
        if args.live_config:
            poller = _live_poller(store, Path(args.live_config))
        app = create_app(
            store,
            run_worker=not args.no_worker,
            anchors=anchors,
            live_poller=poller,
            swagger_ui_dir=docs_assets,
            metrics_secret=metrics_secret,
            **limits,
        )
        print(
            f"gpufleet serving {store.engine.url.render_as_string()} on http://{args.host}:{args.port}"
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return ExitCode.OK


MIN_SECRET = 16
"""Characters a scrape secret has at least: a short one could be guessed by asking."""


def scrape_secret(path: str | None) -> str | None:
    """The secret of ``--metrics-token-file FILE`` (its one line, stripped), which
    Prometheus sends as a bearer token to read /metrics; exit 2 for a file that cannot be
    read, or holds a secret that is too short or spans several lines."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--metrics-token-file {path}: cannot be read ({e})") from e
    if len(text) < MIN_SECRET or any(c.isspace() for c in text):
        raise InputError(
            f"--metrics-token-file {path}: expected one line of at least {MIN_SECRET} "
            "characters with no spaces (e.g. `openssl rand -hex 32 > FILE`)"
        )
    return text


def _live_poller(store: Store, config: Path) -> LivePoller:
    """The poller of ``--live-config FILE``'s sources; a bad file is exit 2 before the
    server starts (every problem with file, line and field)."""
    # imported here: see cmd_serve
    from gpufleet.live.config import load_settings
    from gpufleet.service.live_worker import poller_for

    return poller_for(store, load_settings(config))


def _run_limits(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s run budget, cap on runs per entity and rate limit (runs work)."""
    # imported here: the rate limit is Starlette middleware (see cmd_serve)
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
        help="expensive requests (runs, assessments, reports, exports, seeding, live "
        "reads) a token "
        "may make a minute after its burst; 0: no limit (default 30)",
    )
    add("--rate-burst", type=int, default=20, metavar="B",
        help="expensive requests a token may make at once (default 20)")  # fmt: skip


def add_commands(sub: Any) -> None:
    sv = sub.add_parser(
        "serve",
        help="run the REST API and the web dashboard",
        description="Serve the register named by --db: the REST API under /api/v1 and the "
        "web dashboard at /. Sign in with a token from `gpufleet admin create-token` "
        "(give it --person to request and decide transfers). Needs the service extra: "
        "pip install 'gpufleet[service]'.",
    )
    sv.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; "
        "0.0.0.0: every interface)",
    )
    sv.add_argument(
        "--port", type=int, default=8000, help="the TCP port to listen on (default 8000)"
    )
    sv.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        help="uvicorn's log level (default info)",
    )
    sv.add_argument("--no-worker", action="store_true", help="do not run what-if runs here")
    _serve_limits(sv)
    sv.add_argument("--anchor-file", metavar="FILE", help="signed audit checkpoints (verify)")
    sv.add_argument("--signing-key", metavar="KEYFILE", help="sign checkpoints with this key")
    sv.add_argument("--public-key", metavar="PUB", help="verify checkpoints with this key")
    sv.add_argument(
        "--checkpoint-every", type=float, metavar="SECONDS", help="sign the head this often"
    )
    sv.add_argument(
        "--live-config",
        metavar="FILE",
        help="observe the live sources this file names every `every` of it (docs/live.md)",
    )
    sv.add_argument(
        "--metrics-token-file",
        metavar="FILE",
        help="a file holding the secret Prometheus sends to read /metrics "
        "(authorization: {credentials_file: FILE}); without it only a fleet-admin "
        "token may read /metrics",
    )
    sv.add_argument(
        "--swagger-ui-dir",
        metavar="DIR",
        help="serve Swagger UI at /api/docs from this folder of swagger-ui-dist's files "
        "(default: $GPUFLEET_SWAGGER_UI_DIR, else a plain reference page; docs/service.md)",
    )
    db_arg(sv)
    sv.set_defaults(fn=cmd_serve)

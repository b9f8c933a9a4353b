"""The ``gpufleet`` command. The outermost ring: it maps errors to exit codes here only.

The root parser, dispatch to the command groups (one module each), and the one place that
turns errors into exit codes (named in :class:`gpufleet.errors.ExitCode`).

Exit codes: 0 ok; 1 internal error; 2 bad input (the message says where and what); 3 not
allowed; 4 ``audit verify``/``checkpoint`` found what does not verify; 5 the store stayed
busy (nothing changed: run it again); 130 interrupted; 141 the reader of stdout went away
(``| head``), quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

import gpufleet
from gpufleet.cli import (
    admin,
    audit,
    completion,
    db,
    demo,
    enact,
    explain,
    export,
    forecast,
    live,
    meter,
    output,
    policies,
    serve,
    simulate,
    sweep,
    trace,
    validate,
    whatif,
)
from gpufleet.errors import (
    AccessError,
    BusyError,
    ExitCode,
    GpufleetError,
    InputError,
    exit_code,
)

# the command groups, in the order `gpufleet --help` lists them
GROUPS = (
    demo,
    simulate,
    validate,
    policies,
    trace,
    whatif,
    sweep,
    export,
    explain,
    db,
    admin,
    audit,
    live,
    forecast,
    enact,
    meter,
    serve,
)


DESCRIPTION = """\
Plan, schedule, simulate and govern a shared fleet of GPUs across companies, programs and
jobs. Start with `gpufleet demo` (the article's 12,000 H100: keep them at Tesla or move
them to xAI), then `gpufleet whatif` for the same question with confidence intervals.
`gpufleet COMMAND --help` describes each command; README.md and docs/ describe the rest."""

EPILOG = """\
exit codes: 0 ok; 2 bad input (the message names the file, line and field); 3 not allowed;
4 the audit chain does not verify; 5 the register is busy (nothing changed: run it again);
141 the reader of the output went away; 1 internal error"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpufleet",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-V", "--version", action="version", version=f"gpufleet {_version()}")
    add_global_flags(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    completion.add_commands(sub, p)  # last: its script names every command above
    for cmd in _subparsers(p):  # `gpufleet whatif -q` as well as `gpufleet -q whatif`
        add_global_flags(cmd, top=False)
    return p


def add_global_flags(p: argparse.ArgumentParser, top: bool) -> None:
    """-v/-q and --log-format (cli/output.py). On a command's own parser they default to
    SUPPRESS, so a flag given before the command is not reset by the command's parser."""
    g = p.add_argument_group("output")

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log what it does to stderr (-vv: in detail)",
    )
    g.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress and no notes on stderr; errors only",
    )
    g.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=default("text"),
        help="stderr as text (default) or one JSON object per line",
    )


def _subparsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``p`` (commands and their subcommands), depth first."""
    found: list[argparse.ArgumentParser] = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.append(child)
                found.extend(_subparsers(child))
    return found


def _version() -> str:
    """The installed distribution's version; the package's own when it runs from a source
    tree that was not installed (PYTHONPATH=src)."""
    try:
        return metadata.version("gpufleet")
    except metadata.PackageNotFoundError:
        return gpufleet.__version__


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage (exit 2) or the help (exit 0)
        if isinstance(e.code, int):
            return e.code
        return ExitCode.OK if e.code is None else ExitCode.BAD_INPUT
    output.configure(-1 if args.quiet else args.verbose, args.log_format)
    try:
        return _run(args)
    finally:
        output.reset()


def _run(args: argparse.Namespace) -> int:
    """The command, its errors turned into exit codes and messages on stderr."""
    try:
        code = int(args.fn(args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except InputError as e:
        output.error(e.render())
        return exit_code(e)
    except AccessError as e:
        output.error(f"not allowed: {e}")
        return exit_code(e)
    except BusyError as e:
        output.error(f"busy, nothing changed; run it again: {e}")
        return exit_code(e)
    except GpufleetError as e:
        output.error(f"internal error: {e}")
        return exit_code(e)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `gpufleet ... | head`: the reader has what it wanted
        _quiet_stdout()
        return ExitCode.PIPE_CLOSED
    except Exception as e:  # the last line of defence: report, never a bare traceback
        output.error(f"internal error: {type(e).__name__}: {e}")
        return ExitCode.INTERNAL


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush at exit does not raise
    again on the closed pipe (Python's documented way: the signal module's notes on
    SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout is no real file (a test's)
        pass

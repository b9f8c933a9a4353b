"""What the command groups share: a progress bar on stderr (from :mod:`.output`), writing
files whole or not at all, and the scenario a command reads when none is given."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gpufleet.api import article_scenario_path
from gpufleet.cli.output import ProgressBar, note
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.scenario.load import load_scenario

__all__ = [
    "ProgressBar",
    "check_writable",
    "emit",
    "json_flag",
    "print_json",
    "scenario_or_article",
    "write_file",
]


def json_flag(p: argparse.ArgumentParser) -> None:
    """The ``--json`` flag every command that prints data has."""
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def print_json(data: object) -> None:
    """One JSON document on stdout (indented, keys as given)."""
    print(json.dumps(data, indent=2))


def scenario_or_article(path: str | None) -> Scenario:
    """The scenario file given, else the article's."""
    return load_scenario(path or article_scenario_path())


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``. Raises
    OSError (with the temporary file removed) when the write fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_file(flag: str, path: Path, text: str) -> None:
    """Write ``text`` whole or not at all: a failed write leaves an existing file as it was
    and is bad input naming the flag that gave the path."""
    try:
        write_text_atomic(path, text)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot write: {e.strerror or e}") from None


def check_writable(flag: str, path: Path) -> None:
    """``path`` may be written: not a folder, and its folder exists (checked before a run)."""
    parent = path.parent
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory; give a file path")
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: no such directory {str(parent)!r}; create it first")


def emit(out: str | None, text: str, what: str) -> None:
    """``text`` to the ``--out`` file (whole or not at all), else to stdout."""
    if not out:
        sys.stdout.write(text)
        return
    write_file("--out", Path(out), text)
    note(f"{what} written to {out}")

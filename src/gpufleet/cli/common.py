"""What the command groups share: a progress bar on stderr, writing files whole or not at
all, and the scenario a command reads when none is given."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

from gpufleet.api import article_scenario_path
from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.inputs.scenario.load import load_scenario


class ProgressBar:
    """A bar on stderr, shown only once a run has taken over ``after_s`` seconds and only
    when stderr is a terminal (logs stay clean)."""

    def __init__(
        self, label: str, stream: TextIO = sys.stderr, after_s: float = 2.0, force: bool = False
    ) -> None:
        self.label = label
        self.stream = stream
        self.t0 = time.monotonic()
        self.after_s = after_s
        self.enabled = force or stream.isatty()
        self.shown = False

    def __call__(self, fraction: float) -> None:
        if not self.enabled or time.monotonic() - self.t0 < self.after_s:
            return
        n = int(max(0.0, min(1.0, fraction)) * 30)
        self.stream.write(f"\r{self.label} [{'#' * n}{'.' * (30 - n)}] {fraction * 100:5.1f}%")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


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
    print(f"{what} written to {out}", file=sys.stderr)

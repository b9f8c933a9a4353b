"""The seam every command-line source goes through: run a command, get its stdout.

``SubprocessRunner`` runs it for real (with a timeout, and an environment such as
``SLURM_CONF``); ``ReplayRunner`` answers from outputs recorded on a real cluster, so unit
tests read real bytes without the cluster; ``RecordingRunner`` wraps a real runner and
saves what it answered, in the folder layout ``ReplayRunner`` reads::

    samples/manifest.json   {"squeue --json": "squeue.json", ...}
    samples/squeue.json     the command's stdout, byte for byte
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from gpufleet.live.errors import SourceError, SourceUnavailableError

MANIFEST = "manifest.json"


class CommandRunner(Protocol):
    """Runs one command (no shell) and returns its stdout; raises
    :class:`SourceUnavailableError` when it cannot be run or fails."""

    def run(self, argv: Sequence[str]) -> str: ...


def command_text(argv: Sequence[str]) -> str:
    """The command as a person would type it: the key of recorded outputs and the
    ``source`` of errors."""
    return shlex.join(argv)


class SubprocessRunner:
    """Runs the command on this machine. ``env`` is added to the inherited environment."""

    def __init__(self, env: Mapping[str, str] | None = None, timeout_s: float = 30.0) -> None:
        self.env = dict(env or {})
        self.timeout_s = timeout_s

    def run(self, argv: Sequence[str]) -> str:
        source = command_text(argv)
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                env={**os.environ, **self.env},
                check=False,
            )
        except FileNotFoundError:
            raise SourceUnavailableError(
                source, f"{argv[0]} is not installed here", "the command on PATH"
            ) from None
        except subprocess.TimeoutExpired:
            raise SourceUnavailableError(
                source, f"no answer within {self.timeout_s:g} s", "a running cluster"
            ) from None
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or ["no error text"]
            raise SourceUnavailableError(source, f"exit {done.returncode}: {detail[0]}")
        return done.stdout


class ReplayRunner:
    """Answers each command with its recorded output; a command never recorded is an
    error that lists the recorded ones (a test asking something new must record it)."""

    def __init__(self, outputs: Mapping[str, str]) -> None:
        self.outputs = dict(outputs)
        self.asked: list[str] = []

    @classmethod
    def from_directory(cls, folder: Path) -> ReplayRunner:
        manifest_path = folder / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise SourceError(
                str(manifest_path), "", f"unreadable: {exc}", "a JSON object"
            ) from exc
        if not isinstance(manifest, dict):
            raise SourceError(str(manifest_path), "", "not an object", '{"command": "file"}')
        return cls({cmd: (folder / name).read_text() for cmd, name in manifest.items()})

    def run(self, argv: Sequence[str]) -> str:
        source = command_text(argv)
        self.asked.append(source)
        if source not in self.outputs:
            known = "; ".join(sorted(self.outputs)) or "none"
            raise SourceUnavailableError(source, "not recorded", f"one of: {known}")
        return self.outputs[source]


class RecordingRunner:
    """Runs through ``inner`` and saves each answer under ``folder`` for ``ReplayRunner``
    (one save at a time: a source's reads run in threads, and share the manifest)."""

    def __init__(self, inner: CommandRunner, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self._saving = threading.Lock()

    def run(self, argv: Sequence[str]) -> str:
        out = self.inner.run(argv)
        self.save(command_text(argv), out)
        return out

    def save(self, command: str, output: str) -> None:
        with self._saving:
            self._save(command, output)

    def _save(self, command: str, output: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest_path = self.folder / MANIFEST
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        name = manifest.get(command) or _file_name(command, output)
        (self.folder / name).write_text(output)
        manifest[command] = name
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _file_name(command: str, output: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "-", command).strip("-")[:60]
    return f"{stem}.{'json' if output.lstrip().startswith('{') else 'txt'}"

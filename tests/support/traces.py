"""Finding the public traces for tests: $GPUFLEET_TRACES, default ../shared/traces.

Tests that need a trace call :func:`trace_folder`, which skips the test, saying why, when
the folder is absent (a user's clone has no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def traces_root() -> Path:
    env = os.environ.get("GPUFLEET_TRACES")
    return Path(env) if env else (ROOT.parent / "shared" / "traces")


def trace_folder(name: str) -> Path:
    folder = traces_root() / name
    if not folder.is_dir():
        pytest.skip(
            f"trace {name!r} not found at {folder}: set GPUFLEET_TRACES to the folder "
            "holding the public traces (../shared/traces in the project workspace)"
        )
    return folder

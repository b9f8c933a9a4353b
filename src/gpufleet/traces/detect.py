"""Which importer reads a file: decided from its content, not its name."""

from __future__ import annotations

from pathlib import Path

from gpufleet.errors import InputError
from gpufleet.traces.rows import RowPolicy
from gpufleet.traces.workload import Workload


def sniff(path: Path) -> str:
    """``sacct``, ``kubernetes`` or ``csv`` from the first bytes of the file."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e})") from None
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if head.lstrip().startswith("{") or head.lstrip().startswith("["):
        return "kubernetes"
    if "|" in first and "JobID" in first:
        return "sacct"
    return "csv"


def load_file(path: Path, policy: RowPolicy) -> Workload:
    kind = sniff(path)
    raise InputError(
        f"{path}: looks like a {kind} file, which needs an importer "
        "(sacct, kubernetes, or a CSV with --map)"
    )

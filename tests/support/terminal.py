"""``gpufleet`` in a child process with its stderr on a real pseudo-terminal (python's pty
module), or piped: what a person at a terminal sees, and what a script sees."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from tests.support.servers import CLI, ROOT


def cli_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT)]))
    # progress from the first update, so a short test run shows it
    return {**os.environ, "PYTHONPATH": path, "GPUFLEET_PROGRESS_AFTER_S": "0"}


def on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run gpufleet ARGS with stderr on a pseudo-terminal; (exit code, stdout, stderr)."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=follower, env=cli_env(), cwd=cwd
    ) as proc:
        os.close(follower)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        code = proc.wait(timeout=120)
    os.close(leader)
    return code, out, b"".join(chunks).decode().replace("\r\n", "\n")


def piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=120
    )

"""`gpufleet ... | head`: the reader closing the pipe is not an error of gpufleet's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gpufleet.cli.main import main
from gpufleet.errors import ExitCode


class _ClosedPipe:
    """A stdout whose reader has gone: every write raises as a closed pipe does."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass


def test_a_closed_stdout_exits_141_without_calling_it_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["policies"]) == ExitCode.PIPE_CLOSED
    assert int(ExitCode.PIPE_CLOSED) == 128 + 13  # what shells report for SIGPIPE (13)
    assert "internal error" not in capsys.readouterr().err


def test_a_real_pipe_closed_before_the_first_line_leaves_stderr_empty() -> None:
    # the read end is closed before the command writes: its first write meets EPIPE, and
    # the interpreter's own flush at exit must not complain either
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpufleet.cli", "policies"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert (proc.wait(timeout=60), err) == (141, "")

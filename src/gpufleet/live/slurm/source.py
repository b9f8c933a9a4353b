"""The two ways into Slurm behind one protocol, chosen by name.

``commands`` (the default) reads through Slurm's commands; ``rest`` through slurmrestd's
UNIX socket, which answers jobs and nodes only. Why the commands are the default: they
read everything a forecast needs (quotas, fair-share, configuration, history) with only
munge's key and ``slurm.conf``; see docs/live.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gpufleet.errors import InputError, Problem, UnknownNameError
from gpufleet.live.runner import SubprocessRunner
from gpufleet.live.slurm.cli import SlurmCliSource
from gpufleet.live.slurm.model import SlurmJob, SlurmNode
from gpufleet.live.slurm.rest import SlurmRestSource

MODES = ("commands", "rest")
DEFAULT_MODE = "commands"


class SlurmReader(Protocol):
    """What both ways in read: the jobs Slurm holds and its nodes."""

    def jobs(self) -> tuple[SlurmJob, ...]: ...

    def nodes(self) -> tuple[SlurmNode, ...]: ...


def open_slurm(
    mode: str = DEFAULT_MODE,
    env: Mapping[str, str] | None = None,
    rest_socket: str = "",
) -> SlurmReader:
    """A reader for ``mode``; ``env`` (e.g. ``SLURM_CONF``) for the commands, the socket's
    path for slurmrestd (whose version is then read from its ``/openapi``)."""
    if mode == "commands":
        return SlurmCliSource(SubprocessRunner(env=env))
    if mode == "rest":
        if not rest_socket:
            problem = Problem("rest_socket", "is empty", "the path of slurmrestd's UNIX socket")
            raise InputError(problem.render(), [problem])
        rest = SlurmRestSource(rest_socket)
        rest.discover()
        return rest
    raise UnknownNameError("Slurm source mode", mode, MODES)

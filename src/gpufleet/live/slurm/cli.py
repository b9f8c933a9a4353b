"""Slurm read through its own commands, each run through a :class:`CommandRunner` (the
real one runs them here with ``SLURM_CONF``; the replay one answers from recordings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gpufleet.live.jsonread import parse_json
from gpufleet.live.runner import CommandRunner, command_text
from gpufleet.live.slurm.accounting import (
    ASSOC_FORMAT,
    parse_associations,
    parse_config,
    parse_fairshare,
)
from gpufleet.live.slurm.jobs_json import parse_jobs, parse_nodes
from gpufleet.live.slurm.model import (
    Association,
    FairShare,
    SlurmConfig,
    SlurmJob,
    SlurmNode,
)
from gpufleet.live.slurm.sacct_json import parse_history

SQUEUE = ("squeue", "--json")
SINFO = ("sinfo", "--json")
SACCTMGR_ASSOC = ("sacctmgr", "-P", "show", "assoc", f"format={ASSOC_FORMAT}")
SSHARE = ("sshare", "-P", "-a", "-l")
SCONTROL_CONFIG = ("scontrol", "show", "config")


def sacct_command(since: datetime) -> tuple[str, ...]:
    """All users' jobs (``-a``), one line per job (``-X``), since ``since`` in this
    machine's local time, which is how sacct reads ``-S``."""
    local = since.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    return ("sacct", "--json", "-a", "-X", "-S", local)


class SlurmCliSource:
    """The read-only Slurm client over its commands."""

    def __init__(
        self,
        runner: CommandRunner,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runner = runner
        self.clock = clock

    def jobs(self) -> tuple[SlurmJob, ...]:
        """Pending and running jobs (and those finished within MinJobAge)."""
        as_of = self.clock()
        text = self.runner.run(SQUEUE)
        return parse_jobs(parse_json(command_text(SQUEUE), text), as_of)

    def nodes(self) -> tuple[SlurmNode, ...]:
        text = self.runner.run(SINFO)
        return parse_nodes(parse_json(command_text(SINFO), text))

    def history(self, since: datetime) -> tuple[SlurmJob, ...]:
        argv = sacct_command(since)
        return parse_history(parse_json(command_text(argv), self.runner.run(argv)))

    def associations(self) -> tuple[Association, ...]:
        text = self.runner.run(SACCTMGR_ASSOC)
        return parse_associations(command_text(SACCTMGR_ASSOC), text)

    def fairshare(self) -> tuple[FairShare, ...]:
        return parse_fairshare(command_text(SSHARE), self.runner.run(SSHARE))

    def config(self) -> SlurmConfig:
        text = self.runner.run(SCONTROL_CONFIG)
        return parse_config(command_text(SCONTROL_CONFIG), text)

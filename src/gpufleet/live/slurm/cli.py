"""Slurm read through its own commands, each run through a :class:`CommandRunner` (the
real one runs them here with ``SLURM_CONF``; the replay one answers from recordings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gpufleet.live.errors import SourceError
from gpufleet.live.jsonread import parse_json
from gpufleet.live.runner import CommandRunner, command_text
from gpufleet.live.slurm.accounting import (
    ASSOC_FORMAT,
    parse_associations,
    parse_config,
    parse_fairshare,
)
from gpufleet.live.slurm.jobs_json import parse_jobs, parse_nodes
from gpufleet.live.slurm.jobs_text import JobDetails, read_text_jobs
from gpufleet.live.slurm.model import (
    Association,
    FairShare,
    SlurmConfig,
    SlurmJob,
    SlurmNode,
)
from gpufleet.live.slurm.nodes_text import SINFO_TEXT, parse_sinfo_text
from gpufleet.live.slurm.sacct_json import parse_history

SQUEUE = ("squeue", "--json")
JOBS_FORMATS = ("text", "json")
NODES_FORMATS = ("text", "json")
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
    """The read-only Slurm client over its commands.

    ``jobs_format`` says how :meth:`jobs` reads the job list: ``json`` (``squeue
    --json``, every field) or ``text`` (squeue's text fields and, for what they lack, the
    lookups of :mod:`gpufleet.live.slurm.jobs_text`, remembered in ``details`` from one
    call to the next). A lookup that failed leaves that job's GPUs unmeasured and is in
    :attr:`job_problems` until the next call. ``nodes_format`` likewise: ``json`` (``sinfo
    --json``) or ``text`` (sinfo's text fields, :mod:`gpufleet.live.slurm.nodes_text`:
    the same nodes)."""

    def __init__(
        self,
        runner: CommandRunner,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jobs_format: str = "json",
        details: JobDetails | None = None,
        nodes_format: str = "json",
    ) -> None:
        if jobs_format not in JOBS_FORMATS:
            raise ValueError(f"jobs_format {jobs_format!r}: expected one of {JOBS_FORMATS}")
        if nodes_format not in NODES_FORMATS:
            raise ValueError(f"nodes_format {nodes_format!r}: expected one of {NODES_FORMATS}")
        self.runner = runner
        self.clock = clock
        self.jobs_format = jobs_format
        self.nodes_format = nodes_format
        self.details = details if details is not None else JobDetails()
        self.job_problems: tuple[SourceError, ...] = ()

    def jobs(self) -> tuple[SlurmJob, ...]:
        """Pending and running jobs (and those finished within MinJobAge)."""
        as_of = self.clock()
        if self.jobs_format == "text":
            read = read_text_jobs(self.runner, as_of, self.details)
            self.job_problems = read.problems
            return read.jobs
        text = self.runner.run(SQUEUE)
        return parse_jobs(parse_json(command_text(SQUEUE), text), as_of)

    def nodes(self) -> tuple[SlurmNode, ...]:
        if self.nodes_format == "text":
            return parse_sinfo_text(command_text(SINFO_TEXT), self.runner.run(SINFO_TEXT))
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

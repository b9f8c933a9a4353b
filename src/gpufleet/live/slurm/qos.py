"""Slurm's QOS limits, read through ``sacctmgr -P show qos`` (issue 18, item 1).

The columns asked for are the ones the Slurm policies model (resource_limits.html, "QOS
specific limits"): ``GrpTRES`` and ``GrpJobs`` (all the QOS's running jobs together),
``MaxTRES`` (per job), ``MaxTRESPerUser`` and ``MaxJobsPerUser`` (per user; sacctmgr
prints them as ``MaxTRESPU``, ``MaxJobsPU``), with ``Priority`` and ``Flags`` (whether it
overrides a partition's QOS: ``OverPartQOS``) for the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.live.jsonread import At
from gpufleet.live.runner import CommandRunner, command_text
from gpufleet.live.slurm.gres import tres_list
from gpufleet.live.slurm.model import TresLimit
from gpufleet.live.slurm.text import Row, pipe_table

QOS_FORMAT = "Name,Priority,Flags,GrpTRES,GrpJobs,MaxTRES,MaxTRESPerUser,MaxJobsPerUser"
SACCTMGR_QOS = ("sacctmgr", "-P", "show", "qos", f"format={QOS_FORMAT}")
_COLUMNS = ("Name", "Priority", "Flags", "GrpTRES", "GrpJobs", "MaxTRES", "MaxTRESPU", "MaxJobsPU")


@dataclass(frozen=True)
class SlurmQos:
    """One QOS row. ``max_tres_per_user`` is ``MaxTRESPerUser``; ``flags`` as Slurm
    prints them (``OverPartQOS``, ``DenyOnLimit``, ...)."""

    name: str
    priority: int
    flags: tuple[str, ...]
    grp_tres: tuple[TresLimit, ...]
    grp_jobs: int | None
    max_tres_per_job: tuple[TresLimit, ...]
    max_tres_per_user: tuple[TresLimit, ...]
    max_jobs_per_user: int | None


def read_qos(runner: CommandRunner) -> tuple[SlurmQos, ...]:
    """Every QOS (``SourceError`` naming the line and column of a bad value)."""
    return parse_qos(command_text(SACCTMGR_QOS), runner.run(SACCTMGR_QOS))


def parse_qos(source: str, text: str) -> tuple[SlurmQos, ...]:
    """Every row of ``sacctmgr -P show qos format=QOS_FORMAT``."""
    out = []
    for row in pipe_table(source, text, _COLUMNS):
        if not row.text("Name"):
            raise row.fail("Name", "is empty", "the QOS's name")
        out.append(
            SlurmQos(
                name=row.text("Name"),
                priority=row.opt_whole("Priority") or 0,
                flags=tuple(f for f in row.text("Flags").split(",") if f),
                grp_tres=_tres(row, "GrpTRES"),
                grp_jobs=row.opt_whole("GrpJobs"),
                max_tres_per_job=_tres(row, "MaxTRES"),
                max_tres_per_user=_tres(row, "MaxTRESPU"),
                max_jobs_per_user=row.opt_whole("MaxJobsPU"),
            )
        )
    return tuple(out)


def _tres(row: Row, column: str) -> tuple[TresLimit, ...]:
    where = At(row.source, f"line {row.line}: {column}", row.text(column))
    return tres_list(where, row.text(column))

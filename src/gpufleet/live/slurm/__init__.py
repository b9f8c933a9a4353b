"""The read-only Slurm client: jobs, nodes, quotas, fair-share and configuration.

Two ways in, one model (:mod:`gpufleet.live.slurm.model`):

- :class:`SlurmCliSource` (the default): Slurm's commands through a ``CommandRunner``.
  It reads everything gpufleet needs (jobs, nodes, accounting history, associations,
  fair-share, configuration) with only the client commands and munge, the way an
  operator's own login node can; slurmrestd answers only jobs and nodes here and needs a
  daemon run as its own user on a socket gpufleet must share.
- :class:`SlurmRestSource`: jobs and nodes through slurmrestd's UNIX socket, for sites
  that expose slurmrestd rather than the commands.
"""

from gpufleet.live.slurm.cli import SlurmCliSource
from gpufleet.live.slurm.jobs_text import JobDetails
from gpufleet.live.slurm.model import (
    Association,
    FairShare,
    GpuAllocation,
    GpuCount,
    JobState,
    NodeState,
    PriorityWeights,
    SchedulerConfig,
    SlurmConfig,
    SlurmJob,
    SlurmNode,
    TresLimit,
)
from gpufleet.live.slurm.rest import SlurmRestSource
from gpufleet.live.slurm.source import DEFAULT_MODE, MODES, SlurmReader, open_slurm

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "Association",
    "FairShare",
    "GpuAllocation",
    "GpuCount",
    "JobDetails",
    "JobState",
    "NodeState",
    "PriorityWeights",
    "SchedulerConfig",
    "SlurmCliSource",
    "SlurmConfig",
    "SlurmJob",
    "SlurmNode",
    "SlurmReader",
    "SlurmRestSource",
    "TresLimit",
    "open_slurm",
]

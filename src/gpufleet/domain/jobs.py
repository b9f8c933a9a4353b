"""A job as submitted. Runtime state lives in the engine, not here."""

from __future__ import annotations

from typing import NamedTuple

from gpufleet.domain.ids import GpuTypeName, JobId, ProgramId

# Topology levels, innermost first: an NVLink domain lies in a rack, a rack in a network
# block, a block in a site (Kueue TAS's Topology levels).
TOPOLOGY_LEVELS = ("nvlink", "rack", "block", "site")


class JobSpec(NamedTuple):
    """One job. ``work_s`` is its run time on ``gpus`` GPUs at reference speed (H100-SXM);
    on a type with throughput r it runs ``work_s / r`` seconds. A gang job starts on all its
    GPUs at once or not at all; gpufleet schedules every job as a gang.

    Immutable, like a frozen dataclass, but a named tuple: the simulator builds one per
    arrival as ``(id, program) + draft`` (:func:`spec_of`), which costs a tenth of a frozen
    dataclass's ``__init__`` (issue 16). Its fields after ``(id, program)`` are
    :class:`JobDraft`'s, in order; change one only together with the other. Use
    ``spec._replace(...)`` where ``dataclasses.replace`` was used."""

    id: JobId
    program: ProgramId
    submit_s: float
    gpus: int
    work_s: float
    gpu_types: tuple[GpuTypeName, ...]
    priority: int = 0
    preemptible: bool = True
    checkpoint_s: float | None = None
    name: str = ""
    # the requested wall-clock limit (Slurm's --time); None: no limit was given, and
    # schedulers that need an estimate (EASY backfill) derive one from work_s
    time_limit_s: float | None = None
    # topology constraint (Kueue TAS's podset-required-topology / podset-preferred-topology):
    # a level of TOPOLOGY_LEVELS the whole gang must (required) or should (preferred) share
    topology_required: str | None = None
    topology_preferred: str | None = None
    # the Slurm user and QOS name the job was submitted under ("" where unknown or not a
    # Slurm job): the Slurm policies' per-user and QOS limits count by them
    user: str = ""
    qos: str = ""
    # checkpoint/restart: a resumed job first spends restore_s (wall seconds, its GPUs held)
    # reloading its last checkpoint before it does new work; 0 for a fresh start
    restore_s: float = 0.0
    # the job's row in its trace (0 for a generated job): jobs submitted at the same
    # instant arrive in this order, whichever programs they belong to (issue 14)
    source_row: int = 0

    @property
    def gpu_seconds(self) -> float:
        return self.gpus * self.work_s


class JobDraft(NamedTuple):
    """A job before it has an id: what workload generators and trace readers yield, in
    submit order. The simulator numbers drafts as they arrive."""

    submit_s: float
    gpus: int
    work_s: float
    gpu_types: tuple[GpuTypeName, ...]
    priority: int = 0
    preemptible: bool = True
    checkpoint_s: float | None = None
    name: str = ""
    time_limit_s: float | None = None
    topology_required: str | None = None
    topology_preferred: str | None = None
    user: str = ""
    qos: str = ""
    restore_s: float = 0.0
    source_row: int = 0


_new_tuple = tuple.__new__


def spec_of(job_id: JobId, program: ProgramId, draft: JobDraft) -> JobSpec:
    """The spec of ``draft`` once it has an id and a program: one tuple concatenation, no
    per-field call (the simulator's hot path)."""
    return _new_tuple(JobSpec, (job_id, program, *draft))

"""Slurm semantics as gpufleet policies: multifactor priority and EASY backfill.

The formulas and their sources are in :mod:`gpufleet.policies.slurm.priority` and
:mod:`gpufleet.policies.slurm.backfill`."""

from gpufleet.policies.slurm.backfill import SlurmBackfill
from gpufleet.policies.slurm.priority import SlurmMultifactor

__all__ = ["SlurmBackfill", "SlurmMultifactor"]

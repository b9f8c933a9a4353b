"""Slurm semantics as gpufleet policies: multifactor priority and EASY backfill.

The formulas and their sources are in :mod:`gpufleet.policies.slurm_priority` and
:mod:`gpufleet.policies.slurm_backfill`."""

from gpufleet.policies.slurm_backfill import SlurmBackfill
from gpufleet.policies.slurm_priority import SlurmMultifactor

__all__ = ["SlurmBackfill", "SlurmMultifactor"]

"""Slurm semantics as gpufleet policies: multifactor priority, Slurm's planning backfill
(``slurm-backfill``) and EASY backfill (``slurm-backfill-easy``), association and QOS limits,
and the configuration read from Slurm's own text.

The formulas and their sources are in :mod:`gpufleet.policies.slurm.priority`,
:mod:`gpufleet.policies.slurm.plan`, :mod:`gpufleet.policies.slurm.backfill`,
:mod:`gpufleet.policies.slurm.limits`, :mod:`gpufleet.policies.slurm.fairtree` and
:mod:`gpufleet.policies.slurm.conftext`."""

from gpufleet.policies.slurm.backfill import SlurmBackfillEasy
from gpufleet.policies.slurm.plan import SlurmBackfill
from gpufleet.policies.slurm.priority import SlurmMultifactor
from gpufleet.policies.slurm.setup import Account, AssocLimits, QosLimits, SlurmSetup

__all__ = [
    "Account",
    "AssocLimits",
    "QosLimits",
    "SlurmBackfill",
    "SlurmBackfillEasy",
    "SlurmMultifactor",
    "SlurmSetup",
]

"""The upper bounds of the scenario format's fields that scale the engine's work, in
one place (constants only: :mod:`gpufleet.inputs.scenario.schema` applies them, and
:mod:`gpufleet.inputs.scenario.limits` says how they were chosen and bounds the totals)."""

from __future__ import annotations

MAX_JOBS_PER_DAY = 100_000.0
"""A generator's ``jobs_per_day`` (busy public traces: Alibaba PAI ~20,000 a day)."""
MAX_JOB_COUNT = 1_000_000
"""A listed job's ``count``."""
MAX_JOB_GPUS = 100_000
"""GPUs of one job (a gang), listed or drawn."""
MAX_HOURS = 87_660.0
"""A duration, checkpoint interval or time limit, in hours (10 years)."""
MAX_SIGMA = 10.0
"""A lognormal duration's ``sigma`` (e^10 ~ 22,000 times the median already)."""
MAX_CHOICES = 1_000
"""Entries of a ``choices`` list."""
MAX_SCALE_LOAD = 100.0
"""A trace's ``scale_load``."""
MAX_POOL_NODES = 100_000
"""A pool's ``nodes``."""
MAX_GPUS_PER_NODE = 128
MAX_TOPOLOGY = 1_024
"""``nvlink_domain_gpus``, ``nodes_per_rack``, ``racks_per_block``."""
MIN_MTBF_HOURS = 1.0
"""``failures.node_mtbf_hours``: at least an hour."""
MAX_SEED = 2**63 - 1
"""The scenario's ``seed``: from 0 (NumPy's seeds are non-negative) to the largest 64-bit
integer (a run's seeds are ``seed``, ``seed + 1``...; its store's columns are 64-bit)."""


def seed_arg(text: str) -> int:
    """argparse ``type=`` for ``--seed``: an integer from 0 to :data:`MAX_SEED` (NumPy
    seeds are non-negative), else argparse's usage error (exit 2) saying so."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is outside 0 .. {MAX_SEED}")
    return value

"""The kinds of run the queue executes, kept in a registry so the queue does not import
the units whose runs it executes: each kind says how to read what it needs from the
register and how to record its result; the queue does the rest (claiming, budgets,
storing, auditing).

``whatif`` is registered by :mod:`.queue`; ``assessment`` by
:mod:`gpufleet.governance.transfers.lifecycle`, which queues assessments, so any process
that can queue one (the service, the CLI, the tests) has its kind registered.

Every kind compares two arms, the plan (:data:`BASE`) and a changed plan, under the same
seeds, so what they share is here: the seeds, the prepared arms, strict JSON results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.governance.store.db import Tx
from gpufleet.governance.store.models import Run
from gpufleet.registry import Registry

BASE = "plan"
"""The name of the arm without the change: the plan as it stands."""
DEFAULT_SEEDS = 3
MAX_SEEDS = 50


@dataclass(frozen=True)
class Prepared:
    """What a run computes on, read from the register in one short read. It travels
    pickled to the run's child process, ``compute`` by its module and name."""

    compute: Callable[[Prepared], dict[str, Any]]
    base: Scenario
    arm: Scenario
    arm_name: str
    seeds: int
    markup: float = 0.0
    market_rate: float | None = None
    transfer_name: str = ""


@dataclass(frozen=True)
class RunKind:
    """``prepare``: the run's inputs from the register (raises for a bad request);
    ``record``: after the result is stored, in the same transaction (None: nothing to do);
    raising :class:`~gpufleet.errors.ConflictError` keeps the result, not recorded."""

    prepare: Callable[[Session, Run], Prepared]
    record: Callable[[Tx, Run], object] | None = None


RUN_KINDS = Registry[RunKind]("run kind")


def seed_list(base: Scenario, seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as a list: a count n gives the plan's seed and the n - 1 after it."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise InputError(f"seeds: {seeds}; expected at least 1")
        return [base.seed + i for i in range(seeds)]
    if not seeds:
        raise InputError("seeds: an empty list; expected at least one seed")
    return list(seeds)


def json_safe(v: Any) -> Any:
    """``v`` as strict JSON values: NaN and infinities become None, tuples lists, numpy
    scalars Python numbers (PostgreSQL's JSON refuses NaN)."""
    if isinstance(v, Mapping):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_safe(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    item = getattr(v, "item", None)  # numpy scalars
    if callable(item):
        return json_safe(item())
    return str(v)

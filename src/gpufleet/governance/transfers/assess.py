"""What a candidate transfer would do: the plan with it against the plan without it.

Two arms, simulated under the same seeds (paired, see :mod:`gpufleet.planning.whatif.stats`):

- ``plan``: the plan as approved (approved, active and ended transfers included);
- ``with-transfer``: the same plus the candidate.

The summary gives, per program, the milestone shift (days late with the transfer minus
days late without it; negative: earlier) and the queueing-delay deltas, each a paired
mean with its 95% interval and a ``within_noise`` flag (the interval holds 0); the
fleet's stranded GPU-days in both arms (GPUs delivered but without ready power); and the
charge for the candidate (:mod:`gpufleet.planning.whatif.charges`: cost-plus, or a market rate):
``fair_usd`` against the agreed ``price_usd``. The full comparison rides along.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.store.models import Transfer
from gpufleet.planning.whatif.charges import charges
from gpufleet.planning.whatif.compare import compare

BASE, ARM = "plan", "with-transfer"
DEFAULT_SEEDS = 3


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


def arms_for(s: Session, candidate: Transfer) -> tuple[Scenario, Scenario]:
    """(the plan, the plan with ``candidate``) from the register, both validated."""
    return plan_scenario(s), plan_scenario(s, extra_transfers=[candidate])


def seed_list(base: Scenario, seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as a list: a count n gives the plan's seed and the n - 1 after it."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise InputError(f"seeds: {seeds}; expected at least 1")
        return [base.seed + i for i in range(seeds)]
    if not seeds:
        raise InputError("seeds: an empty list; expected at least one seed")
    return list(seeds)


def assess(
    base: Scenario,
    arm: Scenario,
    transfer_name: str,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    markup: float = 0.0,
    market_rate: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Compare ``base`` with ``arm`` (= base + the transfer named ``transfer_name``) over
    ``seeds``; the summary described in the module docstring, as JSON values."""
    arms = {BASE: base, ARM: arm}
    comp = compare(BASE, arms, seed_list(base, seeds), 1, progress, market_rate, markup)
    d = comp.to_dict()
    delta = d["deltas"][ARM]
    programs: dict[str, Any] = {}
    for prog, m in delta["programs"].items():
        ms_base = d["arms"][BASE]["milestones"].get(prog)
        ms_arm = d["arms"][ARM]["milestones"].get(prog)
        programs[prog] = {
            "milestone": None
            if ms_base is None
            else {
                "due": ms_base["due"],
                "shift_days": m["milestone_delay_days"],
                "reached_without": ms_base["reached"],
                "reached_with": ms_arm["reached"] if ms_arm else [],
                "not_reached_without": ms_base["not_reached"],
                "not_reached_with": ms_arm["not_reached"] if ms_arm else 0,
            },
            "queueing_delay_mean_s": m["queueing_delay_mean_s"],
            "queueing_delay_p95_s": m["queueing_delay_p95_s"],
        }
    stranded = "stranded_gpu_days"
    summary = {
        "transfer": transfer_name,
        "seeds": comp.seeds,
        "arms": {"base": BASE, "with": ARM},
        "programs": programs,
        "stranded_gpu_days": {
            "without": d["arms"][BASE]["fleet"][stranded],
            "with": d["arms"][ARM]["fleet"][stranded],
            "delta": delta["fleet"][stranded],
        },
        "charge": _charge(arm, transfer_name, market_rate, markup),
        "comparison": d,
    }
    out: dict[str, Any] = json_safe(summary)
    return out


def assess_transfer(
    s: Session,
    candidate: Transfer,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    markup: float = 0.0,
    market_rate: float | None = None,
) -> dict[str, Any]:
    """:func:`assess` of a transfer row against the register's plan, in one call. It
    simulates while ``s`` is open: the background runs (:mod:`.runs`) read the plan first
    and simulate outside any transaction instead."""
    base, arm = arms_for(s, candidate)
    return assess(base, arm, candidate.name, seeds, markup, market_rate)


def _charge(
    arm: Scenario, transfer_name: str, market_rate: float | None, markup: float
) -> dict[str, Any]:
    mine = [c for c in charges(arm, market_rate, markup) if c.transfer == transfer_name]
    if not mine:
        raise InputError(f"transfer {transfer_name!r} is not in the assessed plan")
    return mine[-1].as_dict()  # the candidate comes last in the plan's timeline

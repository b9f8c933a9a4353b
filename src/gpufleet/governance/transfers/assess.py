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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gpufleet.domain.scenario import Scenario
from gpufleet.errors import InputError
from gpufleet.governance.register.plan import plan_scenario
from gpufleet.governance.runs.kinds import BASE, DEFAULT_SEEDS, json_safe, seed_list
from gpufleet.governance.store.models import TransferRow
from gpufleet.planning.whatif.charges import Charge, charges
from gpufleet.planning.whatif.compare import Comparison, FleetMetric, MilestoneSpread, compare
from gpufleet.planning.whatif.stats import Estimate

ARM = "with-transfer"


def arms_for(s: Session, candidate: TransferRow) -> tuple[Scenario, Scenario]:
    """(the plan, the plan with ``candidate``) from the register, both validated."""
    return plan_scenario(s), plan_scenario(s, extra_transfers=[candidate])


@dataclass(frozen=True)
class MilestoneShift:
    """A program's milestone with the transfer against without it: the paired shift in
    days late (negative: earlier) and, per arm, the dates reached and the seeds where it
    was not reached within the horizon."""

    due: datetime
    shift_days: Estimate
    without: MilestoneSpread
    with_: MilestoneSpread | None

    def to_dict(self) -> dict[str, object]:
        w = self.with_
        return {
            "due": self.due.isoformat(),
            "shift_days": self.shift_days.as_dict(),
            "reached_without": [d.isoformat() for d in self.without.reached],
            "reached_with": [d.isoformat() for d in w.reached] if w else [],
            "not_reached_without": self.without.not_reached,
            "not_reached_with": w.not_reached if w else 0,
        }


@dataclass(frozen=True)
class ProgramEffect:
    milestone: MilestoneShift | None
    queueing_delay_mean_s: Estimate
    queueing_delay_p95_s: Estimate

    def to_dict(self) -> dict[str, object]:
        return {
            "milestone": self.milestone.to_dict() if self.milestone else None,
            "queueing_delay_mean_s": self.queueing_delay_mean_s.as_dict(),
            "queueing_delay_p95_s": self.queueing_delay_p95_s.as_dict(),
        }


@dataclass(frozen=True)
class Assessment:
    """What the transfer named ``transfer`` would do (see the module docstring)."""

    transfer: str
    programs: dict[str, ProgramEffect]
    stranded_gpu_days_without: Estimate
    stranded_gpu_days_with: Estimate
    stranded_gpu_days_delta: Estimate
    charge: Charge
    comparison: Comparison

    def to_dict(self) -> dict[str, Any]:
        """As strict JSON values (:func:`json_safe`), estimates and dates rounded as in
        ``Comparison.to_dict``, which rides along under ``comparison``."""
        summary = {
            "transfer": self.transfer,
            "seeds": self.comparison.seeds,
            "arms": {"base": BASE, "with": ARM},
            "programs": {k: p.to_dict() for k, p in self.programs.items()},
            "stranded_gpu_days": {
                "without": self.stranded_gpu_days_without.as_dict(),
                "with": self.stranded_gpu_days_with.as_dict(),
                "delta": self.stranded_gpu_days_delta.as_dict(),
            },
            "charge": self.charge.as_dict(),
            "comparison": self.comparison.to_dict(),
        }
        out: dict[str, Any] = json_safe(summary)
        return out


def assessment(
    base: Scenario,
    arm: Scenario,
    transfer_name: str,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    markup: float = 0.0,
    market_rate: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> Assessment:
    """Compare ``base`` with ``arm`` (= base + the transfer named ``transfer_name``) over
    ``seeds``, as typed figures."""
    arms = {BASE: base, ARM: arm}
    comp = compare(BASE, arms, seed_list(base, seeds), 1, progress, market_rate, markup)
    without, with_, delta = comp.arm(BASE), comp.arm(ARM), comp.deltas(ARM)
    programs: dict[str, ProgramEffect] = {}
    for prog, m in delta.programs.items():
        ms = without.milestones.get(prog)
        shift = (
            None
            if ms is None
            else MilestoneShift(ms.due, m["milestone_delay_days"], ms, with_.milestones.get(prog))
        )
        programs[prog] = ProgramEffect(shift, m["queueing_delay_mean_s"], m["queueing_delay_p95_s"])
    stranded: FleetMetric = "stranded_gpu_days"
    return Assessment(
        transfer_name,
        programs,
        without.figures.fleet[stranded],
        with_.figures.fleet[stranded],
        delta.fleet[stranded],
        _charge(arm, transfer_name, market_rate, markup),
        comp,
    )


def assess(
    base: Scenario,
    arm: Scenario,
    transfer_name: str,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    markup: float = 0.0,
    market_rate: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """:func:`assessment` as JSON values (what a run stores and the API returns)."""
    return assessment(base, arm, transfer_name, seeds, markup, market_rate, progress).to_dict()


def assess_transfer(
    s: Session,
    candidate: TransferRow,
    seeds: int | Sequence[int] = DEFAULT_SEEDS,
    markup: float = 0.0,
    market_rate: float | None = None,
) -> dict[str, Any]:
    """:func:`assess` of a transfer row against the register's plan, in one call. It
    simulates while ``s`` is open: the background runs (:mod:`gpufleet.governance.runs`)
    read the plan first and simulate outside any transaction instead."""
    base, arm = arms_for(s, candidate)
    return assess(base, arm, candidate.name, seeds, markup, market_rate)


def _charge(arm: Scenario, transfer_name: str, market_rate: float | None, markup: float) -> Charge:
    mine = [c for c in charges(arm, market_rate, markup) if c.transfer == transfer_name]
    if not mine:
        raise InputError(f"transfer {transfer_name!r} is not in the assessed plan")
    return mine[-1]  # the candidate comes last in the plan's timeline

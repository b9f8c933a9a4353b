"""The what-if comparison's JSON, as types: what ``Comparison.to_dict`` writes (``whatif.json``,
``--json``, a stored run's ``comparison``) and what the report reads back. Estimates are
rounded to 4 decimals, dates are ISO text; see :mod:`gpufleet.planning.whatif.compare`."""

from __future__ import annotations

from typing import TypedDict

from gpufleet.planning.whatif.charges import ChargeJson
from gpufleet.planning.whatif.stats import EstimateJson

# metric name -> its estimate (the metric names are compare's PROGRAM_METRICS, ...)
Estimates = dict[str, EstimateJson]


class FiguresJson(TypedDict):
    programs: dict[str, Estimates]
    entities: dict[str, Estimates]
    fleet: Estimates


class MilestoneSpreadJson(TypedDict):
    due: str
    reached: list[str]
    not_reached: int


class ArmJson(FiguresJson):
    scenario: str
    milestones: dict[str, MilestoneSpreadJson]


class ComparisonJson(TypedDict):
    base: str
    variants: list[str]
    seeds: list[int]
    arms: dict[str, ArmJson]
    deltas: dict[str, FiguresJson]
    charges: dict[str, list[ChargeJson]]

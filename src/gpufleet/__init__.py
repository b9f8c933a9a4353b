"""gpufleet: plan, schedule, simulate and govern a shared fleet of AI accelerators."""

from gpufleet.api import (
    WhatIf,
    article_scenario_path,
    load_scenario,
    run_variants,
    simulate,
    whatif,
)
from gpufleet.errors import GpufleetError, InputError, ScenarioError

__version__ = "0.1.0"

__all__ = [
    "GpufleetError",
    "InputError",
    "ScenarioError",
    "WhatIf",
    "__version__",
    "article_scenario_path",
    "load_scenario",
    "run_variants",
    "simulate",
    "whatif",
]

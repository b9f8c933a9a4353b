"""gpufleet: plan, schedule, simulate and govern a shared fleet of AI accelerators."""

from gpufleet.api import article_scenario_path, load_scenario, run_variants, simulate
from gpufleet.errors import GpufleetError, InputError, ScenarioError

__version__ = "0.1.0"

__all__ = [
    "GpufleetError",
    "InputError",
    "ScenarioError",
    "__version__",
    "article_scenario_path",
    "load_scenario",
    "run_variants",
    "simulate",
]

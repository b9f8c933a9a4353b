"""Scenario files: YAML in, validated domain objects out, every problem located."""

from gpufleet.inputs.scenario.load import load_scenario, load_scenario_text, validate_file

__all__ = ["load_scenario", "load_scenario_text", "validate_file"]

"""Scenario schema, loader and the YAML suite."""

from scenarios.loader import ScenarioError, check_placements, list_suite, load_scenario, scenario_from_dict
from scenarios.schema import Scenario

__all__ = ["Scenario", "ScenarioError", "check_placements", "list_suite", "load_scenario", "scenario_from_dict"]

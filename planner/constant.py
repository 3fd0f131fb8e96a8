"""A planner that always gives the same answer: a baseline that shows the metrics can fail (`ACCELERATE, STRAIGHT`
drives through red lights and into whatever is ahead)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.actions import MetaAction
from planner.config import from_mapping
from planner.interface import Plan, PlannerInput


@dataclass(frozen=True)
class ConstantPlannerConfig:
    name: str = "constant"
    speed: str = "ACCELERATE"
    path: str = "STRAIGHT"
    reasoning: str = "always the same answer"

    def __post_init__(self) -> None:
        MetaAction(self.speed, self.path)  # raises with the vocabulary on a bad word


class ConstantPlanner:
    uses_image = False

    def __init__(self, config: ConstantPlannerConfig | None = None) -> None:
        self.config = config or ConstantPlannerConfig()
        self.name = self.config.name
        self.action = MetaAction(self.config.speed, self.config.path)

    def plan(self, planner_input: PlannerInput) -> Plan:
        return Plan(action=self.action, reasoning=self.config.reasoning)


def build_constant_planner(config: Any) -> ConstantPlanner:
    """From a Hydra node, a mapping or a ConstantPlannerConfig (unknown keys are rejected)."""
    return ConstantPlanner(from_mapping(ConstantPlannerConfig, config))

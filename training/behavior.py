"""Who drives during collection: the expert, the expert perturbed for a few steps, or a learned planner (DAgger).

The expert labels every step whoever drives. A perturbation holds a wrong action for a few steps so the data shows the
way back; a learner (any non-privileged planner: a checkpoint, `constant`, ...) drives the steps it is given, so the
data covers the states the learner itself gets into, which is what cures behaviour cloning's causal confusion (a car
that learnt "stopped -> STOP" meets its own standstill, labelled ACCELERATE by the expert).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS
from planner.config import ConfigError
from planner.interface import Planner, PlannerInput

EXPERT, PERTURBED, LEARNER = "expert", "perturbed", "learner"


@dataclass(frozen=True)
class BehaviorConfig:
    """Mostly the expert drives; now and then a perturbed action is held for a few steps; with a `learner`, the
    learner's action is executed with probability `learner_prob` at every step (DAgger's 1 - beta)."""

    perturb_prob: float = 0.08  # chance per expert-driven step to start a perturbation
    perturb_steps: tuple[int, int] = (2, 6)  # how many steps a perturbation is held (inclusive range)
    speed_only: float = 0.7  # chance that only the speed action is perturbed (the expert's path is kept)
    warmup_steps: int = 2  # no perturbation in an episode's first steps
    learner: Mapping[str, Any] | None = None  # a planner config as run_route's `planner`, e.g. {name: vlm, model: DIR}
    learner_prob: float = 0.5  # chance per step that the learner's action is executed

    def __post_init__(self) -> None:
        if not (0.0 <= self.perturb_prob <= 1.0 and 0.0 <= self.speed_only <= 1.0):
            raise ValueError("behavior.perturb_prob and behavior.speed_only must be in [0, 1]")
        if not 1 <= self.perturb_steps[0] <= self.perturb_steps[1]:
            raise ValueError(f"behavior.perturb_steps must be 1 <= low <= high, got {self.perturb_steps}")
        if not 0.0 <= self.learner_prob <= 1.0:
            raise ValueError(f"behavior.learner_prob must be in [0, 1], got {self.learner_prob}")


# One learner per worker process and config: a model loads once, not once per episode.
_LEARNERS: dict[str, Planner] = {}


def load_learner(config: Mapping[str, Any]) -> Planner:
    """The learner planner of a behaviour config (cached per process); privileged planners cannot be learners."""
    from sim.builders import planner_factory

    key = json.dumps(dict(config), sort_keys=True, default=str)
    if key not in _LEARNERS:
        make, privileged, name = planner_factory(config)
        if privileged:
            raise ConfigError(f"behavior.learner: {name} reads ground truth; a learner must drive from the camera")
        _LEARNERS[key] = make()
    return _LEARNERS[key]


@dataclass
class BehaviorPolicy:
    config: BehaviorConfig
    rng: np.random.Generator
    learner: Planner | None = None
    remaining: int = 0
    current: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.int64))

    def act(self, expert: np.ndarray, step: int, observation: PlannerInput | None = None) -> tuple[np.ndarray, str]:
        """(action to execute, who chose it): the learner's, a perturbation in progress, or the expert's."""
        cfg, rng = self.config, self.rng
        if self.learner is not None and observation is not None and rng.random() < cfg.learner_prob:
            action = self.learner.plan(observation).action
            return np.array([SPEED_ACTIONS.index(action.speed), PATH_ACTIONS.index(action.path)]), LEARNER
        if self.remaining == 0 and step >= cfg.warmup_steps and rng.random() < cfg.perturb_prob:
            self.remaining = int(rng.integers(cfg.perturb_steps[0], cfg.perturb_steps[1] + 1))
            speed = rng.choice([i for i in range(len(SPEED_ACTIONS)) if i != expert[0]])
            path = expert[1]
            if rng.random() >= cfg.speed_only:
                path = rng.choice([i for i in range(len(PATH_ACTIONS)) if i != expert[1]])
            self.current = np.array([speed, path], dtype=np.int64)
        if self.remaining > 0:
            self.remaining -= 1
            return self.current.copy(), PERTURBED
        return np.asarray(expert, dtype=np.int64).copy(), EXPERT

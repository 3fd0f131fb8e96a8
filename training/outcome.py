"""Outcome rewards: drive a candidate meta-action from a saved simulator state and score what happens.

From a `DriveEnv` snapshot the candidate action is held for `horizon_s` (the controller turns it into controls every
tick), then the expert may drive `expert_horizon_s` more so that delayed consequences show (a STOP that leaves the
car standing in a junction, an ACCELERATE that runs into a red light a second later). The result is a set of named
terms; the reward is their weighted sum, weights in config. This lives in training/: it drives the simulator, which
planner/ (the rewards on labels) never imports.

Terms (per rollout):
- progress: metres gained along the route / `progress_norm_m`
- collision_vehicle, collision_pedestrian, collision_static, red_light, stop_sign, off_road, outside_route_lanes:
  1 when it happened (outside_route_lanes: the share of the rollout's route it covered)
- wrong_branch: the ego left its route (deviation, or farther than `off_route_m` from it at the end)
- ttc: how far the smallest time-to-collision with an actor ahead fell below `ttc_threshold_s`, in [0, 1]
- jerk: how far the peak longitudinal jerk exceeded Bench2Drive's 4.13 m/s^3, per 4.13
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.actions import MetaAction
from planner.scene import overlaps_corridor, track_actors
from sim.core import WorldState
from sim.env import DriveEnv, index_of
from sim.metrics import COMFORT_BOUNDS, comfort

INFRACTION_TERMS = (  # the terms that say the rollout broke a rule or left its road or route
    "collision_vehicle",
    "collision_pedestrian",
    "collision_static",
    "red_light",
    "stop_sign",
    "off_road",
    "outside_route_lanes",
    "wrong_branch",
)
TERMS = ("progress", *INFRACTION_TERMS, "ttc", "jerk")
INFRACTION_TERM = {
    "collisions_vehicle": "collision_vehicle",
    "collisions_pedestrian": "collision_pedestrian",
    "collisions_layout": "collision_static",
    "red_light": "red_light",
    "stop_infraction": "stop_sign",
    "off_road": "off_road",
    "route_dev": "wrong_branch",
}


def _default_weights() -> dict[str, float]:
    return {
        "progress": 1.0,
        "collision_vehicle": -6.0,
        "collision_pedestrian": -10.0,
        "collision_static": -5.0,
        "red_light": -4.0,
        "stop_sign": -2.0,
        "off_road": -3.0,
        "outside_route_lanes": -2.0,
        "wrong_branch": -3.0,
        "ttc": -2.0,
        "jerk": -0.5,
    }


@dataclass(frozen=True)
class OutcomeConfig:
    horizon_s: float = 3.0  # the candidate action is held this long
    expert_horizon_s: float = 2.0  # then the expert drives this long; 0: no hand-over
    weights: Mapping[str, float] = field(default_factory=_default_weights)
    progress_norm_m: float = 10.0
    ttc_threshold_s: float = 2.0
    off_route_m: float = 4.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(TERMS))
        if unknown:
            raise ValueError(f"outcome.weights: unknown term(s) {unknown}; terms are {list(TERMS)}")
        if self.horizon_s <= 0 or self.expert_horizon_s < 0:
            raise ValueError("outcome.horizon_s must be > 0 and outcome.expert_horizon_s >= 0")


def min_time_to_collision(world: WorldState) -> float:
    """Smallest time to collision with an actor ahead in the ego's lane corridor (inf when nothing closes in)."""
    ego = world.ego
    d_ego = world.route.project(ego.x, ego.y, s_hint=world.route_s)[1]
    best = math.inf
    for t in track_actors(world, behind_m=0.0, ahead_m=60.0):
        if t.ahead < 0.0 or not overlaps_corridor(t.d, t.half_across, d_ego, ego.width / 2 + 0.3):
            continue
        closing = ego.speed - t.along_speed
        if closing > 0.1:
            best = min(best, t.ahead / closing)
    return best


def rollout_terms(env: DriveEnv, state: bytes, action: MetaAction, config: OutcomeConfig) -> dict[str, float]:
    """Restore `state`, hold `action` for the horizon (then let the expert drive), return the named terms."""
    env.restore(state)
    start = env.progress_m
    terms = dict.fromkeys(TERMS, 0.0)
    speeds: list[float] = [env.world.ego.speed]
    times: list[float] = [env.world.time]
    ttc = math.inf
    steps = max(1, round(config.horizon_s / env.config.plan_period))
    expert_steps = round(config.expert_horizon_s / env.config.plan_period)
    info: dict[str, Any] = {"expert_index": index_of(env.label.action)}
    chosen = index_of(action)
    for k in range(steps + expert_steps):
        _, _, terminated, truncated, info = env.step(chosen if k < steps else info["expert_index"])
        trajectory = info["trajectory"]
        speeds += list(trajectory["speed"])
        times += list(trajectory["t"])
        ttc = min(ttc, min_time_to_collision(env.world))
        for infraction in info["infractions"]:
            term = INFRACTION_TERM.get(infraction["type"])
            if term is not None:
                terms[term] = 1.0
            elif infraction["type"] == "outside_route_lanes":
                share = float(infraction.get("details", {}).get("percentage", 0.0)) / 100.0
                terms["outside_route_lanes"] = max(terms["outside_route_lanes"], share or 1.0)
        if terminated or truncated:
            break
    world = env.world
    terms["progress"] = (env.progress_m - start) / config.progress_norm_m
    if abs(world.route.project(world.ego.x, world.ego.y, s_hint=world.route_s)[1]) > config.off_route_m:
        terms["wrong_branch"] = 1.0
    if math.isfinite(ttc):
        terms["ttc"] = max(0.0, config.ttc_threshold_s - ttc) / config.ttc_threshold_s
    bound = COMFORT_BOUNDS["jerk"][1]
    peak = comfort(times, speeds, [0.0] * len(speeds))["max_abs_jerk"]
    terms["jerk"] = max(0.0, peak - bound) / bound
    return {k: float(np.round(v, 6)) for k, v in terms.items()}


def outcome_reward(terms: Mapping[str, float], config: OutcomeConfig) -> float:
    return float(sum(config.weights.get(name, 0.0) * value for name, value in terms.items()))

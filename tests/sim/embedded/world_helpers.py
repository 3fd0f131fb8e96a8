"""Scenario builders and a simple route-following driver for the embedded-world tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scenarios import Scenario, scenario_from_dict
from sim.core import ActorKind, VehicleControl, WorldState
from sim.embedded.backend import EmbeddedBackend

# A 3x3 grid where every junction with three or more arms has lights. Row 1 runs at y = 90; its eastbound lanes
# are at y = 88.25 (lane 0) and 84.75 (lane 1); junction J1_1 sits at (90, 90) and its box spans x = 77..103.
GRID = {"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 90, "signalised": 1.0, "curved": 0.0}
EAST_START = [20.0, 88.25, 0.0]


def scenario(**fields: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "test",
        "description": "test scenario",
        "map": GRID,
        "seed": 3,
        "route": {"start": EAST_START, "maneuvers": ["straight"], "length_m": 60},
    }
    data.update(fields)
    return scenario_from_dict(data)


def backend(sc: Scenario, seed: int = 0) -> EmbeddedBackend:
    b = EmbeddedBackend(render=False)
    b.load(sc, seed)
    return b


def follow_route(gt: WorldState, speed: float, brake_for_pedestrians: bool = False) -> VehicleControl:
    """Pure pursuit on the route plus a proportional speed hold; optionally brakes for anyone on the road ahead."""
    ego, route = gt.ego, gt.route
    tx, ty, _ = route.to_world(gt.route_s + max(5.0, 0.8 * ego.speed))
    alpha = math.atan2(ty - ego.y, tx - ego.x) - ego.yaw
    look = math.hypot(tx - ego.x, ty - ego.y)
    delta = math.atan2(2 * 2.9 * math.sin(alpha), look)
    steer = float(np.clip(-delta / math.radians(35.0), -1, 1))
    err = speed - ego.speed
    throttle, brake = (min(1.0, 0.5 * err), 0.0) if err > 0 else (0.0, min(1.0, -0.5 * err))
    if brake_for_pedestrians:
        c, s = math.cos(ego.yaw), math.sin(ego.yaw)
        for a in gt.actors:
            if a.kind == ActorKind.PEDESTRIAN:
                along = (a.x - ego.x) * c + (a.y - ego.y) * s
                across = -(a.x - ego.x) * s + (a.y - ego.y) * c
                if 0 < along < 25 and abs(across) < 2.5:
                    throttle, brake = 0.0, 1.0
    return VehicleControl.clipped(throttle, steer, brake)

"""Shared pieces of the controller tests: a generated town, routes on it, and the embedded ego model driven by the
meta-action controller with one decision every 0.5 s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from controller.meta_action import MetaActionController, MetaActionControllerConfig
from planner.actions import MetaAction
from sim.core import EgoState, Turn, VehicleControl
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.routing import PlannedRoute, route_from_seed
from sim.embedded.towns import build_network
from sim.embedded.vehicle import KinematicBicycle, VehicleParams

DT = 0.05


def build_town() -> tuple[LaneGraph, EmbeddedRoadMap]:
    graph = LaneGraph(build_network({"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "curved": 0.0}, seed=3))
    return graph, EmbeddedRoadMap(graph)


def simple_route(graph: LaneGraph, road_map: EmbeddedRoadMap, turn: Turn) -> PlannedRoute:
    """A route whose first lane itself offers `turn` (no lane change needed before the junction)."""
    for seed in range(200):
        planned = route_from_seed(graph, [turn.value], np.random.default_rng(seed))
        if not planned.lane_changes and turn in road_map.turns_ahead(planned.route.lane_ids[0]):
            return planned
    raise AssertionError(f"no simple {turn} route on the test town")


@dataclass
class Drive:
    controller: MetaActionController
    states: list[EgoState] = field(default_factory=list)  # after each tick
    controls: list[VehicleControl] = field(default_factory=list)
    applied: list[tuple[float, float]] = field(default_factory=list)  # MPC law: (accel m/s^2, wheel angle rad)


def drive(
    road_map: EmbeddedRoadMap,
    planned: PlannedRoute,
    actions: Sequence[MetaAction],
    seconds: float,
    speed0: float = 0.0,
    start_s: float = 0.0,
    config: MetaActionControllerConfig | None = None,
) -> Drive:
    """Drive with one decision every 0.5 s (`actions[k]`, the last one repeated) until 10 m before the route's end."""
    route = planned.route
    x, y, yaw = route.to_world(start_s)
    car = KinematicBicycle.at_centre(VehicleParams(), x, y, yaw, speed0)
    run = Drive(MetaActionController(road_map, config))
    run.controller.reset(initial_speed=speed0)
    s_now = start_s
    for tick in range(int(seconds / DT)):
        ego = car.ego_state()
        s_now = route.project(ego.x, ego.y, s_hint=s_now)[0]
        if s_now > route.length - 10.0:  # what happens after the route's end is not under test
            break
        if tick % 10 == 0:
            run.controller.set_action(actions[min(tick // 10, len(actions) - 1)], ego)
        control = run.controller.control(ego, DT, route)
        car.step(control, DT)
        run.controls.append(control)
        if run.controller.mpc is not None:
            run.applied.append((run.controller.mpc.accel, run.controller.mpc.steer_angle))
        run.states.append(car.ego_state())
    return run

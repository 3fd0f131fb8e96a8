"""Route-relative scenario actors as CARLA spawn poses (pure: no server; the backend spawns what this plans).

The same `at:` placement as on the embedded simulator (`Placement.frame_pose` on the planned route): moving vehicles
snap to the centre of the lane under them that runs their way (oncoming with `yaw_deg: 180`), everything else stands
exactly where it is placed. Heights come from the map (`ground_z`), so hilly towns work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import carla

from scenarios import ScenarioError
from sim.carla_backend.frames import to_location, to_transform
from sim.core import ActorKind, Route
from sim.embedded.lanegraph import LaneGraph

SNAP_DISTANCE_M = 3.0  # a moving vehicle must be placed this close to a lane centre


@dataclass(frozen=True)
class SpawnPlan:
    index: int  # position in the scenario's actor list
    kind: ActorKind
    x: float  # our frame, box centre on the ground
    y: float
    yaw: float  # rad, the actor's heading
    route_yaw: float  # rad, the heading of the placement frame (the route's direction there)
    lane_id: str | None  # lane snapped to (moving vehicles)
    spec: Any  # the scenario's ActorSpec

    @property
    def moving_vehicle(self) -> bool:
        return self.kind.is_vehicle and self.spec.behavior_type != "stopped" and not _crosses(self.spec)

    def transform(self, z: float) -> carla.Transform:
        return to_transform(self.x, self.y, z, self.yaw)


def _crosses(spec: Any) -> bool:
    return spec.behavior_type == "cross"


def crossing_heading(spec: Any, route_yaw: float) -> float:
    """A crossing actor walks across the route: towards it from the side it stands on, unless `yaw_deg` says else."""
    if spec.at.yaw_deg:
        return route_yaw + math.radians(float(spec.at.yaw_deg))
    return route_yaw + (-math.pi / 2 if float(spec.at.d) > 0 else math.pi / 2)


def crossing_distance(spec: Any) -> float:
    b = spec.behavior
    if b is not None and b.distance_m:
        return float(b.distance_m)
    return 2 * abs(float(spec.at.d)) if spec.at.d else 8.0


def plan_actor(index: int, spec: Any, route: Route, graph: LaneGraph, source: str = "<scenario>") -> SpawnPlan:
    kind = ActorKind(spec.kind)
    try:
        x, y, route_yaw = spec.at.frame_pose(route)
    except ValueError as err:
        raise ScenarioError(source, [f"actors[{index}].at: {err}"]) from None
    yaw = route_yaw + math.radians(float(spec.at.yaw_deg))
    if spec.behavior_type == "emergency" and not spec.at.absolute:  # it starts behind its placement, out of sight
        behind = float(spec.behavior.distance_m or 40.0)
        x, y, route_yaw = route.to_world(spec.at.s - behind, spec.at.d)
        yaw = route_yaw
    if _crosses(spec) or kind == ActorKind.PEDESTRIAN:
        return SpawnPlan(
            index, kind, x, y, crossing_heading(spec, route_yaw) if _crosses(spec) else yaw, route_yaw, None, spec
        )
    if kind.is_vehicle and spec.behavior_type != "stopped":
        hit = graph.nearest(x, y, yaw, max_dist=SNAP_DISTANCE_M)
        if hit is None or abs(hit.heading_error) > math.pi / 2:
            raise ScenarioError(
                source,
                [f"actors[{index}] ({kind.value}) at s={spec.at.s}, d={spec.at.d} is not on a lane running its way"],
            )
        lx, ly, lyaw = graph.pose1(hit.lane, min(max(hit.s, 0.0), float(graph.length[hit.lane])))
        return SpawnPlan(index, kind, lx, ly, lyaw, route_yaw, graph.ids[hit.lane], spec)
    return SpawnPlan(index, kind, x, y, yaw, route_yaw, None, spec)


def plan_actors(actors: Sequence[Any], route: Route, graph: LaneGraph, source: str = "<scenario>") -> list[SpawnPlan]:
    """Every scenario actor's spawn plan, in file order; placement errors name the actor and its field."""
    return [plan_actor(i, spec, route, graph, source) for i, spec in enumerate(actors)]


def cargo_transforms(offsets: Sequence[tuple[float, float, float]]) -> list[carla.Transform]:
    """Relative transforms (in the truck's CARLA frame) of cargo attached to it: y flips, nothing else does."""
    return [carla.Transform(carla.Location(x=ox, y=-oy, z=oz)) for ox, oy, oz in offsets]


def ground_height(carla_map: Any, x: float, y: float) -> float:
    """Height of the road (or sidewalk) surface under our-frame (x, y), from the map's nearest waypoint; 0 when
    there is none."""
    wp = carla_map.get_waypoint(to_location(x, y, 0.0), True, carla.LaneType.Any)
    return float(wp.transform.location.z) if wp is not None else 0.0

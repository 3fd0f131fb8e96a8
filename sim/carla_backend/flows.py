"""Scenario flows on a CARLA server (scenario `flows:`): Traffic Manager vehicles entering at a source lane position
`gap_m` behind the previous one and destroyed once they have driven the flow's `length_m`, as on the embedded
simulator. Differences there: a flow starts empty (no prefill; its first vehicles are on their way when the route
begins), and `turns` are asked of the Traffic Manager's route (`set_route`), which it follows when it can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import carla
import numpy as np

from scenarios import ScenarioError
from sim.carla_backend.actors import ActorDirector, Tracked
from sim.carla_backend.blueprints import BLUEPRINTS, pick
from sim.carla_backend.frames import from_vector, to_transform
from sim.core import ActorKind, Route
from sim.embedded.lanegraph import LaneGraph


@dataclass
class _Flow:
    spec: Any
    x: float
    y: float
    yaw: float
    started: bool = False
    next_gap: float = 0.0
    last: Any = None  # the actor that entered last
    members: dict[int, float] = field(default_factory=dict)  # actor id -> metres driven


class CarlaFlows:
    def __init__(self, specs: list[Any], route: Route, graph: LaneGraph, source: str, rng: np.random.Generator) -> None:
        self.flows: list[_Flow] = []
        self.rng = rng
        for i, spec in enumerate(specs):
            x, y, frame_yaw = spec.source.frame_pose(route)
            hit = graph.nearest(x, y, frame_yaw + math.radians(float(spec.source.yaw_deg)), max_dist=3.0)
            if hit is None or abs(hit.heading_error) > math.pi / 2:
                raise ScenarioError(source, [f"flows[{i}].source: not on a lane running its way"])
            lx, ly, lyaw = graph.pose1(hit.lane, min(max(hit.s, 0.0), float(graph.length[hit.lane])))
            self.flows.append(_Flow(spec, lx, ly, lyaw, started=spec.trigger is None))

    def update(self, director: ActorDirector, time_s: float, ego_xy: tuple[float, float], dt: float, z: float) -> None:
        for flow in self.flows:
            trig = flow.spec.trigger
            if not flow.started and trig is not None:
                near = (
                    trig.ego_within_m is not None
                    and math.hypot(flow.x - ego_xy[0], flow.y - ego_xy[1]) <= trig.ego_within_m
                )
                flow.started = near or (trig.time_s is not None and time_s >= trig.time_s)
            if not flow.started:
                continue
            self._drive_on(director, flow, dt)
            self._feed(director, flow, z)

    def _drive_on(self, director: ActorDirector, flow: _Flow, dt: float) -> None:
        for t in [t for t in director.tracked if int(t.actor.id) in flow.members]:
            vx, vy, _ = from_vector(t.actor.get_velocity())
            driven = flow.members[int(t.actor.id)] + math.hypot(vx, vy) * dt
            flow.members[int(t.actor.id)] = driven
            if driven >= flow.spec.length_m:
                del flow.members[int(t.actor.id)]
                director.tracked.remove(t)
                t.actor.destroy()

    def _feed(self, director: ActorDirector, flow: _Flow, z: float) -> None:
        if flow.last is not None and flow.members.get(int(flow.last.id), math.inf) < flow.next_gap + 5.0:
            return
        kind = ActorKind(flow.spec.kinds[int(self.rng.integers(len(flow.spec.kinds)))])
        actor = director.world.try_spawn_actor(
            pick(director.library, BLUEPRINTS[kind], kind.value), to_transform(flow.x, flow.y, z, flow.yaw)
        )
        if actor is None:  # the source is occupied: try on the next tick
            return
        speed = float(flow.spec.speed)
        actor.set_target_velocity(carla.Vector3D(x=speed * math.cos(flow.yaw), y=-speed * math.sin(flow.yaw), z=0.0))
        port = director.tm.get_port()
        actor.set_autopilot(True, port)
        director.tm.auto_lane_change(actor, False)
        director.tm.set_desired_speed(actor, speed * 3.6)
        if flow.spec.turns:
            director.tm.set_route(actor, [t.capitalize() for t in flow.spec.turns])
        if flow.spec.ignore_lights:
            director.tm.ignore_lights_percentage(actor, 100.0)
            director.tm.ignore_signs_percentage(actor, 100.0)
            director.tm.ignore_vehicles_percentage(actor, 0.0)
        if flow.spec.offset_m:
            director.tm.vehicle_lane_offset(actor, -float(flow.spec.offset_m))
        director.tracked.append(Tracked(actor, kind, {"flow": True}))
        flow.members[int(actor.id)] = 0.0
        flow.last = actor
        lo, hi = flow.spec.gap_m
        flow.next_gap = float(self.rng.uniform(lo, hi))

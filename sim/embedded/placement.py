"""Scenario actors into the embedded world: route-relative placement, scripted behaviours and their triggers.

Behaviours (scenario `behavior.type`):
- follow_lane: drive the lanes (the ego route where the actor is on it), at `behavior.speed` or the actor's speed.
- stopped: stand still in the lane.
- brake: follow the lane, then brake at `behavior.decel` to a stop when triggered.
- cut_in: follow the lane, then change into the ego's route lane when triggered.
- run_red_light: wait (if it has a trigger) then drive ignoring lights and junction priority.
- cross: (pedestrian or bicycle) stand, then cross the route when triggered, `distance_m` (default: mirror of d).
- open_door: (parked vehicle) open the door on the side facing the route when triggered.
- invade: follow the lane `offset_m` to its left, into the oncoming lane.
- emergency: an emergency vehicle `distance_m` behind its placement, faster than the ego (sim/embedded/emergency.py).
`hold_until_trigger` keeps a vehicle standing until its trigger fires. Without a trigger a behaviour starts at once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core import ActorKind, Turn
from sim.embedded.pedestrians import SIZE as PED_SIZE
from sim.embedded.traffic import KIND_SIZE, Script

if TYPE_CHECKING:
    from sim.embedded.world import World

_CROSS_SPEED = {ActorKind.PEDESTRIAN: 1.4, ActorKind.BICYCLE: 4.0}


def place_actors(world: World, actors: list[Any]) -> int:
    """Add every scenario actor to the world; ids start at 1 in file order. Returns the next free id."""
    from sim.embedded.world import Trigger

    for i, spec in enumerate(actors):
        aid = i + 1
        kind = ActorKind(spec.kind)
        x, y, route_yaw = spec.at.frame_pose(world.route)
        yaw = route_yaw + math.radians(float(spec.at.yaw_deg))
        btype = spec.behavior_type
        action, position = None, None
        if kind.is_static:
            k = world.props.add(world.graph, aid, kind, x, y, yaw)
            if btype != "open_door":
                continue
            action, position = (lambda k=k: _open_door(world, k)), (lambda x=x, y=y: (x, y))
        elif btype == "cross" or kind == ActorKind.PEDESTRIAN:
            action, position = _walker(world, aid, kind, spec, x, y, route_yaw)
        else:
            if btype == "emergency" and not spec.at.absolute:  # it starts `distance_m` behind, out of sight
                x, y, yaw = world.route.to_world(spec.at.s - _behind(spec), spec.at.d)
            action, position = _vehicle(world, i, aid, kind, spec, x, y, yaw)
        trig = spec.trigger
        if trig is not None and action is not None:
            world.triggers.append(Trigger(action, position, trig.ego_within_m, trig.time_s))
        elif action is not None:
            action()
    return len(actors) + 1


def _behind(spec: Any) -> float:
    b = spec.behavior
    return float(b.distance_m) if b is not None and b.distance_m else 40.0


def _open_door(world: World, k: int) -> None:
    """Open the door on the side facing the route."""
    x, y, yaw = (float(v) for v in world.props.boxes[k, :3])
    s, _ = world.route.project(x, y)
    rx, ry, _ = world.route.to_world(s)
    side = 1.0 if -(rx - x) * math.sin(yaw) + (ry - y) * math.cos(yaw) > 0 else -1.0
    world.props.open_door(world.graph, k, side)


def _walker(world: World, aid: int, kind: ActorKind, spec: Any, x: float, y: float, route_yaw: float) -> tuple:
    peds = world.pedestrians
    b = spec.behavior
    speed = (b.speed if b is not None and b.speed else None) or spec.speed or _CROSS_SPEED.get(kind, 1.4)
    if spec.behavior_type != "cross":
        k = peds.add_walker(aid, x, y, speed) if spec.behavior_type == "follow_lane" else None
        if k is None:
            peds.add_scripted(aid, x, y, route_yaw, None, speed)
        return None, None
    d = float(spec.at.d)
    if spec.at.yaw_deg:
        heading = route_yaw + math.radians(float(spec.at.yaw_deg))
    else:  # towards and across the route
        heading = route_yaw + (-math.pi / 2 if d > 0 else math.pi / 2)
    dist = (b.distance_m if b is not None and b.distance_m else None) or (2 * abs(d) if d else 8.0)
    target = (x + dist * math.cos(heading), y + dist * math.sin(heading))
    size = PED_SIZE if kind == ActorKind.PEDESTRIAN else KIND_SIZE[kind][:3]
    k = peds.add_scripted(aid, x, y, heading, target, speed, kind, size)
    return (lambda k=k: peds.start(k)), (lambda k=k: (float(peds.x[k]), float(peds.y[k])))


def _vehicle(world: World, index: int, aid: int, kind: ActorKind, spec: Any, x: float, y: float, yaw: float) -> tuple:
    g, tr = world.graph, world.traffic
    hit = g.nearest(x, y, yaw, max_dist=3.0)
    if hit is None:
        raise ValueError(f"actors[{index}] ({kind.value}) at s={spec.at.s}, d={spec.at.d} is not on a lane")
    b = spec.behavior
    same_way = abs(hit.heading_error) < math.pi / 2
    script = Script(
        kind=spec.behavior_type,
        turns=[Turn(b.turn)] if b is not None and b.turn else [],
        prefer=world.plan.lane_set if same_way else frozenset(),
        side=b.side if b is not None else None,
        decel=b.decel if b is not None else 6.0,
        speed=b.speed if b is not None else None,
        resume_s=b.resume_s if b is not None else None,
    )
    limit = float(g.speed_limit[hit.lane])
    v_des = script.speed if script.speed is not None else (spec.speed if spec.speed > 0 else limit)
    attrs: dict[str, object] = {"cargo": spec.cargo} if spec.cargo else {}
    btype = spec.behavior_type
    if btype == "emergency":
        attrs.update({"emergency": True, "siren": True})
    s = float(np.clip(hit.s, 0.0, g.length[hit.lane]))
    speed = float(spec.speed)
    if btype == "emergency":  # it comes up from behind, already faster than the ego
        v_des = speed = max(speed, world.ego.speed + float(b.speed_margin))
    k = tr.add(aid, kind, hit.lane, s, speed, float(v_des), script, attrs)
    position = lambda: (float(tr.x[tr.index_of(aid)]), float(tr.y[tr.index_of(aid)]))  # noqa: E731
    if btype == "stopped":
        tr.hold[k], tr.v[k] = True, 0.0
        return None, None
    if btype == "invade":
        tr.offset[k] = float(b.offset_m)
    if btype == "emergency":
        tr.ignore_rules[k] = True
        world.emergency.add(aid, float(b.speed_margin))
    action = {
        "brake": lambda: _brake(world, tr.index_of(aid)),
        "cut_in": lambda: _cut_in(world, tr.index_of(aid)),
        "run_red_light": lambda: _release(world, tr.index_of(aid)),
    }.get(btype)
    if btype == "run_red_light":
        tr.ignore_rules[k] = True
    held = (btype == "run_red_light" or (b is not None and b.hold_until_trigger)) and spec.trigger is not None
    if held:
        tr.hold[k], tr.v[k] = True, 0.0
        then = action
        action = lambda: (_release(world, tr.index_of(aid)), then() if then else None)  # noqa: E731
    return (action, position) if action is not None else (None, None)


def _brake(world: World, k: int) -> None:
    world.traffic.scripts[k].triggered = True
    world.traffic.forced_decel[k] = world.traffic.scripts[k].decel


def _release(world: World, k: int) -> None:
    world.traffic.scripts[k].triggered = True
    world.traffic.hold[k] = False


def _cut_in(world: World, k: int) -> None:
    """Change into the neighbouring lane that the ego's route uses here (else away from the side it comes from)."""
    g, tr = world.graph, world.traffic
    script = tr.scripts[k]
    script.triggered = True
    lane = int(tr.lane[k])
    s_route, _ = world.route.project(float(tr.x[k]), float(tr.y[k]))
    route_lane = g.index[world.route.lane_at(s_route)]
    left, right = int(g.left[lane]), int(g.right[lane])
    if route_lane in (left, right):
        target = route_lane
    elif script.side == "left":
        target = right
    elif script.side == "right":
        target = left
    else:
        target = right if right >= 0 else left
    if target >= 0:
        tr.start_lane_change(k, target)

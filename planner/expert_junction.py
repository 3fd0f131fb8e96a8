"""Giving way at junctions to traffic that crosses our path or that we would merge into.

Before the ego enters a junction, every moving vehicle or cyclist nearby is followed along its lanes (each branch it
may take); where its path comes within `conflict_m` of ours (through the junction and `exit_m` beyond it) it would
meet us. We give way when it reaches that point before we have cleared it by `gap_s`, unless it will have passed
before we get there. Vehicles standing at their own stop line are taken to be giving way to us (they move when they
commit, and we look again every decision); vehicles held by a red light are left to the light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import ActorState, LightColor, RoadMap, RouteManeuver, WorldState


@dataclass(frozen=True)
class JunctionConfig:
    approach_m: float = 30.0  # start looking this close to the junction entry
    gap_s: float = 2.0  # we must have cleared the meeting point this long before the other arrives
    after_s: float = 1.0  # ... or arrive this long after it has passed
    conflict_m: float = 2.8  # paths closer than this meet
    exit_m: float = 20.0  # our path beyond the junction that a merging vehicle must not reach first
    accel: float = 1.5  # m/s^2 we plan to clear the junction with
    turn_speed: float = 6.0  # m/s we plan to reach at least, outside bends
    lateral_accel: float = 2.0  # m/s^2 through bends, as the meta-action controller drives them
    horizon_m: float = 70.0  # how far along its lanes another vehicle is followed
    max_arrival_s: float = 10.0  # later than this it does not matter now
    range_m: float = 90.0


@dataclass(frozen=True)
class Conflict:
    actor: ActorState
    arrival_s: float  # when it reaches the meeting point
    ours_m: float  # metres from our front to the meeting point along the route
    merging: bool  # the meeting point lies past the junction, on the road we join


def _time_to(distance: float, v0: float, v_max: float, accel: float) -> float:
    """Seconds to drive `distance` from speed v0, accelerating at `accel` up to v_max."""
    if distance <= 0.0:
        return 0.0
    v0 = max(v0, 0.0)
    v_max = max(v_max, v0, 0.5)
    ramp = (v_max**2 - v0**2) / (2 * accel)
    if distance <= ramp:
        return (-v0 + math.sqrt(v0**2 + 2 * accel * distance)) / accel
    return (v_max - v0) / accel + (distance - ramp) / v_max


def _our_path(world: WorldState, maneuver: RouteManeuver, cfg: JunctionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Points of our route from the junction entry to `exit_m` past it, and their distance from our front."""
    front = world.route_s + world.ego.length / 2
    s = np.arange(maneuver.s_start - 2.0, min(world.route.length, maneuver.s_end + cfg.exit_m), 1.0)
    pts = np.array([world.route.to_world(float(v))[:2] for v in s])
    return pts, s - front


def _held(actor: ActorState, red_lanes: set[str], in_junction: bool) -> bool:
    """Held by a red light, or standing at its line letting us go first."""
    if in_junction:
        return False
    return (actor.lane_id is not None and actor.lane_id in red_lanes) or actor.speed < 0.5


def crossing_conflict(
    world: WorldState, road_map: RoadMap | None, maneuver: RouteManeuver, cfg: JunctionConfig
) -> Conflict | None:
    """The first vehicle we must give way to before entering the junction of `maneuver`, if any."""
    ego = world.ego
    to_entry = maneuver.s_start - world.route_s - ego.length / 2
    if road_map is None or not -1.0 < to_entry < cfg.approach_m:
        return None
    ours, ours_m = _our_path(world, maneuver, cfg)
    if len(ours) < 2:
        return None
    route_lanes = set(world.route.lane_ids)
    red = {lane for light in world.lights if light.color != LightColor.GREEN for lane in light.lane_ids}
    v_max = min(_curve_speed(ours, cfg.lateral_accel), max(world.speed_limit, cfg.turn_speed))
    first: Conflict | None = None
    for actor in world.actors:
        if not actor.kind.is_vehicle or math.hypot(actor.x - ego.x, actor.y - ego.y) > cfg.range_m:
            continue
        pos = road_map.locate(actor.x, actor.y, actor.yaw)
        if pos is None or _held(actor, red, pos.in_junction):
            continue
        if pos.lane_id in route_lanes and math.cos(actor.yaw - ego.yaw) > 0.7:
            continue  # ahead of or behind us on our own way: following, not crossing
        for branch in road_map.turns_ahead(pos.lane_id) or (None,):
            path = road_map.path_ahead(pos.lane_id, pos.s, cfg.horizon_m, branch)
            hit = _meeting(path.points, ours, cfg.conflict_m)
            if hit is None:
                continue
            theirs_m, k = hit
            if ours_m[k] < -1.0:
                continue
            v = max(actor.speed, 0.5)
            arrival = max(theirs_m - actor.length / 2, 0.0) / v
            if arrival > cfg.max_arrival_s:
                continue
            enter = _time_to(ours_m[k] - cfg.conflict_m, ego.speed, v_max, cfg.accel)
            clear = _time_to(ours_m[k] + ego.length + actor.width + 1.0, ego.speed, v_max, cfg.accel)
            passed = arrival + (actor.length + cfg.conflict_m) / v + cfg.after_s < enter
            if arrival < clear + cfg.gap_s and not passed and (first is None or arrival < first.arrival_s):
                merging = ours_m[k] + world.route_s + ego.length / 2 > maneuver.s_end
                first = Conflict(actor, arrival, float(ours_m[k]), bool(merging))
    return first


def _curve_speed(points: np.ndarray, lateral_accel: float) -> float:
    """The speed the tightest bend of a path (1 m spacing) allows at `lateral_accel` (as the controller drives it)."""
    if len(points) < 3:
        return math.inf
    a, b, c = points[:-2], points[1:-1], points[2:]
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    sides = np.hypot(*(b - a).T) * np.hypot(*(c - b).T) * np.hypot(*(a - c).T)
    kappa = float(np.max(2.0 * cross / np.maximum(sides, 1e-9)))
    return math.sqrt(lateral_accel / kappa) if kappa > 1e-4 else math.inf


def _meeting(theirs: np.ndarray, ours: np.ndarray, within: float) -> tuple[float, int] | None:
    """(their distance to the first point of their path within `within` of ours, index of our nearest point)."""
    if len(theirs) < 2:
        return None
    d = np.hypot(*(theirs[:, None, :] - ours[None, :, :]).transpose(2, 0, 1))
    near = np.flatnonzero(d.min(axis=1) < within)
    if not len(near):
        return None
    j = int(near[0])
    along = float(np.sum(np.hypot(*np.diff(theirs[: j + 1], axis=0).T))) if j > 0 else 0.0
    return along, int(np.argmin(d[j]))


def conflict_facts(conflict: Conflict) -> dict[str, Any]:
    return {
        "kind": conflict.actor.kind.value,
        "reason": "merging" if conflict.merging else "crossing",
        "distance": round(conflict.ours_m, 1),
    }

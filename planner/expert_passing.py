"""Passing on two-way roads and what comes the other way: overtaking through the oncoming lane when it is free for
the whole pass, slow cyclists treated as obstacles to pass, and oncoming vehicles that cut into our lane.

A pass through the oncoming lane is accepted when the lane is free of standing things over the blocked stretch
plus the way back, and every oncoming vehicle is far enough away that it would not reach the end of the pass
before we are back in our lane (both driving on at their speeds, plus a buffer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.expert_merge import half_along, in_lane
from planner.scene import TrackedActor, overlaps_corridor, track_actors
from sim.core import ActorKind, RoadMap, WorldState


@dataclass(frozen=True)
class PassingConfig:
    start_within_m: float = 25.0  # begin a pass through the oncoming lane this close to the obstacle
    pass_speed: float = 7.0  # m/s the pass is planned at (at least)
    return_margin_m: float = 10.0  # back in our lane this far beyond the blocked stretch
    buffer_s: float = 3.0  # extra time an oncoming vehicle must still be away when we are back
    zone_join_m: float = 15.0  # standing obstacles this close one after the other form one blocked stretch
    slow_cyclist_mps: float = 5.0  # a cyclist riding our lane slower than this is passed like an obstacle
    invading_clearance_m: float = 0.3  # an oncoming vehicle that leaves us this much room is not in our way
    invading_speed: float = 6.0  # m/s while an oncoming vehicle cuts close to our lane
    invading_range_m: float = 40.0


def slow_cyclist(t: TrackedActor, cfg: PassingConfig) -> bool:
    """A cyclist riding along our route, slowly: a hazard to pass rather than a lead to follow."""
    return t.actor.kind == ActorKind.BICYCLE and math.cos(t.rel_yaw) > 0.8 and t.actor.speed < cfg.slow_cyclist_mps


def single_lane_road(road_map: RoadMap | None, lane_id: str | None) -> str | None:
    """The oncoming lane of a road with one lane our way (None on any other road)."""
    if road_map is None or lane_id is None:
        return None
    if any(road_map.neighbour(lane_id, side) is not None for side in ("left", "right")):
        return None
    return road_map.oncoming(lane_id)


def blocked_stretch(tracked: list[TrackedActor], first: TrackedActor, corridor: float, half: float, cfg) -> float:
    """Metres from our front to the far end of the blocked stretch that starts with `first`."""
    end = first.ahead + 2 * half_along(first)
    for t in sorted(tracked, key=lambda t: t.ahead):
        if t.ahead <= first.ahead or not overlaps_corridor(t.d, t.half_across, corridor, half):
            continue
        standing = t.actor.kind.is_static or t.actor.speed < 0.3
        if standing and t.ahead < end + cfg.zone_join_m:
            end = max(end, t.ahead + 2 * half_along(t))
    return end


def oncoming_pass_ok(
    world: WorldState,
    road_map: RoadMap | None,
    blocker: TrackedActor,
    corridor_half: float,
    lane_half: float,
    d_ego: float,
    cfg: PassingConfig,
) -> bool:
    """May we pass `blocker` through the oncoming lane now?"""
    if single_lane_road(road_map, world.ego_lane_id) is None or blocker.ahead > cfg.start_within_m:
        return False
    ego = world.ego
    tracked = track_actors(world, behind_m=15.0, ahead_m=200.0)
    lane = round(d_ego / (2 * lane_half)) * 2 * lane_half
    end = blocked_stretch(tracked, blocker, lane, corridor_half, cfg)
    speed = max(ego.speed, cfg.pass_speed)
    duration = (end + cfg.return_margin_m + ego.length) / speed
    end += max(blocker.actor.speed, 0.0) * duration  # a moving blocker (a cyclist) is passed over a longer way
    maneuver = world.route.next_maneuver(world.route_s)
    if maneuver is not None and maneuver.s_start - world.route_s < end + cfg.return_margin_m + 10.0:
        return False  # never through a junction on the wrong side
    oncoming = lane + 2 * lane_half
    for t in tracked:
        if not in_lane(t, oncoming, lane_half) or t.ahead < -ego.length:
            continue
        if t.actor.kind.is_static or t.actor.speed < 0.5:
            if t.ahead < end + cfg.return_margin_m:
                return False
            continue
        closing = max(-t.along_speed, 0.0)
        if math.cos(t.rel_yaw) > 0.0 and t.ahead < end + cfg.return_margin_m:
            return False  # someone else is passing there
        if t.ahead < end + cfg.return_margin_m + closing * (duration + cfg.buffer_s):
            return False
    return True


def passes_beside(t: TrackedActor, corridor: float, ego_half: float, cfg: PassingConfig) -> bool:
    """An oncoming vehicle whose body stays clear of ours by the clearance: not a lead, even when it leans into the
    margin of our corridor."""
    if math.cos(t.rel_yaw) > -0.5:
        return False
    return abs(t.d - corridor) - t.half_across - ego_half >= cfg.invading_clearance_m


def invading_speed(tracked: list[TrackedActor], corridor: float, ego_half: float, cfg: PassingConfig) -> float:
    """A speed cap while an oncoming vehicle cuts close to our lane ahead (inf otherwise)."""
    for t in tracked:
        if math.cos(t.rel_yaw) > -0.5 or t.actor.speed < 0.5 or not 0.0 < t.ahead < cfg.invading_range_m:
            continue
        room = abs(t.d - corridor) - t.half_across - ego_half
        if room < 1.0:
            return cfg.invading_speed
    return math.inf

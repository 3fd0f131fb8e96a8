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
    junction_clear_m: float = 35.0  # ... and this far before the next junction (room to stop at its line)
    buffer_s: float = 3.0  # extra time an oncoming vehicle must still be away when we are back
    zone_join_m: float = 15.0  # standing obstacles this close one after the other form one blocked stretch
    slow_cyclist_mps: float = 5.0  # a cyclist riding our lane slower than this is passed like an obstacle
    invading_clearance_m: float = 0.3  # an oncoming vehicle that leaves us this much room is not in our way
    invading_speed: float = 6.0  # m/s while an oncoming vehicle cuts close to our lane
    invading_range_m: float = 40.0
    committed_m: float = 0.3  # moved this far towards the oncoming lane: the pass has begun
    queue_speed: float = 7.0  # m/s passing vehicles that stand in the lane next to ours (one may pull out)
    queue_range_m: float = 35.0
    queue_gap_m: float = 2.5  # ... when they stand this close beside our lane
    abort_range_m: float = 70.0  # an oncoming vehicle this close ahead while we pass: back in at the first gap
    wait_back_m: float = 9.0  # waiting for the oncoming lane to clear, the front stays this far behind the obstacle


def riding_along(t: TrackedActor) -> bool:
    """A cyclist riding our way along the road: followed like a vehicle, not braked for like someone crossing."""
    return t.actor.kind == ActorKind.BICYCLE and math.cos(t.rel_yaw) > 0.9 and t.actor.speed > 1.0


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
    v_blocker = max(blocker.along_speed, 0.0)
    speed = max(ego.speed, cfg.pass_speed)
    duration = (end + cfg.return_margin_m + ego.length) / max(speed - v_blocker, 2.0)
    end += v_blocker * duration  # a moving blocker (a cyclist) is passed over a longer way
    maneuver = world.route.next_maneuver(world.route_s)
    if maneuver is not None and maneuver.s_start - world.route_s < end + cfg.return_margin_m + cfg.junction_clear_m:
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


def oncoming_pass(
    world: WorldState,
    road_map: RoadMap | None,
    blocker: TrackedActor,
    corridor_half: float,
    lane_half: float,
    d_ego: float,
    cfg: PassingConfig,
    leaving: bool = False,
) -> bool:
    """Pass `blocker` through the oncoming lane: begin when the lane is free for the whole pass, and once the car has
    begun to move across, carry on (a pass half begun is not left standing across the centre line) unless it is on
    its way back (`leaving`)."""
    two_way = single_lane_road(road_map, world.ego_lane_id) is not None
    committed = two_way and d_ego > cfg.committed_m and not leaving
    return committed or oncoming_pass_ok(world, road_map, blocker, corridor_half, lane_half, d_ego, cfg)


def mid_pass(
    road_map: RoadMap | None, world: WorldState, d_ego: float, cfg: PassingConfig, lane_w: float = 3.5
) -> bool:
    """Part of the way across into the oncoming lane of a two-way road: the pass has begun and is not finished."""
    return single_lane_road(road_map, world.ego_lane_id) is not None and cfg.committed_m < d_ego < lane_w - 0.5


def oncoming_in_lane(
    tracked: list[TrackedActor], d_ego: float, cfg: PassingConfig, lane_half: float = 1.75
) -> list[TrackedActor]:
    """Vehicles coming (or standing) the other way ahead in the lane we are in."""
    lane = round(d_ego / (2 * lane_half)) * 2 * lane_half
    return [
        t
        for t in tracked
        if t.actor.kind.is_vehicle
        and in_lane(t, lane, lane_half)
        and math.cos(t.rel_yaw) < -0.5
        and 0.0 < t.ahead < cfg.abort_range_m
    ]


def oncoming_ahead(tracked: list[TrackedActor], d_ego: float, cfg: PassingConfig, lane_half: float = 1.75) -> bool:
    """In the oncoming lane with a vehicle coming at us in it: go back to our lane at the first gap, behind whatever we
    were passing if need be (one that stands and waits for us we pass on and then get out of its way)."""
    return any(t.actor.speed > 0.5 for t in oncoming_in_lane(tracked, d_ego, cfg, lane_half))


def in_oncoming_lane(road_map: RoadMap | None, world: WorldState, d_ego: float, lane_half: float) -> bool:
    return d_ego > lane_half and single_lane_road(road_map, world.ego_lane_id) is not None


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


def standing_traffic_speed(tracked: list[TrackedActor], corridor: float, half: float, cfg: PassingConfig) -> float:
    """A speed cap while we pass vehicles standing in the lane beside ours, any of which may pull out in front of us
    (inf otherwise). Parked and broken-down cars are props, not drivers, and do not count here."""
    for t in tracked:
        if not t.actor.kind.is_vehicle or t.actor.kind == ActorKind.BICYCLE or t.actor.speed > 0.3:
            continue
        beside = 0.0 < abs(t.d - corridor) - half - t.half_across < cfg.queue_gap_m
        if beside and -t.actor.length < t.ahead < cfg.queue_range_m and math.cos(t.rel_yaw) > 0.7:
            return cfg.queue_speed
    return math.inf

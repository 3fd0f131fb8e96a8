"""Lane changes into moving traffic: gap acceptance, lanes that end, and making way for an emergency vehicle.

Gap acceptance follows MOBIL's safety criterion: a change is safe when the vehicle that will be behind us in the
target lane need not brake harder than `safe_decel` and keeps `lag_time_s` of headway, and the vehicle ahead there
is at least `lead_time_s` of our speed away. While the gap is not there the expert drops back behind the vehicle
beside it (a faster one passes) and, in a lane that ends, stops before its end rather than squeezing in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from planner.scene import TrackedActor, overlaps_corridor, track_actors
from sim.core import ActorKind, EgoState, RoadMap, WorldState


@dataclass(frozen=True)
class GapConfig:
    lead_time_s: float = 0.6  # headway to the vehicle that will be ahead of us in the target lane
    lag_time_s: float = 0.8  # headway the vehicle that will be behind us keeps
    safe_decel: float = 2.5  # m/s^2 it may have to brake with, at most
    zipper_decel: float = 4.0  # ... when we wait at the end of a lane that ends (a zipper merge)
    min_gap_m: float = 3.0  # bumper to bumper, either side, even at standstill
    drop_back_mps: float = 2.0  # to let a vehicle beside us pass, slow to this much under its speed
    lane_end_margin_m: float = 3.0  # front bumper stops this far before the end of a lane that ends
    emergency_behind_m: float = 90.0  # an emergency vehicle this close behind in our lane: make way
    emergency_clear_ahead_m: float = 12.0  # ... and stay out of its lane until it is this far ahead
    emergency_speed_share: float = 0.6  # of the speed limit, while an emergency vehicle comes up behind


@dataclass(frozen=True)
class Gap:
    ok: bool
    lead: TrackedActor | None = None  # the nearest vehicle ahead in the target lane
    lag: TrackedActor | None = None  # the nearest vehicle behind (or beside) us there
    beside: bool = False  # a vehicle overlaps us along the road


def half_along(t: TrackedActor) -> float:
    return abs(math.cos(t.rel_yaw)) * t.actor.length / 2 + abs(math.sin(t.rel_yaw)) * t.actor.width / 2


def in_lane(t: TrackedActor, centre: float, lane_half: float) -> bool:
    """A road user that drives along the lane centred `centre` metres left of the route (not crossing it)."""
    if t.actor.kind == ActorKind.PEDESTRIAN or not overlaps_corridor(t.d, t.half_across, centre, lane_half - 0.3):
        return False
    return abs(math.cos(t.rel_yaw)) > 0.5 or t.actor.speed < 0.5


def gap(
    tracked: list[TrackedActor], ego: EgoState, centre: float, lane_half: float, cfg: GapConfig, zipper: bool = False
) -> Gap:
    """Is the gap in the lane centred `centre` (route frame) long enough to change into now? `zipper`: we wait at
    the end of a lane that ends, where the vehicle behind is expected to let us in (it may brake harder)."""
    v_e = max(ego.speed, 0.0)
    safe_decel = cfg.zipper_decel if zipper else cfg.safe_decel
    ok, beside = True, False
    ahead = [t for t in tracked if in_lane(t, centre, lane_half) and t.ahead >= 0.0]
    behind = [t for t in tracked if in_lane(t, centre, lane_half) and t.ahead < 0.0]
    lead = min(ahead, key=lambda t: t.ahead, default=None)
    lag = max(behind, key=lambda t: t.ahead, default=None)
    if lead is not None:
        v_t = max(lead.along_speed, 0.0)
        need = cfg.min_gap_m + v_e * cfg.lead_time_s + max(0.0, v_e - v_t) ** 2 / (2 * safe_decel)
        ok = lead.ahead >= need
    if lag is not None:
        rear_gap = -lag.ahead - ego.length - 2 * half_along(lag)
        v_t = max(lag.along_speed, 0.0)
        need = (
            cfg.min_gap_m
            + v_t * cfg.lag_time_s * (0.5 if zipper else 1.0)
            + max(0.0, v_t - v_e) ** 2 / (2 * safe_decel)
        )
        beside = rear_gap < 0.0
        ok = ok and rear_gap >= need
    return Gap(ok, lead, lag, beside)


def wait_speed(g: Gap, ego: EgoState, cfg: GapConfig) -> float:
    """While waiting for a gap: a speed that opens one (behind a vehicle beside or just ahead in the target lane)."""
    cap = math.inf
    moving = g.lag is not None and g.lag.actor.speed > 0.5  # something standing we simply drive past
    if g.lag is not None and moving and (g.beside or g.lag.along_speed > ego.speed - 0.5):
        cap = max(0.0, g.lag.along_speed - cfg.drop_back_mps)  # let it pass, then slot in behind it
    if g.lead is not None and g.lead.actor.speed > 0.5 and g.lead.ahead < ego.length + cfg.min_gap_m:
        cap = min(cap, max(0.0, g.lead.along_speed - cfg.drop_back_mps))
    return cap


def lane_end_ahead(world: WorldState, road_map: RoadMap | None, horizon_m: float = 150.0) -> float | None:
    """Metres from the ego's front to the end of its lane when the lane ends (leads nowhere) before the route does,
    so the route must leave it sideways; None otherwise."""
    ego = world.ego
    if road_map is None or world.ego_lane_id is None:
        return None
    pos = road_map.locate(ego.x, ego.y, ego.yaw)
    if pos is None:
        return None
    path = road_map.path_ahead(pos.lane_id, pos.s, horizon_m, None, world.route)
    end = path.length - ego.length / 2
    if path.length >= horizon_m - 1.0 or world.route.length - world.route_s <= path.length + 5.0:
        return None
    return end


def emergency_behind(world: WorldState, corridor: float, lane_half: float, cfg: GapConfig) -> TrackedActor | None:
    """An emergency vehicle coming up behind us in our lane (or just beside and still behind our front)."""
    for t in track_actors(world, behind_m=cfg.emergency_behind_m, ahead_m=cfg.emergency_clear_ahead_m):
        emergency = t.actor.attributes.get("emergency") and math.cos(t.rel_yaw) > 0.7 and t.ahead < 0.0
        if emergency and overlaps_corridor(t.d, t.half_across, corridor, lane_half):
            return t
    return None


def emergency_lane_centres(world: WorldState, lane_half: float, cfg: GapConfig) -> list[float]:
    """Route-frame centres of the lanes an emergency vehicle behind or just ahead of us drives in: keep out of them."""
    out = []
    for t in track_actors(world, behind_m=cfg.emergency_behind_m, ahead_m=cfg.emergency_clear_ahead_m):
        if t.actor.attributes.get("emergency") and math.cos(t.rel_yaw) > 0.7:
            out.append(round(t.d / (2 * lane_half)) * 2 * lane_half)
    return out


def make_way_side(
    world: WorldState, road_map: RoadMap | None, tracked: list[TrackedActor], d_ego: float, lane_half: float,
    cfg: GapConfig,
) -> tuple[str | None, dict[str, Any] | None]:  # fmt: skip
    """The side to move to for an emergency vehicle behind us in our lane (right first), and the facts; (None,
    facts) while no lane there has a gap; (None, None) when there is no emergency vehicle to make way for."""
    ego_lane = round(d_ego / (2 * lane_half)) * 2 * lane_half
    ev = emergency_behind(world, ego_lane, lane_half, cfg)
    if ev is None or road_map is None or world.ego_lane_id is None:
        return None, None
    facts = {"kind": ev.actor.kind.value, "distance": round(-ev.ahead, 1), "emergency": True}
    for side, sign in (("right", -1.0), ("left", 1.0)):
        if road_map.neighbour(world.ego_lane_id, side) is None:  # type: ignore[arg-type]
            continue
        if gap(tracked, world.ego, ego_lane + sign * 2 * lane_half, lane_half, cfg).ok:
            return side, facts
    return None, facts

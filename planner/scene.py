"""Route-relative view of privileged ground truth: where each actor is along and across the ego's route.

The expert reasons in this frame: `s` metres ahead of the ego's front along the route, `d` metres left of the
route, headings relative to the route direction there. Nothing here decides anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core import ActorKind, ActorState, Route, WorldState, wrap_angle


@dataclass(frozen=True)
class TrackedActor:
    actor: ActorState
    ahead: float  # m from the ego's front bumper to the actor's nearest extent, along the route (negative: behind)
    d: float  # m left of the route
    rel_yaw: float  # actor heading minus route heading, rad
    half_across: float  # half of the actor's extent across the route, m

    @property
    def along_speed(self) -> float:
        """Speed component along the route direction (negative for oncoming traffic)."""
        return self.actor.speed * math.cos(self.rel_yaw)

    @property
    def across_speed(self) -> float:
        """Speed component across the route (positive: moving to the left of the route)."""
        return self.actor.speed * math.sin(self.rel_yaw)


def route_heading(route: Route, s: float) -> float:
    return route.to_world(s)[2]


def track_actors(world: WorldState, behind_m: float = 20.0, ahead_m: float = 80.0) -> list[TrackedActor]:
    """Every actor within the route window, in route coordinates."""
    route, ego = world.route, world.ego
    s_ego = world.route_s
    front = s_ego + ego.length / 2.0
    centre_hint = s_ego + (ahead_m - behind_m) / 2.0
    window = (ahead_m + behind_m) / 2.0 + 10.0
    out: list[TrackedActor] = []
    for actor in world.actors:
        if math.hypot(actor.x - ego.x, actor.y - ego.y) > ahead_m + 30.0:
            continue
        s, d = route.project(actor.x, actor.y, s_hint=centre_hint, window=window)
        rel = wrap_angle(actor.yaw - route_heading(route, s))
        half_along = abs(math.cos(rel)) * actor.length / 2 + abs(math.sin(rel)) * actor.width / 2
        half_across = abs(math.sin(rel)) * actor.length / 2 + abs(math.cos(rel)) * actor.width / 2
        ahead = s - half_along - front
        if -behind_m <= ahead <= ahead_m:
            out.append(TrackedActor(actor, ahead, d, rel, half_across))
    return out


def overlaps_corridor(d: float, half_across: float, centre: float, half_width: float) -> bool:
    return abs(d - centre) < half_width + half_across


def first_conflict(
    tracked: TrackedActor,
    corridor_centre: float,
    corridor_half: float,
    ego_speed: float,
    horizon_s: float,
    step_s: float = 0.25,
    arrival_slack_s: float = 2.5,
) -> float | None:
    """Distance ahead at which a moving actor will be inside the ego's corridor when the ego could be there too.

    The actor moves at constant velocity; the ego is assumed to keep at least 1 m/s. Returns None when no
    predicted position conflicts within `horizon_s`."""
    v_along, v_across = tracked.along_speed, tracked.across_speed
    for t in np.arange(0.0, horizon_s + 1e-9, step_s):
        ahead = tracked.ahead + v_along * t
        d = tracked.d + v_across * t
        # Beside or behind the front bumper braking cannot help (and pulling away does): only what is ahead counts.
        if ahead < 0.0 or not overlaps_corridor(d, tracked.half_across, corridor_centre, corridor_half):
            continue
        ego_arrival = max(ahead, 0.0) / max(ego_speed, 1.0)
        if ego_arrival <= t + arrival_slack_s:
            return ahead
    return None


def is_vulnerable(kind: ActorKind) -> bool:
    return kind in (ActorKind.PEDESTRIAN, ActorKind.BICYCLE)


def _bearings(actor: ActorState, cx: float, cy: float, yaw: float) -> tuple[float, float, float] | None:
    """(min bearing, max bearing, nearest forward distance) of an actor's footprint from a camera at (cx, cy) looking
    along `yaw`; None when the whole footprint is behind the camera."""
    c, s = math.cos(yaw), math.sin(yaw)
    rel = actor.corners() - np.array([cx, cy])
    forward = rel @ np.array([c, s])
    left = rel @ np.array([-s, c])
    front = forward > 0.3
    if not front.any():
        return None
    angles = np.arctan2(left[front], forward[front])
    return float(angles.min()), float(angles.max()), float(forward[front].min())


def camera_visible(
    world: WorldState,
    target: ActorState,
    fov_deg: float = 90.0,
    mount_x: float = 1.5,
    max_range_m: float = 120.0,
    min_share: float = 0.15,
) -> bool:
    """Whether a front camera on the ego can show `target`: inside the horizontal field of view and range, and at
    least `min_share` of its width not hidden behind nearer actors about as tall (buildings are not considered)."""
    ego = world.ego
    cx, cy = ego.x + math.cos(ego.yaw) * mount_x, ego.y + math.sin(ego.yaw) * mount_x
    seen = _bearings(target, cx, cy, ego.yaw)
    half = math.radians(fov_deg) / 2
    if seen is None or seen[2] > max_range_m:
        return False
    lo, hi = max(seen[0], -half), min(seen[1], half)
    if hi <= lo:
        return False
    covered: list[tuple[float, float]] = []
    for other in world.actors:
        if other.id == target.id or other.height < 0.8 * target.height:
            continue
        shade = _bearings(other, cx, cy, ego.yaw)
        if shade is not None and shade[2] < seen[2]:
            covered.append((max(shade[0], lo), min(shade[1], hi)))
    hidden, reach = 0.0, lo
    for a, b in sorted(x for x in covered if x[1] > x[0]):  # length of the union of the shadows
        a = max(a, reach)
        if b > a:
            hidden += b - a
            reach = b
    return (hi - lo - hidden) >= min_share * (hi - lo)

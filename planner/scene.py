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

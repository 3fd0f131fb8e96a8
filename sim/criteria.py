"""The leaderboard's criteria that are measured along the route rather than detected as single events: driving
outside the route lanes (scenario_runner's `OutsideRouteLanesTest`) and the minimum speed relative to the
surrounding traffic (`MinimumSpeedRouteTest`).

Both count route points the ego has passed (one every `route_point_spacing_m`):
- outside route lanes: every metre of route passed while the ego is outside its route lanes (a backend's
  `outside_route_lanes` ground-truth flag) counts as driven outside; the one event carries the running percentage
  of the route driven so far, which the penalty scales with;
- minimum speed: the route is split into `min_speed_checkpoints` equal parts; over each, the ego's mean speed is
  compared with the mean speed of the surrounding background traffic (actors with `role_name: background` within
  the protocol's radius) on the ticks where there is some; a part with none scores 100 %. The last part is scored
  at the end when more than 95 % of the route was passed.

Backends may emit their own `outside_route_lanes` events (one per excursion, for rewards and markers); the score
uses these criteria instead, so `scored_infractions` drops those.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.core import Infraction, InfractionType, WorldState
from sim.protocols import ScoringProtocol

CRITERIA_TYPES: frozenset[InfractionType] = frozenset({InfractionType.OUTSIDE_ROUTE_LANES, InfractionType.MIN_SPEED})
BACKGROUND_ROLE = "background"
LAST_CHECKPOINT_SHARE = 0.95


class RouteCriteria:
    """Fed the ground truth once per tick (the ego's progress is `world.route_s`); `infractions()` at any moment."""

    def __init__(self, route_length_m: float, protocol: ScoringProtocol, start_m: float = 0.0) -> None:
        self.length = route_length_m
        self.protocol = protocol
        self.spacing = protocol.route_point_spacing_m
        self.passed_m = self._passed(start_m)
        self.total_m = 0.0
        self.outside_m = 0.0
        self.outside_since: tuple[float, tuple[float, float]] | None = None  # time and place of the first metre
        self.checkpoint_m = route_length_m / protocol.min_speed_checkpoints
        self.checkpoint_start_m = 0.0
        self.checkpoints: list[Infraction] = []
        self.closed = 0  # checkpoints scored so far (with or without an event)
        self._ego_speed_sum = self._traffic_speed_sum = 0.0
        self._speed_points = 0
        self._last: WorldState | None = None

    def _passed(self, progress_m: float) -> float:
        """Route distance of the last route point behind the ego (the end point once the route is driven)."""
        if progress_m >= self.length:
            return self.length
        return math.floor(max(0.0, progress_m) / self.spacing + 1e-9) * self.spacing

    def update(self, world: WorldState) -> None:
        self._last = world
        passed = max(self.passed_m, self._passed(world.route_s))
        gained, self.passed_m = passed - self.passed_m, passed
        if gained > 0:
            self.total_m += gained
            if world.extras.get("outside_route_lanes"):
                self.outside_m += gained
                if self.outside_since is None:
                    self.outside_since = (world.time, (world.ego.x, world.ego.y))
        if self.passed_m - self.checkpoint_start_m > self.checkpoint_m:
            self.checkpoints.extend(self._checkpoint(world))
            self.closed += 1
            self.checkpoint_start_m = self.passed_m
            self._ego_speed_sum = self._traffic_speed_sum = 0.0
            self._speed_points = 0
        ego = world.ego
        radius = self.protocol.min_speed_radius_m + self.protocol.min_speed_radius_per_mps * abs(ego.speed)
        traffic = [
            abs(a.speed)
            for a in world.actors
            if a.attributes.get("role_name") == BACKGROUND_ROLE and math.hypot(a.x - ego.x, a.y - ego.y) <= radius
        ]
        if traffic:
            self._traffic_speed_sum += sum(traffic) / len(traffic)
            self._ego_speed_sum += abs(ego.speed)
            self._speed_points += 1

    def _checkpoint(self, world: WorldState) -> list[Infraction]:
        if self._speed_points > 0 and self._traffic_speed_sum:
            ego = self._ego_speed_sum / self._speed_points
            traffic = self._traffic_speed_sum / self._speed_points
            value = round(ego / traffic * 100.0, 2)
        else:
            value = 100.0
        if value >= 100.0 and self.protocol.min_speed_events == "below_traffic":
            return []
        details = {"percentage": value, "checkpoint": self.closed + 1}
        return [Infraction(InfractionType.MIN_SPEED, world.time, (world.ego.x, world.ego.y), details=details)]

    def infractions(self, final: bool = False) -> list[Infraction]:
        """The criteria's events so far; `final` also scores the last checkpoint, as the leaderboard does when the
        route ends."""
        out: list[Infraction] = []
        if self.outside_m > 0 and self.outside_since is not None:
            time, where = self.outside_since
            details = {"distance_m": round(self.outside_m, 3), "percentage": 100.0 * self.outside_m / self.total_m}
            out.append(Infraction(InfractionType.OUTSIDE_ROUTE_LANES, time, where, details=details))
        out.extend(self.checkpoints)
        if final and self._last is not None and self.passed_m / self.length > LAST_CHECKPOINT_SHARE:
            out.extend(self._checkpoint(self._last))
        return out


def scored_infractions(events: Sequence[Infraction], criteria: RouteCriteria | None, final: bool) -> list[Infraction]:
    """What a protocol scores: the backend's events (its own per-excursion outside-lane and minimum-speed events
    left out) followed by the route criteria's."""
    kept = [e for e in events if e.type not in CRITERIA_TYPES]
    return kept + (criteria.infractions(final) if criteria is not None else [])

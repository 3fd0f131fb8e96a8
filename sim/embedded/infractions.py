"""Infraction detection for the ego, one event per occurrence (a contact, a stop-line crossing, an excursion).

Collisions are oriented-box overlaps; the event fires when a contact starts, not on every tick of it. Red lights
and stop signs are detected where the ego's front bumper crosses a stop line in the lane's direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from sim.core import ActorKind, EgoState, Infraction, InfractionType, box_corners
from sim.embedded.geometry import boxes_overlap
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.lights import RED


@dataclass(frozen=True)
class InfractionConfig:
    blocked_s: float = 60.0  # stationary this long is "blocked"
    blocked_speed: float = 0.1  # m/s
    route_deviation_m: float = 30.0  # lateral distance from the route that counts as deviating
    stop_sign_speed: float = 0.3  # m/s the ego must get under before a stop-sign line
    stop_sign_zone_m: float = 8.0  # ... within this distance of the line
    outside_lanes_grace_s: float = 1.0  # time outside the route lanes before it counts
    crossing_dedupe_s: float = 3.0  # one event per approach (several lanes' lines) within this time
    oncoming_lane_ok: bool = False  # passing through the oncoming lane next to the route is not outside the lanes


COLLISION_TYPE = {
    **{k: InfractionType.COLLISION_STATIC for k in ActorKind if k.is_static},
    **{k: InfractionType.COLLISION_VEHICLE for k in ActorKind if k.is_vehicle},
    ActorKind.PEDESTRIAN: InfractionType.COLLISION_PEDESTRIAN,
}


@dataclass
class _Latch:
    """A condition that produces one event when it becomes true (after `grace` seconds) and re-arms when false."""

    grace: float = 0.0
    since: float | None = None
    fired: bool = False

    def update(self, active: bool, t: float) -> bool:
        if not active:
            self.since, self.fired = None, False
            return False
        self.since = t if self.since is None else self.since
        if not self.fired and t - self.since >= self.grace:
            self.fired = True
            return True
        return False


@dataclass
class InfractionMonitor:
    graph: LaneGraph
    route_lanes: frozenset[int]
    config: InfractionConfig = field(default_factory=InfractionConfig)
    events: list[Infraction] = field(default_factory=list)
    outside_route_m: float = 0.0
    outside_route_lanes: bool = False  # this tick: the ego is outside its route lanes (no grace time)

    def __post_init__(self) -> None:
        g = self.graph
        polys = [
            shapely.buffer(LineString(g.lane_points(i)), g.width[i] / 2 + 0.05, cap_style="flat")
            for i in range(len(g.ids))
        ]
        polys += [Polygon(j.polygon) for j in g.net.junctions.values()]
        self.drivable = shapely.union_all(polys)
        shapely.prepare(self.drivable)
        rows = np.flatnonzero(np.isfinite(g.stop_s))
        x, y, yaw = g.pose(rows, g.stop_s[rows])
        normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=1) * (g.width[rows] / 2)[:, None]
        self._stop_a = np.stack([x, y], axis=1) - normal
        self._stop_b = np.stack([x, y], axis=1) + normal
        self._stop_dir = np.stack([np.cos(yaw), np.sin(yaw)], axis=1)
        self._stop_light = g.light[rows]
        self._stop_sign = g.stop_sign[rows]
        self._stop_key = [g.light_ids[g.light[r]] if g.light[r] >= 0 else g.ids[g.group(int(r))[0]] for r in rows]
        self._zone_min = np.full(len(rows), np.inf)
        self._last_cross: dict[str, float] = {}
        allowed = set(self.route_lanes)
        for lane in self.route_lanes:
            if not g.is_connector[lane]:
                allowed.update(g.group(lane))
            if self.config.oncoming_lane_ok and g.opposite[lane] >= 0:
                allowed.add(int(g.opposite[lane]))
        self.allowed_lanes = frozenset(allowed)
        self._contacts: set[int] = set()
        self._off_road = _Latch()
        self._outside = _Latch(self.config.outside_lanes_grace_s)
        self._blocked = _Latch(self.config.blocked_s)
        self._deviation = _Latch()
        self._prev_front: np.ndarray | None = None

    def _emit(self, kind: InfractionType, t: float, ego: EgoState, other: str | None = None, **details: object) -> None:
        self.events.append(Infraction(kind, t, (ego.x, ego.y), other, dict(details)))

    def update(
        self,
        t: float,
        ego: EgoState,
        ego_lane: int,
        route_d: float,
        boxes: np.ndarray,
        ids: list[int],
        kinds: list[ActorKind],
        light_codes: np.ndarray,
        moved: float,
    ) -> None:
        cfg = self.config
        box = np.array([ego.x, ego.y, ego.yaw, ego.length, ego.width])
        near = np.flatnonzero(np.hypot(boxes[:, 0] - ego.x, boxes[:, 1] - ego.y) < 15.0) if len(boxes) else []
        touching = {int(i) for i in np.asarray(near)[boxes_overlap(box, boxes[near])]} if len(near) else set()
        contacts = {ids[i] for i in touching}
        for i in sorted(touching):
            if ids[i] not in self._contacts:
                self._emit(COLLISION_TYPE[kinds[i]], t, ego, f"{kinds[i].value}:{ids[i]}", speed=round(ego.speed, 2))
        self._contacts = contacts

        c, s = math.cos(ego.yaw), math.sin(ego.yaw)
        front = np.array([ego.x + c * ego.length / 2, ego.y + s * ego.length / 2])
        self._stop_lines(t, ego, front, light_codes)
        self._prev_front = front

        corners = box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width)
        if self._off_road.update(not bool(np.all(shapely.contains_xy(self.drivable, corners[:, 0], corners[:, 1]))), t):
            self._emit(InfractionType.OFF_ROAD, t, ego)
        outside = ego_lane < 0 or ego_lane not in self.allowed_lanes
        self.outside_route_lanes = outside
        if outside:
            self.outside_route_m += moved
        if self._outside.update(outside, t):
            lane = self.graph.ids[ego_lane] if ego_lane >= 0 else None
            self._emit(InfractionType.OUTSIDE_ROUTE_LANES, t, ego, lane)
        if self._blocked.update(abs(ego.speed) < cfg.blocked_speed, t):
            self._emit(InfractionType.BLOCKED, t, ego, duration_s=cfg.blocked_s)
        if self._deviation.update(abs(route_d) > cfg.route_deviation_m, t):
            self._emit(InfractionType.ROUTE_DEVIATION, t, ego, distance_m=round(abs(route_d), 1))

    def _stop_lines(self, t: float, ego: EgoState, front: np.ndarray, codes: np.ndarray) -> None:
        if self._prev_front is None or not len(self._stop_key):
            return
        cfg = self.config
        rel1 = front - self._stop_a
        along1 = np.einsum("ij,ij->i", rel1, self._stop_dir)
        along0 = np.einsum("ij,ij->i", self._prev_front - self._stop_a, self._stop_dir)
        span = self._stop_b - self._stop_a
        frac = np.einsum("ij,ij->i", rel1, span) / np.einsum("ij,ij->i", span, span)
        across = (frac > -0.1) & (frac < 1.1)
        in_zone = across & (along1 < 0) & (along1 > -cfg.stop_sign_zone_m)
        self._zone_min = np.where(in_zone, np.minimum(self._zone_min, abs(ego.speed)), self._zone_min)
        self._zone_min = np.where(across & (along1 > -cfg.stop_sign_zone_m - 4.0), self._zone_min, np.inf)
        aligned = self._stop_dir @ np.array([math.cos(ego.yaw), math.sin(ego.yaw)]) > 0.5
        crossed = np.flatnonzero((along0 < 0) & (along1 >= 0) & across & aligned)
        for r in crossed:
            key = self._stop_key[r]
            if t - self._last_cross.get(key, -math.inf) < cfg.crossing_dedupe_s:
                continue
            self._last_cross[key] = t
            light = int(self._stop_light[r])
            if light >= 0 and int(codes[light]) == RED:
                self._emit(InfractionType.RED_LIGHT, t, ego, f"light:{key}")
            elif self._stop_sign[r] and self._zone_min[r] > cfg.stop_sign_speed:
                self._emit(
                    InfractionType.STOP_SIGN, t, ego, f"stop:{key}", min_speed=round(float(self._zone_min[r]), 2)
                )

    def drain(self) -> list[Infraction]:
        out, self.events = self.events, []
        return out

"""Types shared by every simulator backend, the controller, the planners and the scenarios.

Units: metres, seconds, radians (yaw counter-clockwise from +x), m/s. World frame is right-handed with +z up;
the CARLA backend converts from CARLA's left-handed frame at its boundary so nothing else has to.
This module imports nothing of ours: `planner`, `controller` and `scenarios` depend on it alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"VehicleControl.{name} must be in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class VehicleControl:
    """Mirror of `carla.VehicleControl` (same fields, same ranges)."""

    throttle: float = 0.0  # 0..1
    steer: float = 0.0  # -1 (full left) .. 1 (full right), as in CARLA
    brake: float = 0.0  # 0..1
    hand_brake: bool = False
    reverse: bool = False

    def __post_init__(self) -> None:
        _check_range("throttle", self.throttle, 0.0, 1.0)
        _check_range("steer", self.steer, -1.0, 1.0)
        _check_range("brake", self.brake, 0.0, 1.0)

    @classmethod
    def clipped(cls, throttle: float, steer: float, brake: float, **kwargs: Any) -> VehicleControl:
        """Build a control with every value clipped into its range (NaN becomes 0)."""

        def clip(v: float, lo: float, hi: float) -> float:
            return 0.0 if not math.isfinite(v) else min(hi, max(lo, float(v)))

        return cls(clip(throttle, 0, 1), clip(steer, -1, 1), clip(brake, 0, 1), **kwargs)


class Turn(str, Enum):
    """What a lane connector does inside a junction (and what a route maneuver asks for)."""

    STRAIGHT = "straight"
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class EgoState:
    x: float
    y: float
    yaw: float  # rad
    speed: float  # m/s, signed along the heading
    accel: float = 0.0  # m/s^2, longitudinal
    yaw_rate: float = 0.0  # rad/s
    steer_angle: float = 0.0  # rad, front-wheel angle (positive = left)
    length: float = 4.7
    width: float = 1.9


class ActorKind(str, Enum):
    VEHICLE = "vehicle"
    TRUCK = "truck"
    BUS = "bus"
    BICYCLE = "bicycle"
    PEDESTRIAN = "pedestrian"
    CONE = "cone"
    BARRIER = "barrier"
    PARKED_VEHICLE = "parked_vehicle"
    BROKEN_VEHICLE = "broken_vehicle"

    @property
    def is_static(self) -> bool:
        return self in (ActorKind.CONE, ActorKind.BARRIER, ActorKind.PARKED_VEHICLE, ActorKind.BROKEN_VEHICLE)

    @property
    def is_vehicle(self) -> bool:
        return self in (ActorKind.VEHICLE, ActorKind.TRUCK, ActorKind.BUS, ActorKind.BICYCLE)


@dataclass(frozen=True)
class ActorState:
    """An actor other than the ego, as privileged ground truth. (x, y) is the centre of the box footprint."""

    id: int
    kind: ActorKind
    x: float
    y: float
    yaw: float
    speed: float
    length: float
    width: float
    height: float
    lane_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)  # e.g. {"cargo": "cones", "hazard_lights": True}

    def corners(self) -> np.ndarray:
        """The four footprint corners (4, 2), counter-clockwise from front-left."""
        return box_corners(self.x, self.y, self.yaw, self.length, self.width)


def box_corners(x: float, y: float, yaw: float, length: float, width: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    hl, hw = length / 2.0, width / 2.0
    local = np.array([[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]])
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.array([x, y])


class LightColor(str, Enum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    OFF = "off"


@dataclass(frozen=True)
class TrafficLightState:
    id: str
    color: LightColor
    position: tuple[float, float, float]  # the light head, world frame
    stop_line: tuple[tuple[float, float], tuple[float, float]]  # segment the controlled lanes must stop behind
    lane_ids: tuple[str, ...] = ()  # lanes this head controls


class InfractionType(str, Enum):
    """Names follow the CARLA leaderboard 2.0 where one exists."""

    COLLISION_PEDESTRIAN = "collisions_pedestrian"
    COLLISION_VEHICLE = "collisions_vehicle"
    COLLISION_STATIC = "collisions_layout"
    RED_LIGHT = "red_light"
    STOP_SIGN = "stop_infraction"
    OFF_ROAD = "off_road"
    OUTSIDE_ROUTE_LANES = "outside_route_lanes"
    BLOCKED = "vehicle_blocked"
    ROUTE_DEVIATION = "route_dev"
    SCENARIO_TIMEOUT = "scenario_timeouts"  # a scenario on the route waited too long for the ego
    MIN_SPEED = "min_speed_infractions"
    YIELD_EMERGENCY_VEHICLE = "yield_emergency_vehicle_infractions"
    ROUTE_TIMEOUT = "route_timeout"  # the route's time budget ran out (it ends the route; no penalty)

    @property
    def label(self) -> str:
        """What a reviewer reads on a video or a page, e.g. "hit a pedestrian"."""
        return INFRACTION_LABELS[self]


INFRACTION_LABELS: dict[InfractionType, str] = {
    InfractionType.COLLISION_PEDESTRIAN: "hit a pedestrian",
    InfractionType.COLLISION_VEHICLE: "hit a vehicle",
    InfractionType.COLLISION_STATIC: "hit an object",
    InfractionType.RED_LIGHT: "ran a red light",
    InfractionType.STOP_SIGN: "ran a stop sign",
    InfractionType.OFF_ROAD: "left the road",
    InfractionType.OUTSIDE_ROUTE_LANES: "outside the route lanes",
    InfractionType.BLOCKED: "blocked",
    InfractionType.ROUTE_DEVIATION: "left the route",
    InfractionType.SCENARIO_TIMEOUT: "scenario timed out",
    InfractionType.MIN_SPEED: "too slow for the traffic",
    InfractionType.YIELD_EMERGENCY_VEHICLE: "did not yield to an emergency vehicle",
    InfractionType.ROUTE_TIMEOUT: "route time ran out",
}


def infraction_label(value: str) -> str:
    """The label of an infraction type given by its results.json value (unknown values as they are)."""
    try:
        return InfractionType(value).label
    except ValueError:
        return value


@dataclass(frozen=True)
class Infraction:
    type: InfractionType
    time: float  # simulation time, s
    location: tuple[float, float]
    other: str | None = None  # the other party, e.g. "vehicle:12" or "light:J3-N"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "time": round(self.time, 3),
            "location": [round(self.location[0], 2), round(self.location[1], 2)],
            "other": self.other,
            **({"details": self.details} if self.details else {}),
        }


@dataclass(frozen=True)
class RouteManeuver:
    """A junction on the route: where it starts and ends (metres along the route) and the turn taken."""

    s_start: float
    s_end: float
    turn: Turn
    junction_id: str | None = None


@dataclass(frozen=True, eq=False)
class Route:
    """The ego's planned path: a dense centre polyline with the lane of each point and the junction maneuvers."""

    points: np.ndarray  # (N, 2), N >= 2, consecutive points distinct
    lane_ids: tuple[str, ...]  # lane of each point
    maneuvers: tuple[RouteManeuver, ...] = ()

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 2:
            raise ValueError(f"Route.points must have shape (N>=2, 2), got {pts.shape}")
        if len(self.lane_ids) != len(pts):
            raise ValueError("Route.lane_ids must have one entry per point")
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        if np.any(seg_len <= 0):
            raise ValueError("Route.points must not repeat consecutive points")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "_s", np.concatenate([[0.0], np.cumsum(seg_len)]))
        object.__setattr__(self, "_heading", np.arctan2(seg[:, 1], seg[:, 0]))

    @property
    def s(self) -> np.ndarray:
        """Cumulative arc length at each point."""
        return self._s  # type: ignore[attr-defined]

    @property
    def length(self) -> float:
        return float(self._s[-1])  # type: ignore[attr-defined]

    def _segment(self, s: float) -> int:
        return int(np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self.points) - 2))

    def to_world(self, s: float, d: float = 0.0) -> tuple[float, float, float]:
        """(x, y, yaw) of the point `s` metres along the route and `d` metres to its left.

        Beyond either end the first/last segment is extended in a straight line.
        """
        i = self._segment(s)
        yaw = float(self._heading[i])  # type: ignore[attr-defined]
        p0 = self.points[i]
        ds = s - self.s[i]
        c, sn = math.cos(yaw), math.sin(yaw)
        return (float(p0[0] + ds * c - d * sn), float(p0[1] + ds * sn + d * c), yaw)

    def project(self, x: float, y: float, s_hint: float | None = None, window: float = 30.0) -> tuple[float, float]:
        """(s, d) of the closest point on the route; d > 0 left of it.

        With `s_hint`, only segments within `window` metres of it are searched, which keeps the projection on the
        right branch where a route passes near itself (loops, junctions)."""
        lo, hi = 0, len(self.points) - 1
        if s_hint is not None:
            lo = max(0, self._segment(s_hint - window))
            hi = min(len(self.points) - 1, self._segment(s_hint + window) + 1)
        k, t, d = closest_on_polyline(self.points[lo : hi + 1], x, y)
        if lo + k == 0 and t <= 0.0:  # behind the start: along the first segment extended backwards
            a, b = self.points[0], self.points[1]
            u = (b - a) / float(np.hypot(*(b - a)))
            rel = np.array([x, y]) - a
            return float(rel @ u), float(u[0] * rel[1] - u[1] * rel[0])
        return float(self.s[lo + k] + t * (self.s[lo + k + 1] - self.s[lo + k])), d

    def lane_at(self, s: float) -> str:
        return self.lane_ids[self._segment(s)]

    def next_maneuver(self, s: float) -> RouteManeuver | None:
        """The first maneuver whose junction the ego has not yet left."""
        return next((m for m in self.maneuvers if m.s_end > s), None)


@dataclass(frozen=True)
class CameraConfig:
    """The front camera, shared by every backend. Mount is relative to the ego's box centre at ground level."""

    width: int = 480
    height: int = 270
    fov_deg: float = 90.0  # horizontal field of view, as CARLA's `fov` attribute
    x: float = 1.5  # m forward
    y: float = 0.0  # m left
    z: float = 1.7  # m up
    pitch_deg: float = 0.0  # positive looks up

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError(f"CameraConfig: width and height must be >= 16, got {self.width}x{self.height}")
        if not 10.0 <= self.fov_deg <= 170.0:
            raise ValueError(f"CameraConfig.fov_deg must be in [10, 170], got {self.fov_deg}")


WEATHER_PRESETS: tuple[str, ...] = ("clear_noon", "cloudy", "wet", "sunset", "night", "fog")


@dataclass(frozen=True)
class Observation:
    """What a deployed planner may see: no privileged information."""

    image: np.ndarray  # (H, W, 3) uint8, front camera
    ego: EgoState
    navigation: str  # e.g. "Turn left in 40 m"
    time: float  # s


@dataclass(frozen=True)
class WorldState:
    """Privileged ground truth for experts, labelling and metrics."""

    time: float
    ego: EgoState
    actors: tuple[ActorState, ...]
    lights: tuple[TrafficLightState, ...]
    route: Route
    route_s: float  # ego progress along the route, m
    ego_lane_id: str | None
    speed_limit: float  # m/s, of the ego's lane
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LanePosition:
    """Where a point lies on one lane."""

    lane_id: str
    s: float  # m along the lane centre from its start
    d: float  # m left of the lane centre
    heading_error: float = 0.0  # rad, pose yaw minus lane direction (0 when no yaw was given)
    in_junction: bool = False  # the lane is a connector inside a junction


@dataclass(frozen=True)
class StopLineAhead:
    distance: float  # m along the path from its first point
    lane_id: str
    light_id: str | None  # the light controlling it, None at a stop sign
    stop_sign: bool


@dataclass(frozen=True, eq=False)
class LanePath:
    """A dense lane-centre path ahead of a lane position (about one point per half metre), first point at the query."""

    points: np.ndarray  # (N, 2)
    lane_ids: tuple[str, ...]  # lane of each point
    speed_limits: np.ndarray  # (N,) m/s, of each point's lane
    stop_lines: tuple[StopLineAhead, ...] = ()
    turn: Turn | None = None  # turn taken at the first junction on the path; None when it reaches none

    @property
    def length(self) -> float:
        return polyline_length(self.points)

    def next_stop_line(self) -> StopLineAhead | None:
        return self.stop_lines[0] if self.stop_lines else None


@runtime_checkable
class RoadMap(Protocol):
    """Lane geometry a backend-independent controller needs; implemented by every backend (`backend.road_map`).

    Lanes are named by opaque string ids. Neighbours are same-direction lanes only. Nothing here is privileged:
    it is what a driver knows from the map and the signs.
    """

    def locate(self, x: float, y: float, yaw: float | None = None) -> LanePosition | None:
        """The lane under a pose (best aligned with `yaw` where lanes overlap, as in junctions); None off-road."""
        ...

    def project(self, lane_id: str, x: float, y: float) -> LanePosition:
        """(s, d) of a point relative to a given lane, e.g. the target lane of a lane change."""
        ...

    def neighbour(self, lane_id: str, side: Literal["left", "right"]) -> str | None:
        """The adjacent same-direction lane on that side, or None."""
        ...

    def oncoming(self, lane_id: str) -> str | None:
        """The lane across the centre line running the other way (on a two-way road), or None. Passing an obstacle
        through it is the only way round where the road has no second lane our way."""
        ...

    def turns_ahead(self, lane_id: str) -> tuple[Turn, ...]:
        """Turns this lane can take at the next junction it reaches (empty if it reaches none)."""
        ...

    def path_ahead(
        self, lane_id: str, s: float, length_m: float, turn: Turn | None = None, route: Route | None = None
    ) -> LanePath:
        """The centre path from (lane_id, s) for `length_m` metres. At the first junction it takes `turn` when this
        lane offers it (else the route's branch if a route is given, else straight, else the first branch); at later
        junctions it follows `route` where the route goes through them, else goes straight."""
        ...

    def lane_width(self, lane_id: str) -> float: ...

    def speed_limit(self, lane_id: str) -> float:
        """m/s."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A synchronous simulator with a fixed tick. The closed-loop runner owns the loop; nothing else steps it.

    Every backend also offers `road_map` (a `RoadMap`, valid after `load`) for the controller and experts, and may
    offer `network` for renderers. They are not protocol members because `isinstance` checks on Python 3.11 would
    read them before `load`."""

    dt: float

    def load(self, scenario: Any, seed: int) -> None: ...

    def step(self, control: VehicleControl) -> None: ...

    def observe(self) -> Observation: ...

    def ground_truth(self) -> WorldState: ...

    def events(self) -> list[Infraction]: ...

    def close(self) -> None: ...


def closest_on_polyline(points: np.ndarray, x: float, y: float) -> tuple[int, float, float]:
    """(segment k, fraction t in [0, 1] along it, signed distance, left of the polyline positive) of the point of
    an (N >= 2, 2) polyline closest to (x, y)."""
    a = points[:-1]
    ab = points[1:] - a
    q = np.array([x, y])
    t = np.clip(np.einsum("ij,ij->i", q - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0.0, 1.0)
    d2 = np.sum((a + t[:, None] * ab - q) ** 2, axis=1)
    k = int(np.argmin(d2))
    cross = ab[k, 0] * (y - a[k, 1]) - ab[k, 1] * (x - a[k, 0])
    return k, float(t[k]), math.copysign(math.sqrt(float(d2[k])), cross)


def wrap_angle(a: float) -> float:
    """Wrap an angle to (-pi, pi]."""
    return (a + math.pi) % (2 * math.pi) - math.pi if not (-math.pi < a <= math.pi) else a


def polyline_length(points: Sequence[Sequence[float]] | np.ndarray) -> float:
    pts = np.asarray(points, dtype=np.float64)
    return float(np.sum(np.hypot(*np.diff(pts, axis=0).T))) if len(pts) > 1 else 0.0

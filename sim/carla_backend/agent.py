"""The logic of our leaderboard agent (`sim/leaderboard_agent.py`), free of the leaderboard package so it can be
tested: sensor suite, sensor readings, the route as a lane, and the plan/control loop. Where the ego is comes from
`sim.carla_backend.localization` (GNSS convention, pose filter).

On the SENSORS track the agent knows the route the leaderboard hands over (dense world coordinates with road options)
and its own GNSS, IMU and speed; the route becomes a one-lane road map for the meta-action controller (turns and
lane changes are in the route itself). On the MAP track the OpenDRIVE map arrives as a pseudo-sensor (requested
every second: leaderboard 2.0 does not wait for it, so a single reading can be lost) and the road map is the town's
lane graph (`sim.carla_backend.network`), as in the CARLA backend.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from controller.meta_action import MetaActionController, MetaActionControllerConfig
from planner.interface import Plan, Planner, PlannerInput
from sim.carla_backend.localization import GeoFrame, GnssConvention, PoseFilter, PoseNoise, yaw_from_compass
from sim.core import CameraConfig, EgoState, Route, RouteManeuver, Turn, VehicleControl
from sim.embedded.backend import navigation_text
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.roadnet import Lane, RoadNetwork
from sim.embedded.routing import LaneChange, Leg, PlannedRoute, RouteError, route_through

log = logging.getLogger(__name__)
MAX_SENSOR_RADIUS_M = 3.0  # leaderboard: every sensor within this distance of the vehicle origin
SENSOR_LIMITS: Mapping[str, int] = {  # the leaderboard's stricter (qualifier) counts
    "sensor.camera.rgb": 4,
    "sensor.other.gnss": 1,
    "sensor.other.imu": 1,
    "sensor.speedometer": 1,
    "sensor.opendrive_map": 1,
}
CAMERA, SPEED, GNSS, IMU, HD_MAP = "rgb_front", "speed", "gnss", "imu", "hd_map"
_TURN_OPTIONS = {"LEFT": Turn.LEFT, "RIGHT": Turn.RIGHT, "STRAIGHT": Turn.STRAIGHT}
_CHANGE_OPTIONS = {"CHANGELANELEFT": "left", "CHANGELANERIGHT": "right"}
TRACKS = ("SENSORS", "MAP", "SENSORS_QUALIFIER", "MAP_QUALIFIER")
MAP_TRACKS = ("MAP", "MAP_QUALIFIER")


@dataclass(frozen=True)
class AgentConfig:
    planner: dict[str, Any] = field(default_factory=lambda: {"name": "vlm"})  # as conf/planner/<name>.yaml
    controller: MetaActionControllerConfig = field(default_factory=MetaActionControllerConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    track: Literal["SENSORS", "MAP", "SENSORS_QUALIFIER", "MAP_QUALIFIER"] = "SENSORS"
    plan_period_s: float = 0.5
    lane_width_m: float = 3.5  # of the route lane (SENSORS track)
    speed_limit_kmh: float = 30.0  # of the route lane (SENSORS track)
    map_reading_hz: float = 1.0  # MAP tracks: how often the OpenDRIVE map is sent (the leaderboard's agents use 1)
    map_wait_s: float = 2.0  # MAP tracks: say in the log when no map arrived after this much simulated time
    pose_filter: bool = True  # fuse GNSS, IMU and speed (False: raw GNSS position and compass)
    pose_noise: PoseNoise = field(default_factory=PoseNoise)
    bench2drive_metric_every: int = 1  # Bench2Drive: write the ego's motion to metric_info.json every n ticks

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise ValueError(f"track must be one of {TRACKS}, got {self.track!r}")
        if not self.plan_period_s > 0:
            raise ValueError(f"plan_period_s must be positive, got {self.plan_period_s}")
        if not (self.map_reading_hz > 0 and self.map_wait_s > 0 and self.bench2drive_metric_every >= 1):
            raise ValueError("map_reading_hz and map_wait_s must be positive, bench2drive_metric_every >= 1")


def sensor_specs(config: AgentConfig) -> list[dict[str, Any]]:
    """The leaderboard sensor list: the shared front camera, speedometer, GNSS and IMU (+ the map on MAP).

    Leaderboard sensor poses are CARLA's (y to the right); our camera config says metres to the left."""
    cam = config.camera
    specs: list[dict[str, Any]] = [
        {
            "type": "sensor.camera.rgb",
            "id": CAMERA,
            "x": cam.x,
            "y": -cam.y,
            "z": cam.z,
            "roll": 0.0,
            "pitch": cam.pitch_deg,
            "yaw": 0.0,
            "width": cam.width,
            "height": cam.height,
            "fov": cam.fov_deg,
        },
        {"type": "sensor.speedometer", "id": SPEED, "reading_frequency": 20},
        {"type": "sensor.other.gnss", "id": GNSS, "x": 0.0, "y": 0.0, "z": 0.0},
        {"type": "sensor.other.imu", "id": IMU, "x": 0.0, "y": 0.0, "z": 0.0, "roll": 0.0, "pitch": 0.0, "yaw": 0.0},
    ]
    if config.track in MAP_TRACKS:
        specs.append({"type": "sensor.opendrive_map", "id": HD_MAP, "reading_frequency": config.map_reading_hz})
    check_sensor_specs(specs, config.track)
    return specs


def check_sensor_specs(specs: Sequence[Mapping[str, Any]], track: str) -> None:
    """Raise ValueError where the leaderboard would refuse the suite (type, count, mount radius, map on SENSORS)."""
    counts: dict[str, int] = {}
    for spec in specs:
        kind = spec["type"]
        if kind not in SENSOR_LIMITS:
            raise ValueError(f"sensor {spec['id']!r}: type {kind} is not allowed")
        if kind == "sensor.opendrive_map" and track not in MAP_TRACKS:
            raise ValueError("the OpenDRIVE map is only allowed on the MAP tracks")
        if math.sqrt(sum(float(spec.get(k, 0.0)) ** 2 for k in "xyz")) > MAX_SENSOR_RADIUS_M:
            raise ValueError(f"sensor {spec['id']!r} is mounted beyond {MAX_SENSOR_RADIUS_M} m")
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] > SENSOR_LIMITS[kind]:
            raise ValueError(f"too many {kind} sensors (at most {SENSOR_LIMITS[kind]})")


@dataclass(frozen=True)
class Readings:
    image: np.ndarray | None  # (H, W, 3) RGB
    speed: float
    gnss: tuple[float, float] | None  # lat, lon
    compass: float | None
    opendrive: str | None = None
    yaw_rate: float | None = None  # rad/s, counter-clockwise (the gyroscope's z, negated out of CARLA's frame)


def readings_from_input(input_data: Mapping[str, tuple[int, Any]]) -> Readings:
    """The leaderboard's `input_data` ({id: (frame, data)}) as plain readings; camera frames arrive BGRA."""

    def data(key: str) -> Any:
        item = input_data.get(key)
        return None if item is None else item[1]

    image = data(CAMERA)
    rgb = None if image is None else np.ascontiguousarray(np.asarray(image)[:, :, 2::-1])
    speed = data(SPEED)
    gnss, imu, hd_map = data(GNSS), data(IMU), data(HD_MAP)
    return Readings(
        image=rgb,
        speed=float(speed["speed"]) if speed is not None else 0.0,
        gnss=(float(gnss[0]), float(gnss[1])) if gnss is not None else None,
        compass=float(imu[-1]) if imu is not None else None,
        opendrive=hd_map["opendrive"] if isinstance(hd_map, Mapping) else None,
        yaw_rate=-float(imu[5]) if imu is not None and len(imu) > 5 else None,
    )


def option_name(option: Any) -> str:
    """RoadOption enum (leaderboard's `agents` copy) or its name, as an upper-case string."""
    return str(getattr(option, "name", option)).split(".")[-1].upper()


def route_plan(points: np.ndarray, options: Sequence[str], lane_id: str = "route") -> PlannedRoute:
    """The leaderboard's dense route as our route: junction runs (LEFT / RIGHT / STRAIGHT) become maneuvers,
    lane-change runs become lane changes (for the navigation text)."""
    keep = np.concatenate([[True], np.hypot(*np.diff(points, axis=0).T) > 1e-3])
    points, opts = points[keep], [o for o, k in zip(options, keep, strict=True) if k]
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    maneuvers, changes = [], []
    i = 0
    while i < len(opts):
        j = i
        while j + 1 < len(opts) and opts[j + 1] == opts[i]:
            j += 1
        if opts[i] in _TURN_OPTIONS:
            maneuvers.append(
                RouteManeuver(float(s[i]), float(s[j]) + 1e-3, _TURN_OPTIONS[opts[i]], f"junction{len(maneuvers)}")
            )
        elif opts[i] in _CHANGE_OPTIONS:
            changes.append(LaneChange(float((s[i] + s[j]) / 2), _CHANGE_OPTIONS[opts[i]]))
        i = j + 1
    route = Route(points, (lane_id,) * len(points), tuple(maneuvers))
    return PlannedRoute(route, [Leg(0, 0.0, float(s[-1]))], [], changes, frozenset({0}))


def route_network(points: np.ndarray, width: float, speed_limit: float) -> RoadNetwork:
    return RoadNetwork("route", {"route": Lane("route", points, width, speed_limit, "route")})


class LeaderboardDriver:
    """Plans every `plan_period_s` of simulation time and controls every step, from leaderboard readings."""

    def __init__(
        self,
        config: AgentConfig,
        planner: Planner,
        controller_factory: Callable[[Any], MetaActionController] | None = None,
    ) -> None:
        self.config, self.planner = config, planner
        self.controller_factory = controller_factory or (
            lambda road_map: MetaActionController(road_map, config.controller)
        )
        self.geo: GeoFrame | None = None
        self.gnss: GnssConvention | None = None
        self.pose = PoseFilter(config.pose_noise)
        self.plan_route: PlannedRoute | None = None
        self.road_map: Any = None
        self.controller: MetaActionController | None = None
        self.last_plan: Plan | None = None
        self.last_time: float | None = None
        self.start_time: float | None = None
        self.next_plan_time = 0.0
        self.route_s = 0.0
        self.yaw = 0.0
        self.map_built = False
        self.map_missing_logged = False

    def set_route(
        self, gps: Sequence[tuple[float, float]], world: Sequence[tuple[float, float, float]], options: Sequence[Any]
    ) -> None:
        """The leaderboard's route: GNSS points and the matching world poses (our frame) with road options."""
        pts = np.asarray([(x, y) for x, y, _ in world], dtype=np.float64)
        self.geo = GeoFrame.fit(gps, pts)
        self.gnss = GnssConvention(self.geo, pts)
        self.pose.reset()
        self.plan_route = route_plan(pts, [option_name(o) for o in options])
        self.yaw = world[0][2]
        graph = LaneGraph(
            route_network(self.plan_route.route.points, self.config.lane_width_m, self.config.speed_limit_kmh / 3.6)
        )
        self._use(EmbeddedRoadMap(graph))

    def use_opendrive(self, xodr: str, timestamp: float = 0.0) -> None:
        """MAP track: drive on the town's lanes; the route is re-planned through the leaderboard's points."""
        import carla

        from sim.carla_backend.network import build_network

        self.map_built = True
        assert self.plan_route is not None
        graph = LaneGraph(
            build_network(carla.Map("leaderboard", xodr), default_speed_limit=self.config.speed_limit_kmh / 3.6)
        )
        route = self.plan_route.route
        poses = [route.to_world(float(s)) for s in np.arange(0.0, route.length, 25.0)] + [route.to_world(route.length)]
        poses = [p for p in poses if _on_lane(graph, p)]  # chords across a junction match no lane
        try:
            self.plan_route = route_through(graph, poses)
        except RouteError as err:
            log.warning("OpenDRIVE map received at t=%.1f s but the route does not fit its lanes (%s): "
                        "driving on the route lane only", timestamp, err)  # fmt: skip
            return
        log.info("OpenDRIVE map received at t=%.1f s: driving on the town's lanes", timestamp)
        self._use(EmbeddedRoadMap(graph))

    def _use(self, road_map: Any) -> None:
        self.road_map = road_map
        self.controller = self.controller_factory(road_map)
        self.controller.reset()

    def _check_map(self, readings: Readings, timestamp: float) -> None:
        if self.map_built or self.config.track not in MAP_TRACKS:
            return
        if readings.opendrive:
            self.use_opendrive(readings.opendrive, timestamp)
        elif not self.map_missing_logged and timestamp - (self.start_time or 0.0) >= self.config.map_wait_s:
            self.map_missing_logged = True
            log.warning("no OpenDRIVE map after %.1f s on the %s track: driving on the route lane until it arrives",
                        self.config.map_wait_s, self.config.track)  # fmt: skip

    def run_step(self, readings: Readings, timestamp: float) -> VehicleControl:
        if self.plan_route is None or self.controller is None or self.geo is None:
            return VehicleControl(brake=1.0)
        self.start_time = timestamp if self.start_time is None else self.start_time
        self._check_map(readings, timestamp)
        dt = 0.05 if self.last_time is None else max(1e-3, timestamp - self.last_time)
        self.last_time = timestamp
        ego = self._ego(readings, dt)
        route = self.plan_route.route
        self.route_s = route.project(ego.x, ego.y, s_hint=self.route_s, window=15.0)[0]
        if timestamp >= self.next_plan_time - 1e-9:
            self.next_plan_time = timestamp + self.config.plan_period_s
            image = readings.image if readings.image is not None else np.zeros((1, 1, 3), dtype=np.uint8)
            nav = navigation_text(self.plan_route, self.route_s)
            self.last_plan = self.planner.plan(PlannerInput(image, ego.speed, nav, timestamp))
            self.controller.set_action(self.last_plan.action, ego)
        return self.controller.control(ego, dt, route)

    def _ego(self, readings: Readings, dt: float) -> EgoState:
        assert self.gnss is not None and self.plan_route is not None
        yaw = yaw_from_compass(readings.compass) if readings.compass is not None else None
        xy = None
        if readings.gnss is not None:
            lat, lon = readings.gnss
            before = self.gnss.current
            convention = self.gnss.observe(lat, lon, yaw)
            if convention != before:
                self.pose.reset()  # the filter followed positions in the other convention
            xy = self.gnss.candidates(lat, lon)[convention]
        if self.config.pose_filter:
            pose = self.pose.step(dt, xy, yaw, readings.speed, readings.yaw_rate)
            if pose is not None:
                x, y, self.yaw, _ = pose
                return EgoState(x=x, y=y, yaw=self.yaw, speed=readings.speed)
        if xy is None:
            xy = (float(self.plan_route.route.points[0][0]), float(self.plan_route.route.points[0][1]))
        self.yaw = self.yaw if yaw is None else yaw
        return EgoState(x=xy[0], y=xy[1], yaw=self.yaw, speed=readings.speed)


def _on_lane(graph: LaneGraph, pose: tuple[float, float, float]) -> bool:
    hit = graph.nearest(*pose, max_dist=2.0)
    return hit is not None and abs(hit.heading_error) < math.radians(30.0)

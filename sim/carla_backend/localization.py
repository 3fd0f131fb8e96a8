"""Where the leaderboard agent is, from what the leaderboard gives it: GNSS fixes, the IMU (compass, gyroscope) and
the speedometer, with the route's GNSS and world points to tie GNSS to the world frame.

- `GeoFrame`: GNSS (lat, lon) to our world frame, fitted on the route points the leaderboard hands over.
- `GnssConvention`: the CARLA 0.9.16 GNSS sensor reports latitude with the opposite sign to the leaderboard's route
  GPS (carla-simulator/carla#9389); 0.9.15 agrees with it. The convention is told apart from the first fixes (which
  reading lies on the route where the ego starts) and, where both do (a route along the equator line), from the
  direction the ego moves against its compass heading.
- `PoseFilter`: an unscented Kalman filter (filterpy) over (x, y, yaw, speed) that predicts with the speedometer
  and the gyroscope and corrects with GNSS and the compass, so the controller sees a smooth pose under the
  leaderboard's GNSS noise (0.000005 deg, about 0.55 m).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from filterpy.kalman import MerweScaledSigmaPoints, UnscentedKalmanFilter

from sim.core import closest_on_polyline, wrap_angle

log = logging.getLogger(__name__)
EARTH_RADIUS_M = 6378137.0  # CARLA's geo-reference sphere


@dataclass(frozen=True)
class GeoFrame:
    """GNSS (lat, lon in degrees) to our world frame, as CARLA geo-references a town: Mercator scaled by the
    cosine of the reference latitude, offset so that the reference maps to the origin."""

    scale: float  # cos(reference latitude)
    offset_x: float
    offset_y: float

    @staticmethod
    def _mercator(lat: np.ndarray, lon: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        mx = scale * EARTH_RADIUS_M * np.radians(lon)
        my = scale * EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
        return mx, my

    @classmethod
    def referenced(cls, lat0: float, lon0: float) -> GeoFrame:
        """The frame of a town geo-referenced at (lat0, lon0): that point is the world origin."""
        scale = math.cos(math.radians(lat0))
        mx, my = cls._mercator(np.array([lat0]), np.array([lon0]), scale)
        return cls(scale, -float(mx[0]), -float(my[0]))

    @classmethod
    def fit(cls, gps: Sequence[tuple[float, float]], world: Sequence[tuple[float, float]]) -> GeoFrame:
        """From matching route points (the leaderboard gives the route both ways); one point is enough."""
        lat, lon = np.asarray(gps, dtype=np.float64).T
        xy = np.asarray(world, dtype=np.float64)
        scale = math.cos(math.radians(float(np.mean(lat))))
        mx, my = cls._mercator(lat, lon, scale)
        return cls(scale, float(np.mean(xy[:, 0] - mx)), float(np.mean(xy[:, 1] - my)))

    def to_world(self, lat: float, lon: float) -> tuple[float, float]:
        mx, my = self._mercator(np.array([lat]), np.array([lon]), self.scale)
        return float(mx[0]) + self.offset_x, float(my[0]) + self.offset_y

    def to_gps(self, x: float, y: float) -> tuple[float, float]:
        mx, my = (
            (x - self.offset_x) / (self.scale * EARTH_RADIUS_M),
            (y - self.offset_y) / (self.scale * EARTH_RADIUS_M),
        )
        return math.degrees(2 * math.atan(math.exp(my)) - math.pi / 2), math.degrees(mx)


def yaw_from_compass(compass: float) -> float | None:
    """Our yaw from the IMU compass (radians clockwise from north, north being our +y); None when invalid."""
    if not math.isfinite(compass):
        return None
    return wrap_angle(math.pi / 2 - compass)


LATITUDE_SIGN = {"leaderboard": 1.0, "flipped_latitude": -1.0}  # how a GNSS reading's latitude relates to the route's


class GnssConvention:
    """Decides which latitude sign the GNSS sensor uses, from the fixes themselves.

    Evidence, per candidate: the mean distance of its positions to the first `near_route_m` of the route (the ego
    starts there), and, once the ego has moved `move_m`, the angle between its motion and the compass heading. A
    candidate wins when it is clearly closer to the route, or when both are on it and only its motion agrees with
    the compass. Until then the closer one is used."""

    def __init__(
        self, geo: GeoFrame, route_xy: np.ndarray, near_route_m: float = 60.0, on_route_m: float = 6.0, move_m=3.0
    ) -> None:
        self.geo = geo
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(route_xy, axis=0).T))])
        self.route_start = route_xy[: max(2, int(np.searchsorted(s, near_route_m)) + 1)]
        self.on_route_m, self.move_m = on_route_m, move_m
        self.decided: str | None = None
        self._distance = dict.fromkeys(LATITUDE_SIGN, 0.0)
        self._fixes = 0
        self._anchor: dict[str, tuple[float, float]] | None = None
        self._heading_votes = dict.fromkeys(LATITUDE_SIGN, 0)

    def candidates(self, lat: float, lon: float) -> dict[str, tuple[float, float]]:
        return {name: self.geo.to_world(sign * lat, lon) for name, sign in LATITUDE_SIGN.items()}

    @property
    def current(self) -> str:
        if self.decided is not None:
            return self.decided
        return min(LATITUDE_SIGN, key=lambda name: self._distance[name])

    def observe(self, lat: float, lon: float, yaw: float | None) -> str:
        """Take one fix (and the compass yaw, when valid); returns the convention in use."""
        if self.decided is not None:
            return self.decided
        points = self.candidates(lat, lon)
        self._fixes += 1
        for name, (x, y) in points.items():
            distance = abs(closest_on_polyline(self.route_start, x, y)[2])
            self._distance[name] += (distance - self._distance[name]) / self._fixes  # running mean
        near, far = sorted(LATITUDE_SIGN, key=lambda name: self._distance[name])
        if self._distance[near] < self.on_route_m and self._distance[far] > 3 * max(
            self.on_route_m, self._distance[near]
        ):
            return self._decide(
                near, f"fixes {self._distance[near]:.1f} m vs {self._distance[far]:.1f} m off the route"
            )
        self._vote_by_heading(points, yaw)
        return self.current

    def _vote_by_heading(self, points: dict[str, tuple[float, float]], yaw: float | None) -> None:
        if self._anchor is None:
            self._anchor = points
            return
        moved = {n: (points[n][0] - self._anchor[n][0], points[n][1] - self._anchor[n][1]) for n in points}
        if yaw is None or math.hypot(*moved["leaderboard"]) < self.move_m:
            return
        self._anchor = points
        errors = {n: abs(wrap_angle(math.atan2(dy, dx) - yaw)) for n, (dx, dy) in moved.items()}
        agree = [n for n, e in errors.items() if e < math.radians(30.0)]
        if len(agree) == 1:
            self._heading_votes[agree[0]] += 1
            if self._heading_votes[agree[0]] >= 3:
                self._decide(agree[0], "motion agrees with the compass")

    def _decide(self, name: str, why: str) -> str:
        self.decided = name
        log.info("GNSS convention: %s (%s)", name, why)
        return name


@dataclass(frozen=True)
class PoseNoise:
    gnss_m: float = 0.6  # std of a GNSS position (the leaderboard's 0.000005 deg is about 0.55 m)
    compass_rad: float = 0.02
    speed_mps: float = 0.1
    accel_mps2: float = 3.0  # process noise: unmodelled longitudinal acceleration
    yaw_accel_rad_s2: float = 1.0  # process noise: unmodelled yaw acceleration


def _residual(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.asarray(a, dtype=np.float64) - b
    d[2] = wrap_angle(float(d[2]))
    return d


def _mean(sigmas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    out = np.dot(weights, sigmas)
    out[2] = math.atan2(float(np.dot(weights, np.sin(sigmas[:, 2]))), float(np.dot(weights, np.cos(sigmas[:, 2]))))
    return out


def _motion(state: np.ndarray, dt: float, yaw_rate: float = 0.0) -> np.ndarray:
    x, y, yaw, v = state
    return np.array([x + v * math.cos(yaw) * dt, y + v * math.sin(yaw) * dt, wrap_angle(yaw + yaw_rate * dt), v])


class PoseFilter:
    """(x, y, yaw, speed) from GNSS positions, compass yaw, gyroscope yaw rate and the speedometer."""

    def __init__(self, noise: PoseNoise | None = None) -> None:
        self.noise = noise or PoseNoise()
        points = MerweScaledSigmaPoints(4, alpha=0.1, beta=2.0, kappa=-1.0, subtract=_residual)
        self.ukf = UnscentedKalmanFilter(
            dim_x=4,
            dim_z=4,
            dt=0.05,
            hx=lambda state: state,
            fx=_motion,
            points=points,
            x_mean_fn=_mean,
            z_mean_fn=_mean,
            residual_x=_residual,
            residual_z=_residual,
        )
        self.ready = False

    def reset(self) -> None:
        self.ready = False

    def step(
        self, dt: float, xy: tuple[float, float] | None, yaw: float | None, speed: float, yaw_rate: float | None
    ) -> tuple[float, float, float, float] | None:
        """Predict over `dt` and correct with what was measured; None until a first fix and heading arrive."""
        n, ukf = self.noise, self.ukf
        if not self.ready:
            if xy is None or yaw is None:
                return None
            ukf.x = np.array([xy[0], xy[1], yaw, speed])
            ukf.P = np.diag([n.gnss_m**2, n.gnss_m**2, n.compass_rad**2, n.speed_mps**2])
            self.ready = True
            return xy[0], xy[1], yaw, speed
        ukf.Q = np.diag(
            [
                (0.5 * n.accel_mps2 * dt**2) ** 2,
                (0.5 * n.accel_mps2 * dt**2) ** 2,
                (n.yaw_accel_rad_s2 * dt) ** 2,
                (n.accel_mps2 * dt) ** 2,
            ]
        )
        ukf.predict(dt=dt, yaw_rate=0.0 if yaw_rate is None else yaw_rate)
        big = 1e6  # a component not measured this tick: its measurement is the prediction, with no weight
        z = np.array([*(xy if xy is not None else ukf.x[:2]), yaw if yaw is not None else ukf.x[2], speed])
        r = [n.gnss_m**2 if xy is not None else big] * 2 + [n.compass_rad**2 if yaw is not None else big]
        ukf.update(z, R=np.diag([*r, n.speed_mps**2]))
        x, y, heading, v = (float(value) for value in ukf.x)
        return x, y, wrap_angle(heading), v

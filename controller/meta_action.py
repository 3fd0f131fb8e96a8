"""The meta-action controller: turns (SPEED, PATH) decisions into throttle, steer and brake every tick.

It sees only the ego state, the map (`RoadMap`), the route and the latest meta-action, so it runs unchanged on
every backend. Semantics (DESIGN.md): KEEP holds the target speed, ACCELERATE / DECELERATE move it by one step
(within the lane's limit), STOP brings the car to rest, at the stop line when one is within reach, and holds it.
STRAIGHT / LEFT_TURN / RIGHT_TURN choose the branch at the next junction; LEFT_CHANGE / RIGHT_CHANGE move to the
adjacent lane when it exists and are refused (counted) when it does not. On a two-way road with one lane our way,
LEFT_CHANGE moves the car into the oncoming lane (to pass an obstacle; `oncoming_passing`), where it keeps
following its own lane, offset by the distance between the two lanes, until RIGHT_CHANGE brings it back.

The reference (path ahead, speed profile, stop point) is tracked by one of two laws (`law`): `pid`, the speed PID
with a lateral tracker (pure pursuit or Stanley), or `mpc` (controller/mpc.py), which falls back to the PID command
on any tick its solver fails or runs over budget. `report()` gives the lateral tracking error and the MPC's counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from controller.longitudinal import LongitudinalConfig, LongitudinalController, pedals, stopping_speed
from controller.mpc import MPCConfig, MPCController, TrackingReference
from controller.path import nearest_index, point_ahead
from controller.pure_pursuit import PurePursuitConfig, pure_pursuit_angle
from controller.stanley import StanleyConfig, stanley_angle
from controller.tracking import TrackingLog
from planner.actions import MetaAction
from sim.core import EgoState, LanePath, LanePosition, RoadMap, Route, Turn, VehicleControl, closest_on_polyline

_TURN_OF_PATH = {"STRAIGHT": Turn.STRAIGHT, "LEFT_TURN": Turn.LEFT, "RIGHT_TURN": Turn.RIGHT}


@dataclass(frozen=True)
class MetaActionControllerConfig:
    speed_step: float = 2.0  # m/s that one ACCELERATE / DECELERATE moves the target
    # What KEEP / ACCELERATE / DECELERATE are relative to: "speed", the speed the car has when the decision is made
    # (KEEP holds it, or the target when within half a step of it; ACCELERATE aims a step above it; DECELERATE a step
    # below the lower of speed and target), or "target", the previous target (KEEP holds it, both steps stack).
    # "speed" makes the right action a function of what the planner can see: with "target" two ACCELERATEs in a row
    # raise the target by two steps, so a car still speeding up overshoots, and the label depends on a target the
    # camera cannot show (the expert surged behind a slow truck).
    relative_to: Literal["speed", "target"] = "speed"
    lookahead_m: float = 60.0  # length of the reference path built each tick
    lateral_accel_max: float = 2.0  # m/s^2, sets the speed through curves
    profile_decel: float = 2.0  # m/s^2 the speed profile plans with; below comfort_decel to leave room for lag
    stop_decel: float = 4.0  # m/s^2 of a STOP that has no stop line to aim for: firm, short of an emergency
    feedforward_min_decel: float = 0.5  # m/s^2: below this a STOP leaves braking to the speed loop alone
    stop_margin_m: float = 1.5  # front bumper stops this far before a stop line
    stop_line_slack_m: float = 12.0  # a line this much beyond the comfortable stopping point is still used
    lane_change_time_s: float = 3.0  # lateral move duration (distance = speed x time, at least the minimum)
    lane_change_min_m: float = 8.0
    oncoming_passing: bool = True  # LEFT_CHANGE on a road with one lane our way moves into the oncoming lane
    law: Literal["pid", "mpc"] = "pid"  # mpc falls back to pid (with `lateral`) when its solver fails
    lateral: Literal["pure_pursuit", "stanley"] = "pure_pursuit"
    wheelbase_m: float = 2.9
    max_steer_rad: float = math.radians(35.0)  # front-wheel angle at |steer| = 1
    longitudinal: LongitudinalConfig = field(default_factory=LongitudinalConfig)
    pure_pursuit: PurePursuitConfig = field(default_factory=PurePursuitConfig)
    stanley: StanleyConfig = field(default_factory=StanleyConfig)
    mpc: MPCConfig = field(default_factory=MPCConfig)

    def __post_init__(self) -> None:
        if self.law not in ("pid", "mpc"):
            raise ValueError(f"law must be 'pid' or 'mpc', got {self.law!r}")
        if self.lateral not in ("pure_pursuit", "stanley"):
            raise ValueError(f"lateral must be 'pure_pursuit' or 'stanley', got {self.lateral!r}")
        if self.relative_to not in ("speed", "target"):
            raise ValueError(f"relative_to must be 'speed' or 'target', got {self.relative_to!r}")


@dataclass(frozen=True)
class _SpeedPlan:
    target: float  # m/s the speed loop tracks now
    emergency: bool
    accel_cap: float | None  # m/s^2 feed-forward bound (a STOP's constant deceleration)
    stop_m: float = math.inf  # on STOP: metres the box centre may still travel
    stop_decel: float = 0.0  # on STOP: the deceleration the stop is planned with


@dataclass
class _LaneChange:
    """A lateral move fixed in space: the offset from the target lane's centre falls from `start_offset` to 0
    along the target lane between `start_s` and `start_s + length_m` (a smoothstep, zero slope at both ends)."""

    target_lane: str
    start_s: float
    length_m: float
    start_offset: float  # ego's lateral offset from the target lane when it began, m

    def offset_at(self, lane_s: np.ndarray) -> np.ndarray:
        u = np.clip((lane_s - self.start_s) / self.length_m, 0.0, 1.0)
        return self.start_offset * (1.0 - (3 * u**2 - 2 * u**3))


@dataclass
class _Offset:
    """Driving beside the lane followed (`base_lane`, the car's own): the lateral offset (m, left positive) goes from
    `start_m` to `end_m` over the next `length_m` metres the car drives (a smoothstep), then stays at `end_m`."""

    base_lane: str
    start_m: float
    end_m: float
    length_m: float
    done_m: float = 0.0  # metres driven since the move began

    def offset_at(self, ahead: np.ndarray) -> np.ndarray:
        u = np.clip((self.done_m + ahead) / self.length_m, 0.0, 1.0)
        return self.start_m + (self.end_m - self.start_m) * (3 * u**2 - 2 * u**3)

    @property
    def now(self) -> float:
        return float(self.offset_at(np.zeros(1))[0])


class MetaActionController:
    def __init__(self, road_map: RoadMap, config: MetaActionControllerConfig | None = None) -> None:
        self.road_map = road_map
        self.config = config or MetaActionControllerConfig()
        self.longitudinal = LongitudinalController(self.config.longitudinal)
        cfg = self.config
        self.mpc = (
            MPCController(cfg.mpc, cfg.longitudinal, cfg.wheelbase_m, cfg.max_steer_rad) if cfg.law == "mpc" else None
        )
        self.reset()

    def reset(self, initial_speed: float = 0.0) -> None:
        self.longitudinal.reset()
        self.action = MetaAction("KEEP", "STRAIGHT")
        self.target_speed = initial_speed
        self.turn: Turn = Turn.STRAIGHT
        self.lane_change: _LaneChange | None = None
        self.offset: _Offset | None = None  # passing through the oncoming lane
        self.oncoming_moves = 0  # moves into the oncoming lane begun
        self.stop_from = 0.0  # speed when the current STOP began: the profile never asks for more
        self.stop_point: np.ndarray | None = None  # where a STOP away from any stop line ends (world x, y)
        self.lane_id: str | None = None
        self.refused_lane_changes = 0
        self.last_path: LanePath | None = None
        self.tracking = TrackingLog()
        self.clock = 0.0  # s of control since reset
        self.emergency_intervals: list[list[float]] = []  # [start, end] s of braking harder than comfort allows
        if self.mpc is not None:
            self.mpc.reset()

    # -- decisions (every planning period) ------------------------------------------------------------------------

    def set_action(self, action: MetaAction, ego: EgoState) -> None:
        cfg = self.config
        limit = self._limit_here(ego)
        base = ego.speed if cfg.relative_to == "speed" else None
        if action.speed == "ACCELERATE":
            self.target_speed = min(
                limit, (base if base is not None else max(self.target_speed, ego.speed)) + cfg.speed_step
            )
        elif action.speed == "DECELERATE":
            # Slowing down does stack: a DECELERATE while already braking brakes harder (what the car can see: a gap
            # still closing), so a run of them stops as short as the old target steps did.
            self.target_speed = max(0.0, min(self.target_speed, ego.speed) - cfg.speed_step)
        elif action.speed == "KEEP" and base is not None and abs(self.target_speed - base) > cfg.speed_step / 2:
            self.target_speed = min(limit, base)  # close to the target KEEP holds it (a speed loop lags a little)
        elif action.speed == "STOP":
            if self.action.speed != "STOP":
                self.stop_from = max(ego.speed, self.target_speed)
                self.stop_point = None
            self.target_speed = 0.0
        if action.path in _TURN_OF_PATH:
            self.turn = _TURN_OF_PATH[action.path]
        elif self.lane_change is None:
            side: Literal["left", "right"] = "left" if action.path == "LEFT_CHANGE" else "right"
            if not self._oncoming_move(side, ego):
                self._start_lane_change(side, ego)
        self.action = action

    def _oncoming_move(self, side: Literal["left", "right"], ego: EgoState) -> bool:
        """Into the oncoming lane (LEFT_CHANGE where no lane our way lies left) or back out of it (RIGHT_CHANGE);
        True when the action was taken care of here."""
        cfg = self.config
        length = max(cfg.lane_change_min_m, ego.speed * cfg.lane_change_time_s)
        if self.offset is not None:
            if side == "right" and self.offset.end_m > 0.0:
                self.offset = _Offset(self.offset.base_lane, self.offset.now, 0.0, length)
            return True  # a LEFT_CHANGE while in (or moving into) the oncoming lane asks for what is happening
        if side != "left" or not cfg.oncoming_passing:
            return False
        here = self.road_map.locate(ego.x, ego.y, ego.yaw)
        if here is None or here.in_junction:
            return False
        if any(self.road_map.neighbour(here.lane_id, side) is not None for side in ("left", "right")):
            return False  # a road with a second lane our way is passed in that lane
        other = self.road_map.oncoming(here.lane_id)
        if other is None:
            return False
        width = (self.road_map.lane_width(here.lane_id) + self.road_map.lane_width(other)) / 2.0
        self.offset = _Offset(here.lane_id, here.d, width, length)
        self.oncoming_moves += 1
        return True

    def _start_lane_change(self, side: Literal["left", "right"], ego: EgoState) -> None:
        here = self.road_map.locate(ego.x, ego.y, ego.yaw)
        target = self.road_map.neighbour(here.lane_id, side) if here and not here.in_junction else None
        if target is None:
            self.refused_lane_changes += 1
            return
        pos = self.road_map.project(target, ego.x, ego.y)
        length = max(self.config.lane_change_min_m, ego.speed * self.config.lane_change_time_s)
        self.lane_change = _LaneChange(target, pos.s, length, pos.d)

    # -- control (every tick) -------------------------------------------------------------------------------------

    def control(self, ego: EgoState, dt: float, route: Route | None = None) -> VehicleControl:
        if self.offset is not None:
            self.offset.done_m += max(ego.speed, 0.0) * dt
        path = self._reference_path(ego, route)
        if path is None:  # off the map: brake to a stop, wheels straight
            return VehicleControl(throttle=0.0, steer=0.0, brake=1.0)
        self.last_path = path
        curvature = _curvatures(path.points)
        self._log_tracking(ego, path.points, curvature)
        profile = self._speed_profile(path, curvature)
        plan = self._speed_plan(ego, path, profile)
        self._log_emergency(plan.emergency, dt)
        throttle, brake = self.longitudinal.step(
            ego.speed, plan.target, dt, plan.emergency, plan.accel_cap, stopping=self.action.speed == "STOP"
        )
        angle = self._steer_angle(ego, path.points)
        if self.mpc is not None:
            return self._mpc_control(ego, dt, path, profile, plan, (throttle, brake, angle))
        return VehicleControl.clipped(throttle, -angle / self.config.max_steer_rad, brake)

    def _mpc_control(
        self,
        ego: EgoState,
        dt: float,
        path: LanePath,
        profile: np.ndarray,
        plan: _SpeedPlan,
        fallback: tuple[float, float, float],
    ) -> VehicleControl:
        """The MPC's command, or the PID law's (computed every tick, so its state is current) when the MPC fails."""
        cfg, mpc = self.config, self.mpc
        assert mpc is not None
        if plan.target <= 0.05 and ego.speed < cfg.mpc.hold_speed:  # at rest on a STOP: hold the brake
            mpc.applied(0.0, 0.0, mpc.steer_angle)
            return VehicleControl.clipped(0.0, -mpc.steer_angle / cfg.max_steer_rad, cfg.longitudinal.hold_brake)
        command = mpc.step(ego, self._tracking_reference(path, profile, plan), dt)
        if command is None:
            throttle, brake, angle = fallback
            mpc.applied(self.longitudinal.accel_cmd, self.longitudinal.accel_cmd, angle)
            return VehicleControl.clipped(throttle, -angle / cfg.max_steer_rad, brake)
        self.longitudinal.accel_cmd = command.accel  # a fallback on a later tick continues from what was applied
        mpc.applied(command.accel, command.pedal_accel, command.steer_angle)
        throttle, brake = pedals(command.pedal_accel, cfg.longitudinal)
        return VehicleControl.clipped(throttle, -command.steer_angle / cfg.max_steer_rad, brake)

    def _tracking_reference(self, path: LanePath, profile: np.ndarray, plan: _SpeedPlan) -> TrackingReference:
        """The speed wanted at every path point: the target within the profile, or on STOP the braking curve that
        ends at the stop point."""
        if self.action.speed != "STOP":
            speeds = np.minimum(self.target_speed, profile)
        else:
            to_stop = np.maximum(plan.stop_m - _arc_lengths(path.points), 0.0)
            speeds = np.minimum(np.minimum(profile, np.sqrt(2.0 * plan.stop_decel * to_stop)), self.stop_from)
        return TrackingReference(path.points, speeds, plan.stop_m, plan.emergency)

    def _log_tracking(self, ego: EgoState, points: np.ndarray, curvature: np.ndarray) -> None:
        if len(points) < 2:
            return
        offset = closest_on_polyline(points, ego.x, ego.y)[2]
        near = float(np.mean(curvature[1:11])) if len(points) > 2 else 0.0  # the next ~5 m
        self.tracking.add(offset, near, self.lane_change is not None or self.offset is not None)

    def _log_emergency(self, emergency: bool, dt: float) -> None:
        if emergency:
            last = self.emergency_intervals[-1] if self.emergency_intervals else None
            if last is not None and self.clock - last[1] <= dt + 1e-9:
                last[1] = self.clock
            else:
                self.emergency_intervals.append([self.clock, self.clock])
        self.clock += dt

    def report(self) -> dict[str, object]:
        """What results.json reports about the control law: lateral tracking error, the intervals it braked harder
        than comfort allows (an emergency), and the MPC's solver counts."""
        out: dict[str, object] = {
            "law": self.config.law,
            "lateral": self.config.lateral,
            "tracking": self.tracking.summary(),
            "emergency_intervals_s": [[round(a, 2), round(b, 2)] for a, b in self.emergency_intervals],
        }
        if self.mpc is not None:
            out["mpc"] = self.mpc.report()
        return out

    def _reference_path(self, ego: EgoState, route: Route | None) -> LanePath | None:
        cfg = self.config
        if self.offset is not None:
            return self._offset_path(ego, route, self.offset)
        if self.lane_change is not None:
            change = self.lane_change
            pos = self.road_map.project(change.target_lane, ego.x, ego.y)
            path = self.road_map.path_ahead(change.target_lane, pos.s, cfg.lookahead_m, self.turn, route)
            nxt = next((lane for lane in path.lane_ids if lane != change.target_lane), None)
            on_next = self.road_map.project(nxt, ego.x, ego.y) if nxt is not None else None
            if on_next is not None and on_next.s > 0.0:  # the change runs on past the end of the target lane
                change.start_s -= pos.s - on_next.s
                change.target_lane, pos = on_next.lane_id, on_next
                path = self.road_map.path_ahead(change.target_lane, pos.s, cfg.lookahead_m, self.turn, route)
            if pos.s >= change.start_s + change.length_m and abs(pos.d) < 0.3:
                self.lane_change = None
                self.lane_id = change.target_lane
                return path
            return _shifted(path, change, pos.s)
        here = self.road_map.locate(ego.x, ego.y, ego.yaw)
        if here is None:
            return None
        here = self._keep_connector(here, ego)
        self.lane_id = here.lane_id
        return self.road_map.path_ahead(here.lane_id, here.s, cfg.lookahead_m, self.turn, route)

    def _offset_path(self, ego: EgoState, route: Route | None, move: _Offset) -> LanePath:
        """The own lane's path ahead, moved sideways by the offset at each point. The lane followed is the base lane
        until the car is past the start of the next lane on its path."""
        cfg = self.config
        pos = self.road_map.project(move.base_lane, ego.x, ego.y)
        path = self.road_map.path_ahead(move.base_lane, pos.s, cfg.lookahead_m, self.turn, route)
        nxt = next((lane for lane in path.lane_ids if lane != move.base_lane), None)
        if nxt is not None and self.road_map.project(nxt, ego.x, ego.y).s > 0.0:
            move.base_lane = nxt
            pos = self.road_map.project(nxt, ego.x, ego.y)
            path = self.road_map.path_ahead(nxt, pos.s, cfg.lookahead_m, self.turn, route)
        self.lane_id = move.base_lane
        if move.end_m == 0.0 and move.done_m >= move.length_m:
            self.offset = None
            return path
        return _offset(path, move.offset_at(_arc_lengths(path.points)))

    def _keep_connector(self, here: LanePosition, ego: EgoState) -> LanePosition:
        """Inside a junction the connectors leaving one lane overlap where they begin, and `locate` picks among them
        by heading; keep the connector the last path already took while the car is still on it, so that the branch
        chosen at the junction entry is not re-chosen halfway in."""
        if not here.in_junction or self.last_path is None or here.lane_id in self.last_path.lane_ids:
            return here
        for lane in dict.fromkeys(self.last_path.lane_ids):
            pos = self.road_map.project(lane, ego.x, ego.y)
            if pos.in_junction and pos.s > 0.0 and abs(pos.d) < self.road_map.lane_width(lane) / 2.0:
                return pos
        return here

    def _limit_here(self, ego: EgoState) -> float:
        here = self.road_map.locate(ego.x, ego.y, ego.yaw)
        return self.road_map.speed_limit(here.lane_id) if here else self.config.speed_step

    def _speed_profile(self, path: LanePath, curvature: np.ndarray) -> np.ndarray:
        """Highest speed at each path point from which every lane limit and curve further on can still be met,
        braking at `profile_decel`."""
        decel = self.config.profile_decel
        dist = _arc_lengths(path.points)
        caps = np.minimum(path.speed_limits, _curve_speeds(curvature, self.config.lateral_accel_max))
        budget = caps**2 + 2.0 * decel * dist
        return np.sqrt(np.minimum.accumulate(budget[::-1])[::-1] - 2.0 * decel * dist)

    def _speed_plan(self, ego: EgoState, path: LanePath, profile: np.ndarray) -> _SpeedPlan:
        """The speed to track now: the target within the profile, and on STOP the stop point; then the acceleration
        cap is the constant deceleration that ends exactly at the stop point."""
        cfg, lon = self.config, self.config.longitudinal
        cap = float(profile[0])
        if self.action.speed != "STOP":
            return _SpeedPlan(min(self.target_speed, cap), False, None)
        stop_at, decel = self._stop_distance(ego, path)
        needed = ego.speed**2 / (2.0 * max(stop_at, 0.1))
        target = min(self.stop_from, cap, stopping_speed(stop_at, decel))
        accel_cap = -needed if needed > cfg.feedforward_min_decel else None
        return _SpeedPlan(target, needed > lon.comfort_decel, accel_cap, stop_at, decel)

    def _stop_distance(self, ego: EgoState, path: LanePath) -> tuple[float, float]:
        """(metres the box centre may still travel, deceleration to plan with). A moving car aims for a stop line
        within reach (comfortable profile); otherwise it stops firmly at a point fixed when this STOP began. At
        standstill a STOP holds where the car is: it never creeps on into a queue."""
        cfg = self.config
        reach = ego.speed**2 / (2.0 * cfg.profile_decel) + cfg.stop_line_slack_m
        line = path.next_stop_line()
        to_line = math.inf if line is None else line.distance - ego.length / 2.0 - cfg.stop_margin_m
        if -1.0 <= to_line <= reach and (ego.speed > 0.5 or to_line < 3.0):
            return max(0.0, to_line), cfg.profile_decel
        if self.stop_point is None:
            self.stop_point = point_ahead(path.points, 0, ego.speed**2 / (2.0 * cfg.stop_decel))
        return _distance_along(path.points, self.stop_point), cfg.stop_decel

    def _steer_angle(self, ego: EgoState, path: np.ndarray) -> float:
        """Front-wheel angle (rad, positive left) from the lateral tracker."""
        cfg = self.config
        half = cfg.wheelbase_m / 2.0  # the pose is the box centre; both trackers work on the rear axle
        rx, ry = ego.x - half * math.cos(ego.yaw), ego.y - half * math.sin(ego.yaw)
        if cfg.lateral == "stanley":
            return stanley_angle(path, rx, ry, ego.yaw, ego.speed, cfg.stanley)
        return pure_pursuit_angle(path, rx, ry, ego.yaw, ego.speed, cfg.pure_pursuit)


def _distance_along(points: np.ndarray, target: np.ndarray) -> float:
    """Path length from the first point to the vertex nearest `target` (0 when the target is behind)."""
    k = nearest_index(points, float(target[0]), float(target[1]))
    return float(np.sum(np.hypot(*np.diff(points[: k + 1], axis=0).T))) if k > 0 else 0.0


def _arc_lengths(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def _curvatures(points: np.ndarray) -> np.ndarray:
    """Unsigned curvature (1/m) at each path point: the Menger curvature of point triples, 0 at both ends."""
    curvature = np.zeros(len(points))
    if len(points) < 3:
        return curvature
    a, b, c = points[:-2], points[1:-1], points[2:]
    ab, bc, ca = (np.hypot(*(q - p).T) for p, q in ((a, b), (b, c), (c, a)))
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    curvature[1:-1] = np.where(ab * bc * ca > 1e-9, 2.0 * cross / np.maximum(ab * bc * ca, 1e-9), 0.0)
    return curvature


def _curve_speeds(curvature: np.ndarray, lateral_accel: float) -> np.ndarray:
    """Highest speed at each path point for the given lateral acceleration (no bound at the two ends)."""
    speeds = np.full(len(curvature), np.inf)
    speeds[1:-1] = np.sqrt(lateral_accel / np.maximum(curvature[1:-1], 1e-6))
    return speeds


def _shifted(path: LanePath, change: _LaneChange, lane_s: float) -> LanePath:
    """The target-lane path moved sideways by the lane change's remaining offset at each point."""
    return _offset(path, change.offset_at(lane_s + _arc_lengths(path.points)))


def _offset(path: LanePath, lateral: np.ndarray) -> LanePath:
    """The path with each point moved `lateral` metres to its left."""
    pts = path.points
    seg = np.diff(pts, axis=0)
    heading = np.arctan2(seg[:, 1], seg[:, 0])
    heading = np.concatenate([heading, heading[-1:]])
    normal = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
    return LanePath(pts + normal * lateral[:, None], path.lane_ids, path.speed_limits, path.stop_lines, path.turn)

"""The ego: a kinematic bicycle driven by `VehicleControl`, with CARLA-like actuator limits.

The state is integrated at the rear axle (where the kinematic bicycle has no side slip, so the turning radius is
exactly wheelbase / tan(steer)); poses are reported at the centre of the box, which sits half a wheelbase ahead.

Steering: CARLA's Lincoln MKZ declares a 70 deg `max_steer_angle` for its front wheels, but PhysX tyre slip leaves
an effective kinematic angle near 35 deg (turning radius ~4 m at the rear axle for a 2.9 m wheelbase), which is
what we use. `steer = -1` is full left as in CARLA; the state angle is positive to the left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sim.core import EgoState, VehicleControl


@dataclass(frozen=True)
class VehicleParams:
    wheelbase: float = 2.9  # m
    length: float = 4.7
    width: float = 1.9
    max_steer: float = math.radians(35.0)  # effective front-wheel angle at |steer| = 1
    steer_rate: float = math.radians(120.0)  # rad/s the wheels can turn
    max_accel: float = 4.0  # m/s^2 at full throttle from rest
    top_speed: float = 50.0  # m/s where full-throttle acceleration reaches zero
    reverse_accel: float = 2.0
    reverse_top_speed: float = 8.0
    max_brake: float = 8.0  # m/s^2 at brake = 1
    hand_brake_decel: float = 5.0
    drag: float = 2.2e-4  # 1/m: 0.5 rho Cd A / m for Cd A ~ 0.66 m^2 and 1800 kg
    rolling: float = 0.15  # m/s^2, rolling resistance (c_rr g)


@dataclass
class BicycleState:
    x: float  # rear axle
    y: float
    yaw: float
    speed: float = 0.0  # signed, m/s
    steer: float = 0.0  # front-wheel angle, rad, positive left
    accel: float = 0.0
    yaw_rate: float = 0.0


class KinematicBicycle:
    """One vehicle's motion model; `step` applies a control for one tick."""

    def __init__(self, params: VehicleParams, state: BicycleState) -> None:
        self.params = params
        self.state = state

    @classmethod
    def at_centre(cls, params: VehicleParams, x: float, y: float, yaw: float, speed: float = 0.0) -> KinematicBicycle:
        half = params.wheelbase / 2
        return cls(params, BicycleState(x - half * math.cos(yaw), y - half * math.sin(yaw), yaw, speed))

    def _longitudinal(self, c: VehicleControl, v: float) -> float:
        """Acceleration along the heading (m/s^2); resistive terms never reverse the motion (handled in step)."""
        p = self.params
        if c.reverse:
            drive = -c.throttle * p.reverse_accel * max(0.0, 1.0 - (min(0.0, v) / -p.reverse_top_speed) ** 2)
        else:
            drive = c.throttle * p.max_accel * max(0.0, 1.0 - (max(0.0, v) / p.top_speed) ** 2)
        resist = c.brake * p.max_brake + (p.hand_brake_decel if c.hand_brake else 0.0)
        resist += p.drag * v * v + (p.rolling if abs(v) > 1e-3 else 0.0)
        return drive - math.copysign(resist, v) if abs(v) > 1e-3 else drive

    def step(self, c: VehicleControl, dt: float) -> None:
        p, st = self.params, self.state
        target = -c.steer * p.max_steer
        max_delta = p.steer_rate * dt
        steer = st.steer + min(max_delta, max(-max_delta, target - st.steer))
        v0 = st.speed
        a = self._longitudinal(c, v0)
        v1 = v0 + a * dt
        if v0 * v1 < 0 or (abs(v0) <= 1e-3 and ((v1 > 0 and c.reverse) or (v1 < 0 and not c.reverse))):
            v1 = 0.0  # brakes and resistance stop the car; they do not drive it the other way
        v_mid = 0.5 * (v0 + v1)
        yaw_rate = v_mid * math.tan(steer) / p.wheelbase
        yaw_mid = st.yaw + 0.5 * yaw_rate * dt
        self.state = replace(
            st,
            x=st.x + v_mid * math.cos(yaw_mid) * dt,
            y=st.y + v_mid * math.sin(yaw_mid) * dt,
            yaw=math.remainder(st.yaw + yaw_rate * dt, 2 * math.pi),
            speed=v1,
            steer=steer,
            accel=(v1 - v0) / dt,
            yaw_rate=yaw_rate,
        )

    def ego_state(self) -> EgoState:
        p, st = self.params, self.state
        half = p.wheelbase / 2
        return EgoState(
            x=st.x + half * math.cos(st.yaw),
            y=st.y + half * math.sin(st.yaw),
            yaw=st.yaw,
            speed=st.speed,
            accel=st.accel,
            yaw_rate=st.yaw_rate,
            steer_angle=st.steer,
            length=p.length,
            width=p.width,
        )

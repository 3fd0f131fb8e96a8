"""The ego's kinematic bicycle: turning radius, braking, throttle curve, reverse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core import VehicleControl
from sim.embedded.vehicle import KinematicBicycle, VehicleParams

DT = 0.05


def _fit_circle(pts: np.ndarray) -> float:
    a = np.column_stack([2 * pts[:, 0], 2 * pts[:, 1], np.ones(len(pts))])
    b = (pts**2).sum(axis=1)
    cx, cy, c = np.linalg.lstsq(a, b, rcond=None)[0]
    return float(math.sqrt(c + cx**2 + cy**2))


@pytest.mark.parametrize("steer", [-1.0, 1.0])
def test_turning_radius_at_full_steer_matches_bicycle_model(steer):
    p = VehicleParams()
    car = KinematicBicycle.at_centre(p, 0.0, 0.0, 0.0, speed=4.0)
    rear = []
    for i in range(400):
        err = 4.0 - car.state.speed
        car.step(VehicleControl.clipped(max(0.0, err), steer, max(0.0, -err)), DT)
        if i > 40:  # wheels fully turned
            e = car.ego_state()
            rear.append((e.x - p.wheelbase / 2 * math.cos(e.yaw), e.y - p.wheelbase / 2 * math.sin(e.yaw)))
    expected = p.wheelbase / math.tan(p.max_steer)
    assert _fit_circle(np.array(rear)) == pytest.approx(expected, rel=0.01)
    assert math.copysign(1, car.state.yaw_rate) == -steer  # CARLA: negative steer turns left (counter-clockwise)


def test_full_brake_decelerates_at_about_8_mps2_and_stops_without_reversing():
    car = KinematicBicycle.at_centre(VehicleParams(), 0.0, 0.0, 0.0, speed=20.0)
    car.step(VehicleControl(brake=1.0), DT)
    assert -car.state.accel == pytest.approx(8.0 + 0.15 + 2.2e-4 * 400, rel=0.05)
    for _ in range(100):
        car.step(VehicleControl(brake=1.0), DT)
    assert car.state.speed == 0.0
    assert car.ego_state().x == pytest.approx(20.0**2 / (2 * 8.2), rel=0.05)


def test_throttle_acceleration_falls_with_speed_and_reverse_drives_backwards():
    slow = KinematicBicycle.at_centre(VehicleParams(), 0, 0, 0, speed=2.0)
    fast = KinematicBicycle.at_centre(VehicleParams(), 0, 0, 0, speed=30.0)
    slow.step(VehicleControl(throttle=1.0), DT)
    fast.step(VehicleControl(throttle=1.0), DT)
    assert slow.state.accel > fast.state.accel > 0
    car = KinematicBicycle.at_centre(VehicleParams(), 0, 0, 0)
    for _ in range(40):
        car.step(VehicleControl(throttle=0.5, reverse=True), DT)
    assert car.state.speed < -0.5 and car.ego_state().x < 0
    for _ in range(60):
        car.step(VehicleControl(hand_brake=True), DT)
    assert car.state.speed == 0.0

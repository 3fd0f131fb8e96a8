from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from controller.longitudinal import LongitudinalConfig, LongitudinalController, stopping_speed
from controller.pid import PID, PIDGains
from controller.pure_pursuit import PurePursuitConfig, pure_pursuit_angle
from controller.stanley import StanleyConfig, stanley_angle


def test_pid_tracks_a_first_order_plant() -> None:
    pid = PID(PIDGains(kp=2.0, ki=1.0, out_min=-5, out_max=5))
    y = 0.0
    for _ in range(400):
        u = pid.step(1.0 - y, 0.05)
        y += 0.05 * (u - 0.5 * y)  # dy/dt = u - 0.5 y
    assert y == pytest.approx(1.0, abs=1e-3)  # integral action removes the steady-state error


def test_pid_does_not_wind_up_while_saturated() -> None:
    pid = PID(PIDGains(kp=1.0, ki=2.0, out_min=-1, out_max=1))
    for _ in range(200):  # actuator pinned at its limit for 10 s
        assert pid.step(10.0, 0.05) == 1.0
    assert pid.integral < 1.0
    # Once the error flips, the output follows within a few ticks instead of unwinding a huge integral.
    outputs = [pid.step(-1.0, 0.05) for _ in range(5)]
    assert outputs[-1] < 0.0
    with pytest.raises(ValueError, match="dt > 0"):
        pid.step(1.0, 0.0)


def _drive(path: np.ndarray, angle_fn, cfg, x: float, y: float, yaw: float, speed: float = 8.0, steps: int = 300):
    wheelbase, max_angle, errs = 2.9, math.radians(35), []
    for _ in range(steps):
        delta = max(-max_angle, min(max_angle, angle_fn(path, x, y, yaw, speed, cfg)))
        x += speed * math.cos(yaw) * 0.05
        y += speed * math.sin(yaw) * 0.05
        yaw += speed / wheelbase * math.tan(delta) * 0.05
        errs.append(abs(y) if path[-1, 1] == 0 else abs(math.hypot(x, y - 30.0) - 30.0))
    return errs


@pytest.mark.parametrize(
    ("angle_fn", "cfg"), [(pure_pursuit_angle, PurePursuitConfig()), (stanley_angle, StanleyConfig())]
)
def test_lateral_trackers_converge_to_a_line_and_follow_a_curve(angle_fn, cfg) -> None:
    line = np.stack([np.linspace(0, 400, 801), np.zeros(801)], axis=1)
    errs = _drive(line, angle_fn, cfg, x=0.0, y=2.0, yaw=0.0)
    assert errs[0] > 1.5 and max(errs[-50:]) < 0.1
    theta = np.linspace(-math.pi / 2, math.pi, 600)
    circle = np.stack([30 * np.cos(theta), 30 + 30 * np.sin(theta)], axis=1)  # radius 30, counter-clockwise
    errs = _drive(circle, angle_fn, cfg, x=0.0, y=0.0, yaw=0.0, speed=6.0, steps=150)
    assert max(errs[20:]) < 0.5


def test_longitudinal_reaches_target_within_comfort_limits() -> None:
    ctl, cfg = LongitudinalController(), LongitudinalConfig()
    v, accels = 0.0, []
    for _ in range(400):
        throttle, brake = ctl.step(v, 10.0, 0.05)
        a = throttle * cfg.throttle_accel - brake * cfg.brake_decel
        accels.append(a)
        v = max(0.0, v + a * 0.05)
    assert v == pytest.approx(10.0, abs=0.3)
    assert max(accels) <= cfg.max_accel + 1e-9
    assert max(abs(b - a) / 0.05 for a, b in itertools.pairwise(accels)) <= cfg.max_jerk + 1e-6


def test_stop_holds_the_brake_and_stopping_speed_is_kinematic() -> None:
    ctl = LongitudinalController()
    assert ctl.step(0.0, 0.0, 0.05) == (0.0, LongitudinalConfig().hold_brake)
    assert stopping_speed(25.0, 2.0) == pytest.approx(10.0)
    assert stopping_speed(-1.0, 2.0) == 0.0

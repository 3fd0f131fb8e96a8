"""Longitudinal control: a target speed becomes throttle/brake through a comfort-limited acceleration command."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controller.pid import PID, PIDGains


@dataclass(frozen=True)
class LongitudinalConfig:
    max_accel: float = 2.0  # m/s^2, comfort limit when speeding up
    comfort_decel: float = 3.5  # m/s^2, planned braking (stops, slowing down)
    max_decel: float = 8.0  # m/s^2, what an emergency may use
    max_jerk: float = 3.2  # m/s^3 on the command; the car's own response adds some (Bench2Drive's bound: 4.13)
    emergency_jerk_scale: float = 4.0  # an emergency may change the acceleration this many times faster
    throttle_accel: float = 4.0  # m/s^2 that full throttle gives at low speed (feed-forward scale)
    brake_decel: float = 8.0  # m/s^2 that full brake gives
    hold_brake: float = 0.4  # brake held at standstill when the target is 0
    # Coming to rest, braking eases off with the speed (at most `stop_taper` x speed, m/s^2 per m/s), so the car does
    # not stop with its full deceleration still on: that last step is a jerk a passenger feels.
    stop_taper: float = 1.5  # with max_jerk: the cap falls no faster than the command may follow
    speed_pid: PIDGains = field(default_factory=lambda: PIDGains(kp=1.2, ki=0.25, kd=0.0, out_min=-8.0, out_max=3.0))


def pedals(accel: float, cfg: LongitudinalConfig) -> tuple[float, float]:
    """(throttle, brake) that give `accel` m/s^2 by the feed-forward scales of `cfg`."""
    if accel >= 0.0:
        return min(1.0, accel / cfg.throttle_accel), 0.0
    return 0.0, min(1.0, -accel / cfg.brake_decel)


def stopping_speed(distance_m: float, decel: float) -> float:
    """Highest speed from which braking at `decel` still stops within `distance_m`."""
    return math.sqrt(2.0 * decel * max(distance_m, 0.0))


class LongitudinalController:
    def __init__(self, config: LongitudinalConfig | None = None) -> None:
        self.config = config or LongitudinalConfig()
        self.pid = PID(self.config.speed_pid)
        self.accel_cmd = 0.0

    def reset(self) -> None:
        self.pid.reset()
        self.accel_cmd = 0.0

    def step(
        self,
        speed: float,
        target_speed: float,
        dt: float,
        emergency: bool = False,
        accel_cap: float | None = None,
        stopping: bool = False,
    ) -> tuple[float, float]:
        """(throttle, brake) for one tick. `accel_cap` (m/s^2, e.g. the constant deceleration that stops at a
        point) bounds the command from above as a feed-forward, so braking starts without waiting for the PID.
        `stopping`: the car is coming to rest, so braking eases off with the speed (`stop_taper`)."""
        cfg = self.config
        error = target_speed - speed
        wanted = self.pid.step(error, dt)
        # Arrive without overshoot: an acceleration the jerk limit can still take back to zero before the target.
        wanted = min(wanted, math.sqrt(2.0 * cfg.max_jerk * max(error, 0.0)))
        if not stopping:
            wanted = max(wanted, -math.sqrt(2.0 * cfg.max_jerk * max(-error, 0.0)))
        if accel_cap is not None:
            wanted = min(wanted, accel_cap)
        if (stopping or target_speed <= 0.05) and not emergency:
            wanted = max(wanted, -cfg.stop_taper * speed)
        low = -cfg.max_decel if emergency else -cfg.comfort_decel
        wanted = min(cfg.max_accel, max(low, wanted))
        # An emergency may brake faster, and braking beyond comfort (only an emergency gets there) is released as fast.
        releasing = self.accel_cmd < -cfg.comfort_decel and wanted > self.accel_cmd
        jerk_step = cfg.max_jerk * dt * (cfg.emergency_jerk_scale if emergency or releasing else 1.0)
        self.accel_cmd += min(jerk_step, max(-jerk_step, wanted - self.accel_cmd))
        if target_speed <= 0.05 and speed < 0.05:
            self.accel_cmd = min(self.accel_cmd, 0.0)
            return 0.0, cfg.hold_brake
        return pedals(self.accel_cmd, cfg)

"""A PID controller with output limits and anti-windup by conditional integration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PIDGains:
    kp: float
    ki: float = 0.0
    kd: float = 0.0
    out_min: float = -1.0
    out_max: float = 1.0

    def __post_init__(self) -> None:
        if self.out_min >= self.out_max:
            raise ValueError(f"PIDGains: out_min ({self.out_min}) must be below out_max ({self.out_max})")


class PID:
    """u = kp e + ki integral(e) + kd de/dt, clipped to [out_min, out_max].

    The integral only accumulates while the output is not saturated in the direction the error pushes, so it never
    winds up while the actuator is at its limit. The derivative acts on the error difference (callers reset the
    controller when the set-point jumps)."""

    def __init__(self, gains: PIDGains) -> None:
        self.gains = gains
        self.reset()

    def reset(self) -> None:
        self.integral = 0.0
        self._last_error: float | None = None

    def step(self, error: float, dt: float) -> float:
        if dt <= 0:
            raise ValueError(f"PID.step needs dt > 0, got {dt}")
        g = self.gains
        derivative = 0.0 if self._last_error is None else (error - self._last_error) / dt
        self._last_error = error
        unclipped = g.kp * error + g.ki * (self.integral + error * dt) + g.kd * derivative
        saturated_high = unclipped > g.out_max and error > 0
        saturated_low = unclipped < g.out_min and error < 0
        if not (saturated_high or saturated_low):
            self.integral += error * dt
        out = g.kp * error + g.ki * self.integral + g.kd * derivative
        return min(g.out_max, max(g.out_min, out))

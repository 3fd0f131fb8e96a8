"""Loss of control: disturbances on the ego's own controls along stretches of its route (scenario
`disturbances:`, leaderboard 2.0's ControlLoss). Every backend applies the same rule to the control it is given, so a
planner cannot tell the two simulators apart by it.

Inside a stretch the steering gets a constant offset plus noise that changes every `NOISE_HOLD_S` (white noise at
the tick rate would vanish in the steering's rate limit), and the throttle gets at least the stretch's `throttle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import VehicleControl

NOISE_HOLD_S = 0.3


@dataclass
class ControlDisturbance:
    stretches: Sequence[Any]  # scenarios.schema.Disturbance
    rng: np.random.Generator
    _noise: float = 0.0
    _held_s: float = 0.0

    def active(self, route_s: float) -> Any | None:
        return next((d for d in self.stretches if d.at_s <= route_s < d.at_s + d.length_m), None)

    def apply(self, control: VehicleControl, route_s: float, dt: float) -> VehicleControl:
        """The control the vehicle actually gets at route position `route_s`."""
        stretch = self.active(route_s)
        if stretch is None:
            self._held_s = 0.0
            return control
        self._held_s -= dt
        if self._held_s <= 0.0:
            self._noise = float(self.rng.normal(0.0, stretch.steer_noise)) if stretch.steer_noise > 0 else 0.0
            self._held_s = NOISE_HOLD_S
        return VehicleControl.clipped(
            max(control.throttle, stretch.throttle) if control.brake == 0.0 else control.throttle,
            control.steer + stretch.steer + self._noise,
            control.brake,
            hand_brake=control.hand_brake,
            reverse=control.reverse,
        )

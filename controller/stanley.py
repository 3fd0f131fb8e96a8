"""Stanley lateral control: heading error plus a cross-track term measured at the front axle."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controller.path import lateral_error
from sim.core import wrap_angle


@dataclass(frozen=True)
class StanleyConfig:
    wheelbase_m: float = 2.9
    gain: float = 1.2  # cross-track gain, 1/s
    softening_mps: float = 1.0  # keeps the cross-track term bounded at low speed


def stanley_angle(path: np.ndarray, x: float, y: float, yaw: float, speed: float, cfg: StanleyConfig) -> float:
    """Front-wheel angle in radians (positive = left) for a rear-axle pose (x, y, yaw)."""
    fx, fy = x + cfg.wheelbase_m * math.cos(yaw), y + cfg.wheelbase_m * math.sin(yaw)
    offset, path_yaw, _ = lateral_error(path, fx, fy)
    heading_error = wrap_angle(path_yaw - yaw)
    # offset > 0 means the front axle is left of the path: steer right (negative).
    return heading_error + math.atan2(-cfg.gain * offset, cfg.softening_mps + max(speed, 0.0))

"""Pure-pursuit lateral control: steer along the circular arc through a look-ahead point on the path."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controller.path import nearest_index, point_ahead


@dataclass(frozen=True)
class PurePursuitConfig:
    wheelbase_m: float = 2.9
    lookahead_min_m: float = 3.0
    lookahead_gain_s: float = 0.4  # look-ahead grows by this many metres per m/s of speed


def pure_pursuit_angle(path: np.ndarray, x: float, y: float, yaw: float, speed: float, cfg: PurePursuitConfig) -> float:
    """Front-wheel angle in radians (positive = left) for a rear-axle pose (x, y, yaw)."""
    lookahead = cfg.lookahead_min_m + cfg.lookahead_gain_s * max(speed, 0.0)
    target = point_ahead(path, nearest_index(path, x, y), lookahead)
    dx, dy = target[0] - x, target[1] - y
    alpha = math.atan2(dy, dx) - yaw
    distance = max(math.hypot(dx, dy), 1e-3)
    return math.atan2(2.0 * cfg.wheelbase_m * math.sin(alpha), distance)

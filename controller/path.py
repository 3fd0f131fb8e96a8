"""Geometry on a reference path (a dense (N, 2) polyline in driving order) used by the lateral trackers."""

from __future__ import annotations

import math

import numpy as np


def nearest_index(path: np.ndarray, x: float, y: float) -> int:
    return int(np.argmin(np.sum((path - np.array([x, y])) ** 2, axis=1)))


def lateral_error(path: np.ndarray, x: float, y: float) -> tuple[float, float, int]:
    """(signed distance to the path, positive when the point is left of it; path heading there; segment index)."""
    i = min(nearest_index(path, x, y), len(path) - 2)
    a, b = path[i], path[i + 1]
    ab = b - a
    t = float(np.clip(np.dot(np.array([x, y]) - a, ab) / max(np.dot(ab, ab), 1e-9), 0.0, 1.0))
    if t == 0.0 and i > 0:  # the foot may lie on the previous segment
        i -= 1
        a, b = path[i], path[i + 1]
        ab = b - a
    foot = a + np.clip(np.dot(np.array([x, y]) - a, ab) / max(np.dot(ab, ab), 1e-9), 0.0, 1.0) * ab
    cross = ab[0] * (y - a[1]) - ab[1] * (x - a[0])
    return math.copysign(float(np.hypot(*(np.array([x, y]) - foot))), cross), math.atan2(ab[1], ab[0]), i


def point_ahead(path: np.ndarray, start_index: int, distance: float) -> np.ndarray:
    """The point `distance` metres along the path from vertex `start_index` (the last point if the path is short)."""
    remaining = distance
    for i in range(start_index, len(path) - 1):
        seg = path[i + 1] - path[i]
        length = float(np.hypot(*seg))
        if length >= remaining:
            return path[i] + seg * (remaining / max(length, 1e-9))
        remaining -= length
    return path[-1]

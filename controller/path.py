"""Geometry on a reference path (a dense (N, 2) polyline in driving order) used by the lateral trackers."""

from __future__ import annotations

import math

import numpy as np

from sim.core import closest_on_polyline


def nearest_index(path: np.ndarray, x: float, y: float) -> int:
    return int(np.argmin(np.sum((path - np.array([x, y])) ** 2, axis=1)))


def lateral_error(path: np.ndarray, x: float, y: float) -> tuple[float, float, int]:
    """(signed distance to the path, positive when the point is left of it; path heading there; segment index)."""
    k, _, d = closest_on_polyline(path, x, y)
    seg = path[k + 1] - path[k]
    return d, math.atan2(seg[1], seg[0]), k


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

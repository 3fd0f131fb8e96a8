"""Geometry on a reference path (a dense (N, 2) polyline in driving order) used by the lateral trackers."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class PathFrame:
    """A path as a frame to measure in: extended `back_m` straight behind its start (so a point behind the first
    one, such as a rear axle, still projects onto it), with arc length, segment headings and smoothed curvature."""

    points: np.ndarray
    s: np.ndarray  # arc length of each point, 0 at the reference's first point (negative behind it)
    heading: np.ndarray  # per segment
    curvature: np.ndarray  # per point, 1/m, left positive

    @classmethod
    def of(cls, points: np.ndarray, back_m: float) -> PathFrame | None:
        pts = np.asarray(points, dtype=np.float64)
        if len(pts) < 2:
            return None
        keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-6])
        pts = pts[keep]
        if len(pts) < 2:
            return None
        first = (pts[1] - pts[0]) / np.hypot(*(pts[1] - pts[0]))
        pts = np.vstack([pts[0] - back_m * first, pts])
        seg = np.diff(pts, axis=0)
        length = np.hypot(*seg.T)
        s = np.concatenate([[0.0], np.cumsum(length)]) - back_m
        heading = np.unwrap(np.arctan2(seg[:, 1], seg[:, 0]))
        curvature = np.zeros(len(pts))
        curvature[1:-1] = np.diff(heading) / np.maximum(0.5 * (length[1:] + length[:-1]), 1e-6)
        kernel = np.ones(5) / 5.0  # ~2.5 m at the lane graph's half-metre spacing: polyline corners smoothed
        curvature = np.convolve(np.pad(curvature, 2, mode="edge"), kernel, mode="valid")
        return cls(pts, s, heading, curvature)

    def project(self, x: float, y: float) -> tuple[float, float, float]:
        """(arc length, signed offset left of the path, path heading) of the closest point."""
        k, t, d = closest_on_polyline(self.points, x, y)
        return float(self.s[k] + t * (self.s[k + 1] - self.s[k])), d, float(self.heading[k])

    def curvature_at(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self.s, self.curvature)

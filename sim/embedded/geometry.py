"""Plane geometry helpers shared by the town generator, the lane graph and the world (numpy, no state)."""

from __future__ import annotations

import math

import numpy as np


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length at each point of a polyline (N,) starting at 0."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    return np.concatenate([[0.0], np.cumsum(seg)])


def resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """The polyline resampled at (nearly) uniform arc-length spacing, keeping both end points exactly."""
    s = arc_length(points)
    n = max(2, math.ceil(s[-1] / spacing) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def headings(points: np.ndarray) -> np.ndarray:
    """Heading of each point (N,): of the segment leaving it, the last point repeating the last segment."""
    d = np.diff(points, axis=0)
    h = np.arctan2(d[:, 1], d[:, 0])
    return np.concatenate([h, h[-1:]])


def left_normals(points: np.ndarray) -> np.ndarray:
    """Unit normals pointing left of the direction of travel, averaged at interior vertices."""
    h = headings(points)
    d = np.diff(points, axis=0)
    seg_h = np.arctan2(d[:, 1], d[:, 0])
    if len(seg_h) > 1:
        mid = np.arctan2(np.sin(seg_h[:-1]) + np.sin(seg_h[1:]), np.cos(seg_h[:-1]) + np.cos(seg_h[1:]))
        h = np.concatenate([seg_h[:1], mid, seg_h[-1:]])
    return np.stack([-np.sin(h), np.cos(h)], axis=1)


def offset(points: np.ndarray, d: float) -> np.ndarray:
    """The polyline shifted `d` metres to its left (negative: right)."""
    return points + d * left_normals(points)


def bezier(p0: np.ndarray, h0: float, p1: np.ndarray, h1: float, spacing: float = 0.5) -> np.ndarray:
    """A cubic Bezier from p0 (heading h0) to p1 (heading h1), sampled about every `spacing` metres."""
    dist = float(np.hypot(*(p1 - p0)))
    turn = abs(math.remainder(h1 - h0, 2 * math.pi))
    # handles of a circular arc through the chord: (4/3) tan(turn/4) R
    k = 4.0 / 3.0 * math.tan(turn / 4) * dist / (2 * math.sin(turn / 2)) if turn > 0.1 else dist / 3.0
    c0 = p0 + k * np.array([math.cos(h0), math.sin(h0)])
    c1 = p1 - k * np.array([math.cos(h1), math.sin(h1)])
    n = max(4, math.ceil(dist * 1.6 / spacing))
    t = np.linspace(0.0, 1.0, n)[:, None]
    raw = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c0 + 3 * (1 - t) * t**2 * c1 + t**3 * p1
    return resample(raw, spacing)


def boxes_overlap(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Separating-axis test of one oriented box against many.

    `box` is (5,) [x, y, yaw, length, width]; `others` is (M, 5). Returns (M,) bool, True where the footprints overlap.
    """
    if len(others) == 0:
        return np.zeros(0, dtype=bool)
    c0, s0 = math.cos(box[2]), math.sin(box[2])
    ax0 = np.array([[c0, s0], [-s0, c0]])  # the box's own axes
    c1, s1 = np.cos(others[:, 2]), np.sin(others[:, 2])
    ax1 = np.stack([np.stack([c1, s1], axis=1), np.stack([-s1, c1], axis=1)], axis=1)  # (M, 2, 2)
    half0 = np.array([box[3], box[4]]) / 2.0
    half1 = others[:, 3:5] / 2.0
    delta = others[:, :2] - box[:2]
    overlap = np.ones(len(others), dtype=bool)
    for k in range(2):  # axes of the single box
        axis = ax0[k]
        r1 = half1[:, 0] * np.abs(ax1[:, 0] @ axis) + half1[:, 1] * np.abs(ax1[:, 1] @ axis)
        overlap &= np.abs(delta @ axis) <= half0[k] + r1
    for k in range(2):  # axes of each other box
        axis = ax1[:, k]
        r0 = half0[0] * np.abs(axis @ ax0[0]) + half0[1] * np.abs(axis @ ax0[1])
        overlap &= np.abs(np.einsum("ij,ij->i", delta, axis)) <= r0 + half1[:, k]
    return overlap


class PackedPolylines:
    """Many polylines resampled at uniform spacing and stored in one array, for vectorised (index, s) -> pose."""

    def __init__(self, lines: list[np.ndarray], spacing: float) -> None:
        packed = [resample(p, spacing) for p in lines]
        self.count = np.array([len(p) for p in packed])
        self.offset = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        self.length = np.array([arc_length(p)[-1] for p in packed])
        self.step = self.length / (self.count - 1)
        self.points = np.concatenate(packed)
        self.yaw = np.concatenate([headings(p) for p in packed])
        self.owner = np.repeat(np.arange(len(packed)), self.count)

    def pose(self, line: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, yaw) at arc length `s` along each polyline (vectorised; s is clipped to the line)."""
        k = np.clip(s / self.step[line], 0.0, self.count[line] - 1.000001)
        i0 = np.floor(k).astype(np.int64)
        t = k - i0
        idx = self.offset[line] + i0
        p = self.points[idx] * (1.0 - t)[:, None] + self.points[idx + 1] * t[:, None]
        return p[:, 0], p[:, 1], self.yaw[idx]

    def pose_extended(self, line: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) at arc length `s`, continuing straight along the end headings beyond either end."""
        clipped = np.clip(s, 0.0, self.length[line])
        x, y, yaw = self.pose(line, clipped)
        over = s - clipped
        return x + over * np.cos(yaw), y + over * np.sin(yaw)

    def line_points(self, line: int) -> np.ndarray:
        return self.points[self.offset[line] : self.offset[line] + self.count[line]]

"""A packed, query-friendly view of a RoadNetwork's lanes.

Every lane is resampled at uniform arc-length spacing and all lanes are stored in one point array, so the position
of many vehicles on many lanes is a handful of vectorised numpy operations. Lanes are addressed by integer index
here; ids (str) are used at the edges (routes, ground truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core import Turn, closest_on_polyline
from sim.embedded.geometry import PackedPolylines, arc_length
from sim.embedded.roadnet import RoadNetwork

_TURN_CODE = {None: -1, Turn.STRAIGHT: 0, Turn.LEFT: 1, Turn.RIGHT: 2}
_CODE_TURN = {v: k for k, v in _TURN_CODE.items()}


@dataclass(frozen=True)
class LaneHit:
    lane: int
    s: float
    d: float  # left of the centre line
    heading_error: float  # rad, pose yaw minus lane heading


class LaneGraph:
    """Lanes of a RoadNetwork packed into arrays, plus nearest-lane queries and connectivity."""

    def __init__(self, net: RoadNetwork, spacing: float = 0.5, cell: float = 5.0) -> None:
        self.net = net
        self.ids: list[str] = list(net.lanes)
        self.index: dict[str, int] = {lid: i for i, lid in enumerate(self.ids)}
        lanes = [net.lanes[lid] for lid in self.ids]
        self.lines = PackedPolylines([lane.centre for lane in lanes], spacing)
        self.count, self.offset, self.length = self.lines.count, self.lines.offset, self.lines.length
        self.step, self.points, self.yaw, self.point_lane = (
            self.lines.step,
            self.lines.points,
            self.lines.yaw,
            self.lines.owner,
        )
        self.width = np.array([lane.width for lane in lanes])
        self.speed_limit = np.array([lane.speed_limit for lane in lanes])
        self.is_connector = np.array([lane.junction_id is not None for lane in lanes])
        self.turn = np.array([_TURN_CODE[lane.turn] for lane in lanes])
        junction_ids = list(net.junctions)
        self.junction_ids = junction_ids
        self.junction = np.array([junction_ids.index(lane.junction_id) if lane.junction_id else -1 for lane in lanes])
        # stop lines measured on the resampled lane (the tiny length change of resampling is spread evenly)
        raw_len = np.array([arc_length(lane.centre)[-1] for lane in lanes])
        self.stop_s = np.array(
            [
                np.nan if ln.stop_line_s is None else ln.stop_line_s * L / r
                for ln, L, r in zip(lanes, self.length, raw_len, strict=False)
            ]
        )
        self.light_ids = list(net.lights)
        self.light = np.array([self.light_ids.index(ln.light_id) if ln.light_id else -1 for ln in lanes])
        self.stop_sign = np.array([ln.stop_sign for ln in lanes])
        self.succ: list[list[int]] = [[self.index[s] for s in ln.successors] for ln in lanes]
        self.pred: list[list[int]] = [[self.index[p] for p in ln.predecessors] for ln in lanes]
        self.left = np.array([self.index[ln.left] if ln.left else -1 for ln in lanes])
        self.right = np.array([self.index[ln.right] if ln.right else -1 for ln in lanes])
        self.opposite = np.array([self.index[ln.opposite] if ln.opposite else -1 for ln in lanes])
        self.is_parking = np.array([ln.parking for ln in lanes], dtype=bool)
        self._cell = cell
        keys = np.floor(self.points / cell).astype(np.int64)
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        self._grid: dict[tuple[int, int], np.ndarray] = {}
        uniq, start = np.unique(keys[order], axis=0, return_index=True)
        bounds = [*start[1:], len(order)]
        for k, a, b in zip(uniq, start, bounds, strict=False):
            self._grid[(int(k[0]), int(k[1]))] = order[a:b]

    # ---- geometry -------------------------------------------------------------------------------------------
    def pose(self, lane: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre-line (x, y, yaw) at arc length `s` of each lane (vectorised; s is clipped to the lane)."""
        return self.lines.pose(lane, s)

    def pose1(self, lane: int, s: float) -> tuple[float, float, float]:
        x, y, yaw = self.pose(np.array([lane]), np.array([float(s)]))
        return float(x[0]), float(y[0]), float(yaw[0])

    def lane_points(self, lane: int) -> np.ndarray:
        return self.lines.line_points(lane)

    def project(self, lane: int, x: float, y: float, s_hint: float | None = None, window: float = 8.0) -> LaneHit:
        """(s, d) of a point on one lane; with `s_hint`, only +-window metres around it are searched."""
        a, n = int(self.offset[lane]), int(self.count[lane])
        lo, hi = 0, n - 1
        if s_hint is not None:
            c = int(s_hint / self.step[lane])
            w = int(window / self.step[lane]) + 1
            lo, hi = max(0, c - w), min(n - 1, c + w)
            if hi <= lo:
                lo, hi = max(0, min(lo, n - 2)), min(n - 1, max(lo, 0) + 1)
        seg, t, d = closest_on_polyline(self.points[a + lo : a + hi + 1], x, y)
        k = lo + seg
        s = (k + t) * float(self.step[lane])
        # beyond either end, extend the end segment so that s keeps growing past the lane
        q = np.array([x, y])
        if k == n - 2 and t >= 1.0:
            end = self.points[a + n - 1]
            s += float(np.dot(q - end, _unit(end - self.points[a + n - 2])))
        elif k == 0 and t <= 0.0:
            s += float(np.dot(q - self.points[a], _unit(self.points[a + 1] - self.points[a])))
        return LaneHit(lane, s, d, 0.0)

    def candidates(self, x: float, y: float) -> np.ndarray:
        """Packed indices of lane points in the 3x3 cells around (x, y)."""
        cx, cy = math.floor(x / self._cell), math.floor(y / self._cell)
        parts = [self._grid.get((cx + i, cy + j)) for i in (-1, 0, 1) for j in (-1, 0, 1)]
        parts = [p for p in parts if p is not None]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def nearest(
        self, x: float, y: float, yaw: float | None = None, max_dist: float = 5.0, prefer: tuple[int, ...] = ()
    ) -> LaneHit | None:
        """The lane under (x, y), heading-aware: among lanes whose strip contains the point (or within `max_dist`),
        the one best aligned with `yaw`; lanes in `prefer` win ties (hysteresis for a vehicle already on them)."""
        idx = self.candidates(x, y)
        if len(idx) == 0:
            return None
        diff = self.points[idx] - np.array([x, y])
        dist = np.hypot(diff[:, 0], diff[:, 1])
        lane_of = self.point_lane[idx]
        order = np.argsort(dist, kind="stable")
        lanes_u, first = np.unique(lane_of[order], return_index=True)
        best_pt = idx[order[first]]
        best_d = dist[order[first]]
        inside = best_d <= self.width[lanes_u] / 2 + 0.3
        keep = inside if inside.any() else best_d <= max_dist
        if not keep.any():
            return None
        lanes_u, best_pt, best_d = lanes_u[keep], best_pt[keep], best_d[keep]
        cost = best_d.copy()
        if yaw is not None:
            herr = np.abs(np.angle(np.exp(1j * (yaw - self.yaw[best_pt]))))
            cost = cost + 6.0 * herr + np.where(herr > math.pi / 2, 100.0, 0.0)
        if prefer:
            cost = cost - 1.0 * np.isin(lanes_u, prefer)
        k = int(np.argmin(cost))
        lane = int(lanes_u[k])
        s_hint = float((best_pt[k] - self.offset[lane]) * self.step[lane])
        hit = self.project(lane, x, y, s_hint, window=2.0)
        herr = 0.0 if yaw is None else math.remainder(yaw - self.pose1(lane, hit.s)[2], 2 * math.pi)
        return LaneHit(lane, hit.s, hit.d, herr)

    def lanes_near(self, x: float, y: float, margin: float) -> list[LaneHit]:
        """Every lane whose strip, widened by `margin` each side, contains (x, y), with approximate (s, d)."""
        _, lanes, s, d = self.lanes_near_many(np.array([x], dtype=np.float64), np.array([y], dtype=np.float64), margin)
        return [LaneHit(lane, si, di, 0.0) for lane, si, di in zip(lanes.tolist(), s.tolist(), d.tolist(), strict=True)]

    def lanes_near_many(
        self, xs: np.ndarray, ys: np.ndarray, margin: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`lanes_near` for many points in one pass: (point index, lane, s, d) of every hit, by point, then by lane.

        Per point and lane, the nearest candidate lane point decides (the earlier candidate on a tie)."""
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        found = [self.candidates(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]
        empty = np.zeros(0, dtype=np.int64)
        if not found or not any(len(f) for f in found):
            return empty, empty, np.zeros(0), np.zeros(0)
        idx = np.concatenate(found)
        group = np.repeat(np.arange(len(found)), [len(f) for f in found])
        diff = np.stack([xs[group], ys[group]], axis=1) - self.points[idx]
        dist = np.hypot(diff[:, 0], diff[:, 1])
        lane_of = self.point_lane[idx]
        # a lane is hit when its nearest candidate is within reach, so candidates out of reach cannot decide anything
        near = np.flatnonzero(dist <= self.width[lane_of] / 2 + margin)
        order = near[np.lexsort((near, dist[near], lane_of[near], group[near]))]
        g_o, l_o = group[order], lane_of[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (g_o[1:] != g_o[:-1]) | (l_o[1:] != l_o[:-1])
        j = order[first]
        lane, p = lane_of[j], idx[j]
        yaw = self.yaw[p].tolist()
        c = np.array([math.cos(a) for a in yaw])  # math, not numpy: the same last bit as one point at a time
        sn = np.array([math.sin(a) for a in yaw])
        along = diff[j, 0] * c + diff[j, 1] * sn
        s = (p - self.offset[lane]) * self.step[lane] + along
        keep = (s >= -0.5) & (s <= self.length[lane] + 0.5)
        d = -diff[j, 0] * sn + diff[j, 1] * c
        return group[j][keep], lane[keep], s[keep], d[keep]

    # ---- connectivity ---------------------------------------------------------------------------------------
    def turn_of(self, lane: int) -> Turn | None:
        return _CODE_TURN[int(self.turn[lane])]

    def successor_with_turn(self, lane: int, turn: Turn) -> int:
        """The connector leaving `lane` with `turn`, or -1."""
        code = _TURN_CODE[turn]
        return next((c for c in self.succ[lane] if self.turn[c] == code), -1)

    def turns_at_end(self, lane: int) -> tuple[Turn, ...]:
        return tuple(sorted({_CODE_TURN[int(self.turn[c])] for c in self.succ[lane] if self.is_connector[c]}))

    def group(self, lane: int) -> list[int]:
        """Same-direction lanes of the lane's road, from the centre line to the kerb."""
        first = lane
        while self.left[first] >= 0:
            first = int(self.left[first])
        out = [first]
        while self.right[out[-1]] >= 0:
            out.append(int(self.right[out[-1]]))
        return out

    def map_s(self, lane_from: int, s: float, lane_to: int) -> float:
        """The arc length on a parallel lane at the same place along the road."""
        return float(s * self.length[lane_to] / self.length[lane_from])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(*v)), 1e-12)

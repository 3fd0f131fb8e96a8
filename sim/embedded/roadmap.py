"""The embedded simulator's `sim.core.RoadMap`: lane queries over a LaneGraph."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from sim.core import LanePath, LanePosition, Route, StopLineAhead, Turn
from sim.embedded.lanegraph import LaneGraph


class EmbeddedRoadMap:
    """Implements `sim.core.RoadMap` on a LaneGraph."""

    def __init__(self, graph: LaneGraph) -> None:
        self.graph = graph

    def _lane(self, lane_id: str) -> int:
        try:
            return self.graph.index[lane_id]
        except KeyError:
            raise KeyError(f"unknown lane id {lane_id!r}") from None

    def _position(self, lane: int, s: float, d: float, herr: float) -> LanePosition:
        return LanePosition(self.graph.ids[lane], s, d, herr, bool(self.graph.is_connector[lane]))

    def locate(self, x: float, y: float, yaw: float | None = None) -> LanePosition | None:
        hit = self.graph.nearest(x, y, yaw)
        return None if hit is None else self._position(hit.lane, hit.s, hit.d, hit.heading_error)

    def project(self, lane_id: str, x: float, y: float) -> LanePosition:
        lane = self._lane(lane_id)
        hit = self.graph.project(lane, x, y)
        return self._position(lane, hit.s, hit.d, 0.0)

    def neighbour(self, lane_id: str, side: Literal["left", "right"]) -> str | None:
        lane = self._lane(lane_id)
        nb = int((self.graph.left if side == "left" else self.graph.right)[lane])
        return self.graph.ids[nb] if nb >= 0 else None

    def oncoming(self, lane_id: str) -> str | None:
        lane = self._lane(lane_id)
        other = int(self.graph.opposite[lane])
        return self.graph.ids[other] if other >= 0 else None

    def turns_ahead(self, lane_id: str) -> tuple[Turn, ...]:
        lane = self._lane(lane_id)
        while self.graph.is_connector[lane] and self.graph.succ[lane]:
            lane = self.graph.succ[lane][0]
        return self.graph.turns_at_end(lane)

    def lane_width(self, lane_id: str) -> float:
        return float(self.graph.width[self._lane(lane_id)])

    def speed_limit(self, lane_id: str) -> float:
        return float(self.graph.speed_limit[self._lane(lane_id)])

    def _branch(self, lane: int, turn: Turn | None, route_lanes: frozenset[str], first: bool) -> int:
        g = self.graph
        if first and turn is not None:
            pick = g.successor_with_turn(lane, turn)
            if pick >= 0:
                return pick
        on_route = [c for c in g.succ[lane] if g.ids[c] in route_lanes]
        if on_route:
            return on_route[0]
        pick = g.successor_with_turn(lane, Turn.STRAIGHT)
        return pick if pick >= 0 else (g.succ[lane][0] if g.succ[lane] else -1)

    def path_ahead(
        self, lane_id: str, s: float, length_m: float, turn: Turn | None = None, route: Route | None = None
    ) -> LanePath:
        g = self.graph
        lane = self._lane(lane_id)
        route_lanes = frozenset(route.lane_ids) if route is not None else frozenset()
        s = float(np.clip(s, 0.0, g.length[lane]))
        chunks, lanes, stops = [], [], []
        travelled = 0.0
        taken: Turn | None = None
        while True:
            end = min(float(g.length[lane]), s + length_m - travelled)
            step = float(g.step[lane])
            inner = g.lane_points(lane)[math.floor(s / step) + 1 : math.ceil(end / step)]
            pts = np.concatenate([[g.pose1(lane, s)[:2]], inner, [g.pose1(lane, end)[:2]]])
            chunks.append(pts)
            lanes += [lane] * len(pts)
            stop = g.stop_s[lane]
            if math.isfinite(stop) and s <= stop <= end:
                light = int(g.light[lane])
                stops.append(
                    StopLineAhead(
                        float(travelled + stop - s),
                        g.ids[lane],
                        g.light_ids[light] if light >= 0 else None,
                        bool(g.stop_sign[lane]),
                    )
                )
            travelled += end - s
            if travelled >= length_m - 1e-6 or not g.succ[lane]:
                break
            nxt = self._branch(lane, turn, route_lanes, first=taken is None)
            if g.is_connector[nxt] and taken is None:
                taken = g.turn_of(nxt)
            lane, s = nxt, 0.0
        pts = np.concatenate(chunks)
        keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-3])
        lane_arr = np.asarray(lanes)[keep]
        return LanePath(
            pts[keep],
            tuple(g.ids[i] for i in lane_arr),
            g.speed_limit[lane_arr].astype(np.float64),
            tuple(stops),
            taken,
        )

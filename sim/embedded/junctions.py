"""Which junction connectors may not be used at the same time, and who yields to whom.

Two connectors of one junction conflict when they come from different lanes and either end in the same lane or
pass closer than a vehicle width plus margin (more when one of them turns: long vehicles sweep wide on a turn).
At a signalised junction a left turn yields to oncoming traffic that has the same green (straight on or turning
right from the opposite approach).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core import Turn
from sim.embedded.lanegraph import LaneGraph


@dataclass(frozen=True)
class Conflict:
    other: int  # connector lane index
    yields: bool  # this connector must let traffic approaching `other` go first


def conflict_table(graph: LaneGraph, clearance: float = 2.8, turn_clearance: float = 3.8) -> list[list[Conflict]]:
    """For each lane index, the conflicting connectors (empty for road lanes)."""
    table: list[list[Conflict]] = [[] for _ in graph.ids]
    by_junction: dict[int, list[int]] = {}
    for i in np.flatnonzero(graph.is_connector):
        by_junction.setdefault(int(graph.junction[i]), []).append(int(i))
    for j, conns in by_junction.items():
        signalised = graph.net.junctions[graph.junction_ids[j]].signalised
        pts = {c: graph.lane_points(c)[::2] for c in conns}
        for a in conns:
            for b in conns:
                if a == b or graph.pred[a] == graph.pred[b]:
                    continue
                same_exit = graph.succ[a] == graph.succ[b]
                d = np.min(np.hypot(*(pts[a][:, None, :] - pts[b][None, :, :]).transpose(2, 0, 1)))
                turning = graph.turn_of(a) != Turn.STRAIGHT or graph.turn_of(b) != Turn.STRAIGHT
                if not (same_exit or d < (turn_clearance if turning else clearance)):
                    continue
                yields = signalised and graph.turn_of(a) == Turn.LEFT and graph.turn_of(b) != Turn.LEFT
                yields = yields and _opposite(graph, a, b)
                table[a].append(Conflict(b, bool(yields)))
    return table


def _opposite(graph: LaneGraph, a: int, b: int) -> bool:
    """The two connectors start from approaches facing each other."""
    ya = graph.yaw[graph.offset[a]]
    yb = graph.yaw[graph.offset[b]]
    return abs(np.angle(np.exp(1j * (ya - yb)))) > 2.5

"""Route planning on a CARLA town's lane graph (built from its topology by `sim.carla_backend.network`).

Explicit waypoints use the shared lane-graph search (`sim.embedded.routing.route_through`: Dijkstra over successor
links with lane changes at a cost). Junction maneuvers need more than on the generated towns: a CARLA road often
splits into several lane sections before it reaches a junction, so the lane that takes the turn is found by walking
straight on to the next junction and searching a path to a connector with the asked turn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.core import Turn
from sim.embedded import routing as embedded_routing
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.routing import PlannedRoute, RouteError, follow_on, shortest_sequence, straight_on

MAX_APPROACH_LANES = 200  # lanes walked looking for the next junction before giving up


def approach_lane(graph: LaneGraph, lane: int) -> int:
    """The lane, straight on from `lane`, whose end enters the next junction."""
    for _ in range(MAX_APPROACH_LANES):
        if any(graph.is_connector[c] for c in graph.succ[lane]):
            return lane
        nxt = straight_on(graph, lane)
        if nxt < 0:
            raise RouteError(f"lane {graph.ids[lane]} reaches no junction (road end)")
        lane = nxt
    raise RouteError(f"no junction within {MAX_APPROACH_LANES} lanes of {graph.ids[lane]}")


def _turn_entry(graph: LaneGraph, approach: int, turn: Turn) -> tuple[int, int]:
    """(lane before the junction, connector) taking `turn`: the approach lane itself when it can, else the nearest
    same-direction neighbour that can."""
    group = graph.group(approach)
    pos = group.index(approach)
    options = [
        (abs(i - pos), lane, c) for i, lane in enumerate(group) for c in graph.succ[lane] if _turns(graph, c, turn)
    ]
    if not options:
        junction = graph.junction_ids[graph.junction[graph.succ[approach][0]]]
        raise RouteError(f"no {turn.value} turn at junction {junction} from lane {graph.ids[approach]}")
    _, lane, conn = min(options)
    return lane, conn


def _turns(graph: LaneGraph, lane: int, turn: Turn) -> bool:
    return bool(graph.is_connector[lane]) and graph.turn_of(lane) == turn


def maneuver_sequence(
    graph: LaneGraph, start: int, s0: float, maneuvers: Sequence[Turn | str], tail_m: float
) -> tuple[list[int], float]:
    """Lane sequence from (start, s0) taking `maneuvers` at the next junctions, then `tail_m` metres straight on.
    Returns the sequence and where it ends on its last lane."""
    seq, cur, s_cur = [start], start, s0
    if graph.is_connector[cur]:  # starting inside a junction: leave it first
        cur, s_cur = graph.succ[cur][0], 0.0
        seq.append(cur)
    for m in maneuvers:
        lane, conn = _turn_entry(graph, approach_lane(graph, cur), Turn(m))
        path = shortest_sequence(graph, cur, s_cur, lane, float(graph.length[lane]))
        after = graph.succ[conn][0] if graph.succ[conn] else -1
        if after < 0:
            raise RouteError(f"connector {graph.ids[conn]} leads nowhere")
        seq += [*path[1:], conn, after]
        cur, s_cur = after, 0.0
    return follow_on(graph, seq, s0 if len(seq) == 1 else 0.0, tail_m)


def plan_route(graph: LaneGraph, spec: object, rng: np.random.Generator) -> PlannedRoute:
    """Route from a scenario `route:` spec (our frame), with this module's maneuver search."""
    return embedded_routing.plan_route(graph, spec, rng, sequence=maneuver_sequence)

"""Route planning on the lane graph: between points (Dijkstra, lane changes allowed) or from junction maneuvers.

A plan is a list of legs (a lane and an arc-length interval); consecutive legs either follow a successor link or
are same-direction neighbours joined by a short diagonal (a lane change). `PlannedRoute` turns the legs into the
shared `sim.core.Route` and keeps what the world needs about them: stop lines and lights along the route.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core import Route, RouteManeuver, Turn
from sim.embedded.lanegraph import LaneGraph

SequenceSearch = Callable[[LaneGraph, int, float, Sequence[Turn | str], float], tuple[list[int], float]]
"""(graph, start lane, s on it, maneuvers, tail metres) -> (lane sequence, arc length where it ends)."""


class RouteError(ValueError):
    """The asked route does not exist on this map."""


class ShortTailError(RouteError):
    """The maneuvers fit, but the road straight on after them ends before `length_m`."""

    def __init__(self, wanted_m: float, available_m: float) -> None:
        super().__init__(
            f"length_m is the length straight on after the last maneuver: {wanted_m:g} m asked, "
            f"the road ends after {available_m:.0f} m"
        )
        self.available_m = available_m


@dataclass(frozen=True)
class Leg:
    lane: int
    s0: float
    s1: float


@dataclass(frozen=True)
class RouteStop:
    s: float  # along the route
    lane_id: str
    light_id: str | None
    stop_sign: bool
    junction_id: str | None

    def describe(self, route_s: float, color: str | None) -> dict[str, Any]:
        """The `stop_ahead` entry of ground-truth extras, seen from route position `route_s`."""
        return {
            "distance_m": self.s - route_s,
            "light_id": self.light_id,
            "color": color,
            "stop_sign": self.stop_sign,
            "junction_id": self.junction_id,
        }


@dataclass(frozen=True)
class LaneChange:
    s: float  # along the route, middle of the change
    side: str  # "left" | "right"


@dataclass
class PlannedRoute:
    route: Route
    legs: list[Leg]
    stops: list[RouteStop] = field(default_factory=list)
    lane_changes: list[LaneChange] = field(default_factory=list)
    lane_set: frozenset[int] = frozenset()

    def next_stop(self, s: float, lights_only: bool = False) -> RouteStop | None:
        return next((st for st in self.stops if st.s >= s and (st.light_id or not lights_only)), None)

    def distance_to_junction(self, s: float) -> float:
        m = self.route.next_maneuver(s)
        return math.inf if m is None else max(0.0, m.s_start - s)

    def distance_to_stop_line(self, s: float) -> float:
        st = self.next_stop(s)
        return math.inf if st is None else st.s - s

    def distance_to_light(self, s: float) -> float:
        st = self.next_stop(s, lights_only=True)
        return math.inf if st is None else st.s - s


LANE_CHANGE_M = 14.0
LANE_CHANGE_COST = 25.0
LATE_CHANGE = 1e-3  # relative cost added to the way driven before a lane change


def _run_legs(graph: LaneGraph, run: list[int], s_in: float, s_out: float | None) -> list[Leg]:
    """Legs for a run of neighbouring lanes entered at `s_in` on the first and left at `s_out` (None: lane end)."""
    if len(run) == 1:
        return [Leg(run[0], s_in, graph.length[run[0]] if s_out is None else s_out)]
    first = run[0]
    f_in = s_in / graph.length[first]
    last = run[-1]
    end = graph.length[last] if s_out is None else s_out
    stop = graph.stop_s[last]
    usable = min(end, stop - 8.0 if math.isfinite(stop) else end - 8.0, graph.length[last] - 8.0)
    if graph.is_parking[first]:  # out of a parking lane at once, not half way down the street
        usable = min(usable, graph.map_s(first, s_in, last) + 2.0)
    f_out = max(f_in, usable / graph.length[last])
    k = len(run) - 1
    fracs = [f_in + (f_out - f_in) * (i + 1) / (k + 1) for i in range(k)]
    legs = []
    prev_s = s_in
    for i, lane in enumerate(run):
        half = min(LANE_CHANGE_M, (f_out - f_in) * graph.length[lane] / (k + 1)) / 2
        stop_at = end if i == k else fracs[i] * graph.length[lane] - half
        legs.append(Leg(lane, prev_s, max(prev_s, stop_at)))
        if i < k:
            prev_s = fracs[i] * graph.length[run[i + 1]] + half
    return legs


def legs_from_sequence(graph: LaneGraph, seq: Sequence[int], s_start: float, s_end: float | None) -> list[Leg]:
    """Legs for a lane sequence whose consecutive lanes are successors or neighbours."""
    runs: list[list[int]] = [[seq[0]]]
    for a, b in itertools.pairwise(seq):
        if b in graph.succ[a]:
            runs.append([b])
        elif b in (graph.left[a], graph.right[a]):
            runs[-1].append(b)
        else:
            raise RouteError(f"lanes {graph.ids[a]} and {graph.ids[b]} are not connected")
    legs: list[Leg] = []
    for i, run in enumerate(runs):
        legs += _run_legs(graph, run, s_start if i == 0 else 0.0, s_end if i == len(runs) - 1 else None)
    return legs


def shortest_sequence(graph: LaneGraph, start: int, s0: float, goal: int, s_goal: float) -> list[int]:
    """Cheapest lane sequence from (start, s0) to (goal, s_goal) (Dijkstra; lane changes cost a penalty)."""
    if start == goal and s_goal >= s0:
        return [start]
    dist: dict[int, float] = {}
    prev: dict[int, int] = {}
    entered: dict[int, float] = {}  # arc length where the sequence comes onto each lane (0 unless beside the start)
    heap: list[tuple[float, int, int, float]] = [(0.0, start, -1, s0)]
    while heap:
        cost, lane, parent, s_in = heapq.heappop(heap)
        if lane in dist:
            continue
        dist[lane], prev[lane], entered[lane] = cost, parent, s_in
        if lane == goal and (lane != start or s_goal >= s0):
            break
        for nxt in graph.succ[lane]:
            if nxt not in dist:
                heapq.heappush(heap, (cost + graph.length[lane] - s_in, nxt, lane, 0.0))
        for nb in (graph.left[lane], graph.right[lane]):
            if nb >= 0 and nb not in dist:  # a change costs a little more the later it comes: change early
                s_nb = graph.map_s(lane, s_in, int(nb))
                heapq.heappush(heap, (cost * (1.0 + LATE_CHANGE) + LANE_CHANGE_COST, int(nb), lane, s_nb))
    if goal not in dist:
        raise RouteError(f"no route from lane {graph.ids[start]} to lane {graph.ids[goal]}")
    seq = [goal]
    while prev[seq[-1]] >= 0:
        seq.append(prev[seq[-1]])
    return seq[::-1]


def straight_on(graph: LaneGraph, lane: int) -> int:
    """The successor that keeps going (the straight connector at a junction, the only one elsewhere); -1 at an end."""
    nxt = graph.successor_with_turn(lane, Turn.STRAIGHT)
    if nxt >= 0:
        return nxt
    plain = [c for c in graph.succ[lane] if not graph.is_connector[c]]
    return plain[0] if plain else (graph.succ[lane][0] if graph.succ[lane] else -1)


def follow_on(graph: LaneGraph, seq: list[int], s_first: float, length_m: float) -> tuple[list[int], float]:
    """Extend a lane sequence by `length_m` metres of going straight on from `s_first` on its last lane. Returns the
    sequence and the arc length where it ends on its last lane (the lane's end where the road ends sooner)."""
    cur, left = seq[-1], length_m
    while graph.length[cur] - s_first < left:
        left -= graph.length[cur] - s_first
        nxt = straight_on(graph, cur)
        if nxt < 0:
            return seq, float(graph.length[cur])
        seq.append(nxt)
        cur, s_first = nxt, 0.0
    return seq, s_first + left


def follow_on_exactly(graph: LaneGraph, seq: list[int], s_first: float, length_m: float) -> tuple[list[int], float]:
    """`follow_on`, but a road that ends sooner than `length_m` raises ShortTailError (within 1 m of it is fine)."""
    first = len(seq) - 1  # follow_on extends `seq` in place from its last lane
    lanes, s_end = follow_on(graph, seq, s_first, length_m)
    available = float(sum(graph.length[lane] for lane in lanes[first:-1]) - s_first + s_end)
    if available < length_m - 1.0:
        raise ShortTailError(length_m, available)
    return lanes, s_end


def junction_place(graph: LaneGraph, lane: int) -> str:
    """Where the junction a lane leads into is, in words a scenario author can find on the map."""
    if not graph.succ[lane]:
        return "at the road end"
    junction = graph.junction[graph.succ[lane][0]]
    if junction < 0:
        return "ahead"
    centre = graph.net.junctions[graph.junction_ids[junction]].polygon.mean(axis=0)
    return f"at the junction near ({centre[0]:.0f}, {centre[1]:.0f})"


def maneuver_sequence(
    graph: LaneGraph, start: int, s0: float, maneuvers: Sequence[Turn | str], tail_m: float
) -> tuple[list[int], float]:
    """Lane sequence taking `maneuvers` at the next junctions (changing lanes to reach a lane that has the turn),
    then `tail_m` metres of lane following. Returns the sequence and the arc length where it ends on its last lane."""
    seq = [start]
    cur = start
    if graph.is_connector[cur]:
        cur = graph.succ[cur][0]
        seq.append(cur)
    if cur not in graph.group(cur) and graph.left[cur] >= 0:  # a parking or merge lane: join the traffic first
        cur = int(graph.left[cur])
        seq.append(cur)
    for m in maneuvers:
        turn = Turn(m)
        group = graph.group(cur)
        options = [lane for lane in group if graph.successor_with_turn(lane, turn) >= 0]
        if not options:
            raise RouteError(f"no {turn.value} turn {junction_place(graph, cur)}")
        pos = group.index(cur)
        target = min(options, key=lambda lane: abs(group.index(lane) - pos))
        step = 1 if group.index(target) > pos else -1
        seq += [group[i] for i in range(pos + step, group.index(target) + step, step)]
        conn = graph.successor_with_turn(target, turn)
        cur = graph.succ[conn][0]
        seq += [conn, cur]
    return follow_on_exactly(graph, seq, s0 if len(seq) == 1 else 0.0, tail_m)


def build_route(graph: LaneGraph, legs: list[Leg]) -> PlannedRoute:
    """Dense `Route` (about one point per half metre) from legs, with maneuvers, stops and lane changes."""
    chunks, ids, leg_start_idx = [], [], []
    n_pts = 0
    for leg in legs:
        lane_pts = graph.lane_points(leg.lane)
        step = graph.step[leg.lane]
        i0, i1 = math.floor(leg.s0 / step) + 1, math.ceil(leg.s1 / step)
        inner = lane_pts[i0:i1] if i1 > i0 else np.zeros((0, 2))
        a = np.array(graph.pose1(leg.lane, leg.s0)[:2])
        b = np.array(graph.pose1(leg.lane, leg.s1)[:2])
        pts = np.concatenate([a[None], inner, b[None]])
        leg_start_idx.append(n_pts)
        chunks.append(pts)
        ids += [graph.ids[leg.lane]] * len(pts)
        n_pts += len(pts)
    pts = np.concatenate(chunks)
    keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-3])
    new_index = np.cumsum(keep) - 1
    pts = pts[keep]
    ids = [lid for lid, k in zip(ids, keep, strict=False) if k]
    route_s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    leg_s = [float(route_s[new_index[i]]) for i in leg_start_idx]
    maneuvers, stops, changes = [], [], []
    for i, leg in enumerate(legs):
        start = leg_s[i]
        if graph.is_connector[leg.lane]:
            jid = graph.junction_ids[graph.junction[leg.lane]]
            turn = graph.turn_of(leg.lane)
            maneuvers.append(RouteManeuver(start, float(start + leg.s1 - leg.s0), turn, jid))
        stop = graph.stop_s[leg.lane]
        if math.isfinite(stop) and leg.s0 <= stop <= leg.s1 + 1e-6:
            light = int(graph.light[leg.lane])
            nxt = graph.succ[leg.lane]
            stops.append(
                RouteStop(
                    float(start + stop - leg.s0),
                    graph.ids[leg.lane],
                    graph.light_ids[light] if light >= 0 else None,
                    bool(graph.stop_sign[leg.lane]),
                    graph.junction_ids[graph.junction[nxt[0]]] if nxt else None,
                )
            )
        if i + 1 < len(legs) and legs[i + 1].lane in (graph.left[leg.lane], graph.right[leg.lane]):
            side = "left" if legs[i + 1].lane == graph.left[leg.lane] else "right"
            changes.append(LaneChange(float(start + leg.s1 - leg.s0 + leg_s[i + 1]) / 2, side))
    route = Route(pts, tuple(ids), tuple(maneuvers))
    return PlannedRoute(route, legs, stops, changes, frozenset(leg.lane for leg in legs))


def route_through(graph: LaneGraph, poses: Sequence[tuple[float, float, float]]) -> PlannedRoute:
    """Route visiting each (x, y, yaw) pose in order."""
    hits = []
    for x, y, yaw in poses:
        hit = graph.nearest(x, y, yaw, max_dist=8.0)
        if hit is None:
            raise RouteError(f"waypoint ({x:.1f}, {y:.1f}) is not on a driving lane")
        hits.append(hit)
    legs: list[Leg] = []
    for a, b in itertools.pairwise(hits):
        seq = shortest_sequence(graph, a.lane, max(0.0, a.s), b.lane, max(0.0, b.s))
        new = legs_from_sequence(graph, seq, max(0.0, a.s), min(graph.length[b.lane], max(0.0, b.s)))
        if legs and legs[-1].lane == new[0].lane and abs(legs[-1].s1 - new[0].s0) < 1e-6:
            legs[-1] = Leg(legs[-1].lane, legs[-1].s0, new[0].s1)
            new = new[1:]
        legs += new
    return build_route(graph, legs)


def route_from_maneuvers(
    graph: LaneGraph,
    start: tuple[float, float, float],
    maneuvers: Sequence[Turn | str],
    tail_m: float = 60.0,
    sequence: SequenceSearch | None = None,
) -> PlannedRoute:
    """From a start pose through the asked junction maneuvers; `sequence` finds the lanes (default: this map's)."""
    hit = graph.nearest(*start, max_dist=8.0)
    if hit is None:
        raise RouteError(f"start ({start[0]:.1f}, {start[1]:.1f}) is not on a driving lane (none within 8 m)")
    s0 = float(np.clip(hit.s, 0.0, graph.length[hit.lane]))
    seq, s_end = (sequence or maneuver_sequence)(graph, hit.lane, s0, maneuvers, tail_m)
    return build_route(graph, legs_from_sequence(graph, seq, s0, s_end))


def route_from_seed(
    graph: LaneGraph,
    maneuvers: Sequence[Turn | str],
    rng: np.random.Generator,
    tail_m: float = 60.0,
    sequence: SequenceSearch | None = None,
) -> PlannedRoute:
    """Maneuvers alone: the start (a little after a junction, on a road lane) is drawn from `rng` among the lanes
    where every maneuver is possible."""
    search = sequence or maneuver_sequence
    roads = [i for i in range(len(graph.ids)) if not graph.is_connector[i] and graph.length[i] > 40.0]
    longest_tail = 0.0
    for lane in rng.permutation(roads):
        try:
            seq, s_end = search(graph, int(lane), 5.0, maneuvers, tail_m)
        except ShortTailError as err:
            longest_tail = max(longest_tail, err.available_m)
            continue
        except RouteError:
            continue
        return build_route(graph, legs_from_sequence(graph, seq, 5.0, s_end))
    if longest_tail > 0.0:
        raise ShortTailError(tail_m, longest_tail)
    raise RouteError(_why_no_start(graph, roads, list(maneuvers), search))


def _why_no_start(graph: LaneGraph, roads: list[int], maneuvers: list[Turn | str], search: SequenceSearch) -> str:
    """Which of the maneuvers this map can take in a row, and where the next one fails."""

    def fits(prefix: list[Turn | str]) -> bool:
        for lane in roads:
            try:
                search(graph, lane, 5.0, prefix, 0.0)
                return True
            except RouteError:
                continue
        return False

    done = 0
    while done < len(maneuvers) and fits(maneuvers[: done + 1]):
        done += 1
    words = [Turn(m).value for m in maneuvers]
    if done == 0:
        what = "lets a route go straight through it" if words[0] == "straight" else f"offers a {words[0]} turn"
        return f"no junction on this map {what}, so no start allows the maneuvers {words}"
    return (
        f"no start allows the maneuvers {words}: this map fits at most {done} of them in a row "
        f"(after {words[:done]} no junction ahead offers '{words[done]}')"
    )


def plan_route(
    graph: LaneGraph, spec: object, rng: np.random.Generator, sequence: SequenceSearch | None = None
) -> PlannedRoute:
    """Route from a scenario `route:` spec (pydantic model or dict with waypoints / start / maneuvers / length_m).

    `sequence` is the maneuver search; maps whose roads split before junctions (CARLA towns) pass their own."""

    def get(key: str) -> object:
        return spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)

    waypoints, start, maneuvers = get("waypoints"), get("start"), get("maneuvers")
    tail = float(get("length_m") or 60.0)  # type: ignore[arg-type]
    if waypoints is not None:
        wps = [tuple(map(float, w)) for w in waypoints]  # type: ignore[attr-defined]
        poses = []
        for i, (x, y) in enumerate(wps):
            a, b = (wps[i], wps[i + 1]) if i + 1 < len(wps) else (wps[i - 1], wps[i])
            poses.append((x, y, math.atan2(b[1] - a[1], b[0] - a[0])))
        return route_through(graph, poses)
    if start is not None:
        x, y, yaw_deg = map(float, start)  # type: ignore[call-overload]
        return route_from_maneuvers(graph, (x, y, math.radians(yaw_deg)), maneuvers or [], tail, sequence)  # type: ignore[arg-type]
    return route_from_seed(graph, maneuvers or [], rng, tail, sequence)  # type: ignore[arg-type]

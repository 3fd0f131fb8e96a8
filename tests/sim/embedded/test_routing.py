"""Routing on the lane graph and the RoadMap queries a controller relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core import RoadMap, Turn
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.routing import RouteError, plan_route, route_from_maneuvers
from sim.embedded.towns import build_network


@pytest.fixture(scope="module")
def graph() -> LaneGraph:
    return LaneGraph(build_network({"name": "grid", "rows": 4, "cols": 4, "lanes": 2, "block_m": 90}, 11))


def _turn_at_end(route, m) -> Turn:
    _, _, h0 = route.to_world(m.s_start - 2.0)
    _, _, h1 = route.to_world(m.s_end + 2.0)
    rel = math.remainder(h1 - h0, 2 * math.pi)
    return Turn.STRAIGHT if abs(rel) < 0.4 else (Turn.LEFT if rel > 0 else Turn.RIGHT)


@pytest.mark.parametrize("maneuvers", [["left", "right", "straight"], ["right", "right"], ["straight", "left"]])
def test_maneuvers_alone_give_the_asked_turns(graph, maneuvers):
    plan = plan_route(graph, {"maneuvers": maneuvers, "length_m": 40}, np.random.default_rng(0))
    route = plan.route
    assert [m.turn.value for m in route.maneuvers][: len(maneuvers)] == maneuvers
    for m in route.maneuvers[: len(maneuvers)]:
        assert _turn_at_end(route, m).value == m.turn.value  # the geometry really turns that way
    assert route.length - route.maneuvers[len(maneuvers) - 1].s_end >= 40 - 1e-6


def test_route_from_start_changes_lane_to_reach_a_left_turn(graph):
    # eastbound kerb lane (lane 1) of row 0: only lane 0 turns left, so the route must change lanes first
    plan = route_from_maneuvers(graph, (15.0, -5.25, 0.0), ["left"])
    assert plan.route.maneuvers[0].turn == Turn.LEFT
    assert [lc.side for lc in plan.lane_changes] == ["left"]
    assert plan.route.lane_ids[0] == "H0_0+1" and "H0_0+0" in plan.route.lane_ids


def test_impossible_maneuver_is_a_clear_error(graph):
    with pytest.raises(RouteError, match="no right turn"):
        route_from_maneuvers(graph, (15.0, -1.75, 0.0), ["right"])  # the bottom-edge junction has no south arm


def test_waypoint_route_reaches_every_waypoint(graph):
    wps = [[20.0, -1.75], [160.0, -1.75], [181.75, 60.0]]
    route = plan_route(graph, {"waypoints": wps}, np.random.default_rng(0)).route
    for x, y in wps:
        assert np.min(np.hypot(*(route.points - [x, y]).T)) < 1.0
    assert [m.turn for m in route.maneuvers] == [Turn.STRAIGHT, Turn.LEFT]


def test_sd_world_round_trip(graph):
    route = plan_route(graph, {"maneuvers": ["left", "right"], "length_m": 30}, np.random.default_rng(1)).route
    for s in np.linspace(1.0, route.length - 1.0, 40):
        for d in (-1.2, 0.0, 1.5):
            x, y, _ = route.to_world(float(s), d)
            s2, d2 = route.project(x, y, s_hint=float(s))
            assert abs(s2 - s) < 0.3 and abs(d2 - d) < 0.05


def test_stop_lines_and_junction_distances_along_the_route(graph):
    plan = route_from_maneuvers(graph, (15.0, -1.75, 0.0), ["straight"])
    first = plan.route.maneuvers[0]
    stop = plan.next_stop(0.0)
    assert stop is not None and stop.junction_id == first.junction_id
    # stop line: crosswalk (3 m) and a 1 m gap before the junction box
    assert plan.distance_to_junction(0.0) - plan.distance_to_stop_line(0.0) == pytest.approx(4.0, abs=0.1)
    assert plan.distance_to_junction(first.s_end + 1) == math.inf or plan.distance_to_junction(first.s_end + 1) > 0


def test_road_map_queries(graph):
    rm = EmbeddedRoadMap(graph)
    assert isinstance(rm, RoadMap)
    east = rm.locate(30.0, -1.75, 0.0)
    west = rm.locate(30.0, 1.75, math.pi)
    assert east is not None and west is not None
    assert east.lane_id == "H0_0+0" and west.lane_id == "H0_0-0" and abs(east.d) < 0.05
    assert rm.neighbour(east.lane_id, "right") == "H0_0+1" and rm.neighbour(east.lane_id, "left") is None
    assert set(rm.turns_ahead(east.lane_id)) == {Turn.LEFT, Turn.STRAIGHT}
    path = rm.path_ahead(east.lane_id, east.s, 100.0, Turn.LEFT)
    assert path.turn == Turn.LEFT and path.length == pytest.approx(100.0, abs=0.5)
    heading_change = math.atan2(*(path.points[-1] - path.points[-3])[::-1])
    assert heading_change == pytest.approx(math.pi / 2, abs=0.1)  # heading north after the left turn
    stop = path.next_stop_line()
    assert stop is not None and stop.distance == pytest.approx(graph.stop_s[graph.index["H0_0+0"]] - east.s, abs=0.1)
    assert np.all(path.speed_limits == pytest.approx(50 / 3.6))
    # a turn the lane does not offer falls back to straight
    assert rm.path_ahead(east.lane_id, east.s, 100.0, Turn.RIGHT).turn == Turn.STRAIGHT
    assert rm.project("H0_0+1", 30.0, -1.75).d == pytest.approx(3.5, abs=0.05)

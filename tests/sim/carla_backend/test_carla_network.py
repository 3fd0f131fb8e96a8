"""The lane graph, stop lines and routes built from a real `carla.Map` (a small OpenDRIVE T-junction parsed by the
client library, no server), and the RoadMap the controller drives on."""

from __future__ import annotations

import math
from types import SimpleNamespace

import carla
import numpy as np
import pytest
from xodr_town import t_junction_xodr

from sim.carla_backend.network import build_network, crosswalk_polygons, speed_limits_by_road, stop_points_from_trigger
from sim.carla_backend.routing import plan_route
from sim.core import Turn
from sim.embedded.backend import navigation_text
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.routing import RouteError


@pytest.fixture(scope="module")
def tmap() -> carla.Map:
    return carla.Map("TJ", t_junction_xodr())


@pytest.fixture(scope="module")
def wide_map() -> carla.Map:
    return carla.Map("TJ2", t_junction_xodr(lanes=2, split_road_1=True, left_from_inner_only=True))


def light_over_road_1(carla_map: carla.Map, lanes: int, light: str | None = "tl7") -> list:
    """A light at CARLA (80, 3.5) facing +y whose trigger volume spans road 1's eastbound lanes (CARLA y > 0)."""
    transform = carla.Transform(carla.Location(x=80.0, y=3.5, z=0.0), carla.Rotation(yaw=90.0))
    volume = carla.BoundingBox(carla.Location(0.0, 0.0, 1.0), carla.Vector3D(1.75 * lanes - 0.5, 1.0, 1.0))
    return stop_points_from_trigger(transform, volume, lambda loc: carla_map.get_waypoint(loc), light)


def test_lanes_successors_turns_in_our_frame(tmap: carla.Map) -> None:
    net = build_network(tmap)
    assert len(net.lanes) == 12 and set(net.junctions) == {"j100"}
    east = net.lanes["1:0:-1"]  # right-hand traffic: eastbound is the southern lane, y < 0 in our frame
    assert east.centre[0] == pytest.approx((0.0, -1.75)) and east.centre[-1] == pytest.approx((100.0, -1.75))
    assert sorted(east.successors) == ["4:0:-1", "5:0:-1"] and east.width == pytest.approx(3.5)
    assert east.speed_limit == pytest.approx(30 / 3.6) and east.junction_id is None
    turns = {lid: net.lanes[lid].turn for lid in ("4:0:-1", "5:0:-1", "5:0:1", "6:0:-1", "6:0:1")}
    assert turns == {
        "4:0:-1": Turn.STRAIGHT,
        "5:0:-1": Turn.LEFT,
        "5:0:1": Turn.RIGHT,
        "6:0:-1": Turn.RIGHT,
        "6:0:1": Turn.LEFT,
    }
    left = net.lanes["5:0:-1"]
    assert left.junction_id == "j100" and left.centre[-1] == pytest.approx((111.75, 10.0), abs=1e-3)
    assert net.lanes["3:0:-1"].predecessors and "5:0:-1" in net.lanes["3:0:-1"].predecessors
    xmin, _, xmax, ymax = net.bounds()
    assert (xmin, xmax) == pytest.approx((0.0, 220.0)) and ymax == pytest.approx(110.0)


def test_lane_sections_and_same_direction_neighbours(wide_map: carla.Map) -> None:
    net = build_network(wide_map)
    inner, outer = net.lanes["1:1:-1"], net.lanes["1:1:-2"]
    assert inner.right == "1:1:-2" and outer.left == "1:1:-1" and inner.left is None  # never the oncoming lane
    assert net.lanes["1:0:-1"].successors == ["1:1:-1"]
    assert outer.successors == ["4:0:-2"]  # only the inner lane turns left


def test_speed_limit_signs_apply_to_their_road_and_its_connectors(tmap: carla.Map) -> None:
    signs = [SimpleNamespace(road_id=1, value=50.0, unit="km/h"), SimpleNamespace(road_id=2, value=25.0, unit="mph")]
    limits = speed_limits_by_road(signs)
    assert limits == {1: pytest.approx(50 / 3.6), 2: pytest.approx(25 * 0.44704)}
    net = build_network(tmap, road_limits=limits)
    assert net.lanes["1:0:-1"].speed_limit == pytest.approx(50 / 3.6)
    assert net.lanes["5:0:-1"].speed_limit == pytest.approx(50 / 3.6)  # entered from road 1
    assert net.lanes["3:0:-1"].speed_limit == pytest.approx(30 / 3.6)


def test_trigger_volume_gives_stop_lines_at_the_junction_entry(wide_map: carla.Map) -> None:
    stops = light_over_road_1(wide_map, lanes=2)
    keys = sorted(f"{s.waypoint.road_id}:{s.waypoint.section_id}:{s.waypoint.lane_id}" for s in stops)
    assert keys == ["1:1:-1", "1:1:-2"]
    for stop in stops:  # followed forward from x = 80 to the last waypoint before the junction
        assert 99.0 <= stop.waypoint.transform.location.x <= 100.0 and not stop.waypoint.is_junction
    net = build_network(wide_map, stop_points=stops)
    lane = net.lanes["1:1:-1"]
    assert lane.light_id == "tl7" and lane.stop_line_s == pytest.approx(49.5, abs=0.6)
    head = net.lights["tl7"]
    assert sorted(head.lane_ids) == keys and head.junction_id == "j100" and head.position[:2] == (80.0, -3.5)
    assert net.junctions["j100"].signalised and net.junctions["j100"].light_ids == ["tl7"]
    (a, b) = head.stop_line
    assert math.dist(a, b) == pytest.approx(3.5) and a[0] == pytest.approx(
        lane.centre[0][0] + lane.stop_line_s, abs=0.6
    )
    signs = build_network(wide_map, stop_points=light_over_road_1(wide_map, lanes=2, light=None))
    assert signs.lanes["1:1:-1"].stop_sign and signs.lanes["1:1:-1"].light_id is None and not signs.lights


def test_crosswalk_polygons_split_where_they_close() -> None:
    square = [(0, 0), (2, 0), (2, 3), (0, 3)]
    locs = [carla.Location(x=float(x), y=float(y), z=0.0) for x, y in [*square, square[0], *square, square[0]]]
    polys = crosswalk_polygons(locs)
    assert len(polys) == 2 and polys[0].shape == (4, 2) and polys[0][2] == pytest.approx((2.0, -3.0))


def test_road_map_over_the_town(wide_map: carla.Map) -> None:
    net = build_network(wide_map, stop_points=light_over_road_1(wide_map, lanes=2))
    road_map = EmbeddedRoadMap(LaneGraph(net))
    here = road_map.locate(60.0, -1.9, 0.0)
    assert here is not None and here.lane_id == "1:1:-1" and here.s == pytest.approx(10.0, abs=0.2)
    assert here.d == pytest.approx(-0.15, abs=0.05)
    assert road_map.locate(60.0, 1.75, 0.0).lane_id == "1:1:1"  # heading-aware: the westbound lane seen facing east
    assert road_map.locate(50.0, 40.0) is None
    assert road_map.neighbour("1:1:-1", "right") == "1:1:-2" and road_map.neighbour("1:1:-1", "left") is None
    assert road_map.turns_ahead("1:1:-1") == (Turn.LEFT, Turn.STRAIGHT)
    assert road_map.turns_ahead("1:1:-2") == (Turn.STRAIGHT,)
    path = road_map.path_ahead("1:1:-1", 10.0, 80.0, Turn.LEFT)
    assert path.turn == Turn.LEFT and path.points[-1][1] > 20.0  # up road 3, northwards
    stop = path.next_stop_line()
    assert stop is not None and stop.light_id == "tl7" and stop.distance == pytest.approx(39.5, abs=0.6)
    assert road_map.lane_width("1:1:-2") == pytest.approx(3.5) and road_map.speed_limit("3:0:-1") == pytest.approx(
        30 / 3.6
    )


def test_routes_from_maneuvers_walk_across_lane_sections_and_change_lanes(wide_map: carla.Map) -> None:
    graph = LaneGraph(build_network(wide_map))
    plan = plan_route(
        graph, {"start": [10.0, -5.25, 0.0], "maneuvers": ["left"], "length_m": 40}, np.random.default_rng(0)
    )
    lanes = list(dict.fromkeys(plan.route.lane_ids))
    assert lanes == ["1:0:-2", "1:0:-1", "1:1:-1", "5:0:-1", "3:0:-1"]  # routes change lanes as early as they can
    assert [c.side for c in plan.lane_changes] == ["left"]
    (m,) = plan.route.maneuvers
    assert m.turn == Turn.LEFT and m.junction_id == "j100" and 85.0 < m.s_start < 100.0
    assert plan.route.points[-1] == pytest.approx((111.75, 50.0), abs=0.5)
    straight = plan_route(graph, {"start": [10.0, -1.75, 0.0], "maneuvers": ["straight"]}, np.random.default_rng(0))
    assert straight.route.lane_ids[-1] == "2:0:-1" and straight.route.maneuvers[0].turn == Turn.STRAIGHT
    with pytest.raises(RouteError, match="no right turn at junction j100"):
        plan_route(graph, {"start": [10.0, -1.75, 0.0], "maneuvers": ["right"]}, np.random.default_rng(0))
    with pytest.raises(RouteError, match="not on a driving lane"):
        plan_route(graph, {"start": [50.0, 40.0, 0.0], "maneuvers": ["left"]}, np.random.default_rng(0))


def test_routes_through_waypoints_and_from_a_seed(tmap: carla.Map) -> None:
    graph = LaneGraph(build_network(tmap))
    through = plan_route(graph, {"waypoints": [[10.0, -1.75], [111.75, 60.0]]}, np.random.default_rng(0))
    assert through.route.maneuvers[0].turn == Turn.LEFT and through.route.length == pytest.approx(90 + 18.4 + 50, abs=2)
    seeded = [plan_route(graph, {"maneuvers": ["left"], "length_m": 30}, np.random.default_rng(3)) for _ in range(2)]
    assert seeded[0].route.lane_ids == seeded[1].route.lane_ids  # same seed, same start
    assert seeded[0].route.maneuvers[0].turn == Turn.LEFT
    with pytest.raises(RouteError, match="no start"):
        plan_route(graph, {"maneuvers": ["left", "left", "left"]}, np.random.default_rng(0))


def test_navigation_text_on_a_carla_route(tmap: carla.Map) -> None:
    graph = LaneGraph(build_network(tmap))
    plan = plan_route(graph, {"start": [10.0, -1.75, 0.0], "maneuvers": ["left"]}, np.random.default_rng(0))
    assert navigation_text(plan, 0.0) == "Turn left in 90 m"
    assert navigation_text(plan, 95.0) == "Turn left"
    assert navigation_text(plan, 140.0) == "Follow the lane"

"""LEFT_CHANGE on a two-way road with one lane our way: the car moves into the oncoming lane, keeps following its
own lane from there, and RIGHT_CHANGE brings it back; with the option off, or with a second lane our way, the
change is refused or goes to that lane instead."""

from __future__ import annotations

import numpy as np
import pytest
from town_drive import drive, simple_route

from controller.meta_action import MetaActionControllerConfig
from planner.actions import MetaAction
from sim.core import Turn, wrap_angle
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.towns import build_network

KEEP = MetaAction("KEEP", "STRAIGHT")


@pytest.fixture(scope="module")
def two_way() -> tuple[LaneGraph, EmbeddedRoadMap]:
    graph = LaneGraph(build_network({"name": "grid", "rows": 2, "cols": 3, "lanes": 1, "block_m": 200}, seed=1))
    return graph, EmbeddedRoadMap(graph)


def test_oncoming_lane_is_the_lane_across_the_centre_line(two_way) -> None:
    graph, road_map = two_way
    for lane_id in graph.ids:
        other = road_map.oncoming(lane_id)
        if other is None:
            continue
        assert road_map.oncoming(other) == lane_id
        a, b = graph.index[lane_id], graph.index[other]
        # the two centre lines are one lane width apart and run opposite ways
        x, y, yaw = graph.pose1(a, float(graph.length[a]) / 2)
        hit = graph.project(b, x, y)
        assert abs(abs(hit.d) - 3.5) < 0.05
        assert abs(wrap_angle(yaw - graph.pose1(b, hit.s)[2])) > 3.0
    assert sum(road_map.oncoming(lane) is not None for lane in graph.ids if not graph.is_connector[graph.index[lane]])


def test_left_change_passes_through_the_oncoming_lane_and_right_change_returns(two_way) -> None:
    graph, road_map = two_way
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    lane = planned.route.lane_ids[0]
    assert road_map.neighbour(lane, "left") is None and road_map.oncoming(lane) is not None
    actions = [MetaAction("KEEP", "LEFT_CHANGE")] + [KEEP] * 11 + [MetaAction("KEEP", "RIGHT_CHANGE")] + [KEEP] * 10
    run = drive(road_map, planned, actions, seconds=11.5, speed0=8.0)
    offsets = np.array([planned.route.project(e.x, e.y)[1] for e in run.states])
    t = np.arange(len(offsets)) * 0.05
    beside = offsets[(t > 4.0) & (t < 6.0)]
    assert np.all(np.abs(beside - 3.5) < 0.3)  # driving in the oncoming lane, on its centre
    assert abs(offsets[-1]) < 0.3  # back in its own lane
    headings = [
        abs(wrap_angle(e.yaw - planned.route.to_world(planned.route.project(e.x, e.y)[0])[2])) for e in run.states
    ]
    assert max(headings) < 0.4  # always facing our way: the car passes, it does not turn round
    assert run.controller.oncoming_moves == 1 and run.controller.refused_lane_changes == 0
    assert run.controller.lane_id in planned.route.lane_ids  # it kept following its own lane


def test_oncoming_passing_can_be_switched_off(two_way) -> None:
    graph, road_map = two_way
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    config = MetaActionControllerConfig(oncoming_passing=False)
    run = drive(road_map, planned, [MetaAction("KEEP", "LEFT_CHANGE")] + [KEEP] * 8, 4.0, 8.0, config=config)
    assert run.controller.refused_lane_changes == 1 and run.controller.oncoming_moves == 0
    assert max(abs(planned.route.project(e.x, e.y)[1]) for e in run.states) < 0.3

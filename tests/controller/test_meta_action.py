"""The meta-action controller driving the embedded ego model over a generated town's lane graph."""

from __future__ import annotations

import math

import pytest
from town_drive import build_town, simple_route
from town_drive import drive as drive_run

from controller.meta_action import MetaActionControllerConfig
from planner.actions import MetaAction
from sim.core import Turn, wrap_angle
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap


@pytest.fixture(scope="module")
def town() -> tuple[LaneGraph, EmbeddedRoadMap]:
    return build_town()


def drive(road_map, planned, actions, seconds: float, speed0: float = 0.0, start_s: float = 0.0):
    run = drive_run(road_map, planned, actions, seconds, speed0, start_s)
    return run.controller, run.states


@pytest.mark.parametrize(("path", "turn", "sign"), [("LEFT_TURN", Turn.LEFT, 1), ("RIGHT_TURN", Turn.RIGHT, -1)])
def test_turn_actions_take_that_branch_and_stay_in_lane(town, path: str, turn: Turn, sign: int) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, turn)
    _, log = drive(road_map, planned, [MetaAction("ACCELERATE", path)], seconds=40.0)
    assert wrap_angle(log[-1].yaw - log[0].yaw) == pytest.approx(sign * math.pi / 2, abs=0.2)
    lateral = [abs(planned.route.project(e.x, e.y)[1]) for e in log]
    assert max(lateral) < 1.0  # tracked the lane centre through the junction
    assert max(e.speed for e in log) <= float(max(graph.speed_limit)) + 0.5


def test_straight_at_a_junction_goes_straight(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    _, log = drive(road_map, planned, [MetaAction("ACCELERATE", "STRAIGHT")], seconds=40.0)
    assert abs(wrap_angle(log[-1].yaw - log[0].yaw)) < 0.1
    assert planned.route.project(log[-1].x, log[-1].y)[0] > planned.route.maneuvers[0].s_end


def test_accelerate_is_comfortable_and_respects_the_limit(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    _, log = drive(road_map, planned, [MetaAction("ACCELERATE", "STRAIGHT")], seconds=20.0)
    assert max(e.accel for e in log) <= 2.0 * 1.1  # the comfort limit, within 10 % of closed-loop tracking
    assert max(e.speed for e in log) <= road_map.speed_limit(planned.route.lane_ids[0]) + 0.3


def test_keep_holds_the_speed_and_steps_are_relative_to_it(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    ctl, log = drive(road_map, planned, [MetaAction("KEEP", "STRAIGHT")], seconds=8.0, speed0=8.0)
    assert ctl.target_speed == 8.0 and all(abs(e.speed - 8.0) < 0.3 for e in log)  # no sag over many KEEPs
    # One DECELERATE, then KEEP: the car slows for one decision and holds what it reached; nothing it cannot see
    # (an older target) pulls it further down.
    actions = [MetaAction("DECELERATE", "STRAIGHT")] + [MetaAction("KEEP", "STRAIGHT")] * 20
    ctl, log = drive(road_map, planned, actions, seconds=6.0, speed0=8.0)
    assert 6.5 < log[-1].speed < 7.8 and abs(log[-1].speed - log[-40].speed) < 0.3
    # ACCELERATE twice: the target stays one step above the speed, it does not stack two steps.
    twice = [MetaAction("ACCELERATE", "STRAIGHT")] * 2 + [MetaAction("KEEP", "STRAIGHT")] * 20
    ctl, log = drive(road_map, planned, twice, 5.0, 6.0)
    assert max(e.speed for e in log) < 6.0 + 2.0 + 0.3


def test_target_relative_steps_stack_when_asked(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    old = MetaActionControllerConfig(relative_to="target")
    actions = [MetaAction("DECELERATE", "STRAIGHT")] + [MetaAction("KEEP", "STRAIGHT")] * 20
    run = drive_run(road_map, planned, actions, 6.0, 8.0, config=old)
    assert run.controller.target_speed == pytest.approx(6.0) and run.states[-1].speed == pytest.approx(6.0, abs=0.3)
    with pytest.raises(ValueError, match="relative_to"):
        MetaActionControllerConfig(relative_to="nowhere")  # type: ignore[arg-type]


def test_a_stop_ends_without_a_jerk(town) -> None:
    """Braking eases off with the speed at the end of a stop, so the car does not halt with its braking still on."""
    from sim.metrics import COMFORT_BOUNDS, comfort

    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    line_s = planned.stops[0].s
    run = drive_run(road_map, planned, [MetaAction("STOP", "STRAIGHT")], 12.0, speed0=10.0, start_s=line_s - 40.0)
    times = [0.05 * i for i in range(len(run.states))]
    measured = comfort(times, [e.speed for e in run.states], [e.yaw for e in run.states])
    assert run.states[-1].speed < 0.05
    assert measured["max_abs_jerk"] < COMFORT_BOUNDS["jerk"][1] and measured["max_abs_lon_accel"] < 4.05


def test_stop_stops_at_the_stop_line_not_past_it(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    line_s = planned.stops[0].s
    _, log = drive(road_map, planned, [MetaAction("STOP", "STRAIGHT")], 15.0, speed0=8.0, start_s=line_s - 22.0)
    assert log[-1].speed < 0.05
    front = planned.route.project(log[-1].x, log[-1].y)[0] + log[-1].length / 2
    assert line_s - 2.5 < front <= line_s  # at the line, not past it


def test_stop_far_from_any_line_stops_now(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    line_s = planned.stops[0].s
    _, log = drive(road_map, planned, [MetaAction("STOP", "STRAIGHT")], 15.0, speed0=8.0, start_s=line_s - 60.0)
    travelled = planned.route.project(log[-1].x, log[-1].y)[0] - (line_s - 60.0)
    assert log[-1].speed < 0.05 and travelled < 20.0  # about v^2 / 2a with comfort braking, far short of the line


def test_lane_change_moves_one_lane_smoothly_and_refuses_without_a_lane(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    lane = planned.route.lane_ids[0]
    side = "left" if road_map.neighbour(lane, "left") else "right"
    target = road_map.neighbour(lane, side)
    change = MetaAction("KEEP", f"{side.upper()}_CHANGE")
    ctl, log = drive(road_map, planned, [change] + [MetaAction("KEEP", "STRAIGHT")] * 20, seconds=6.0, speed0=8.0)
    end = road_map.locate(log[-1].x, log[-1].y, log[-1].yaw)
    assert end.lane_id == target and abs(end.d) < 0.3
    assert max(abs(e.yaw_rate) for e in log) < 0.3  # smooth
    assert ctl.refused_lane_changes == 0
    # The same change again from the target lane of a two-lane road has nowhere to go: refused, lane kept.
    assert road_map.neighbour(target, side) is None
    ctl, log = drive(road_map, planned, [change], seconds=6.0, speed0=8.0, start_s=0.0)
    assert ctl.refused_lane_changes >= 1
    assert road_map.locate(log[-1].x, log[-1].y, log[-1].yaw).lane_id == target

"""The MPC law (controller/mpc.py) driving the embedded ego model over a generated town: tracking through a junction
turn and a lane change against PID + pure pursuit, its hard bounds, the fallback to the PID law, replays, config."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from town_drive import DT, build_town, drive, simple_route

from controller.longitudinal import LongitudinalConfig
from controller.meta_action import MetaActionControllerConfig
from controller.mpc import MPCConfig
from planner.actions import MetaAction
from planner.config import ConfigError, from_mapping
from sim.core import Turn, wrap_angle

# A budget no test machine misses, so these runs never fall back because the machine was busy (a missed budget is
# a fallback, tested on its own below); the defaults are what the suite and the benchmarks run.
MPC = MetaActionControllerConfig(law="mpc", mpc=MPCConfig(time_budget_ms=1000.0))
PID = MetaActionControllerConfig()


@pytest.fixture(scope="module")
def town():
    return build_town()


def tracking(run) -> dict:
    return run.controller.report()["tracking"]


@pytest.mark.parametrize(("path", "turn", "sign"), [("LEFT_TURN", Turn.LEFT, 1), ("RIGHT_TURN", Turn.RIGHT, -1)])
def test_mpc_tracks_a_junction_turn_closer_than_pure_pursuit(town, path: str, turn: Turn, sign: int) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, turn)
    runs = {law: drive(road_map, planned, [MetaAction("ACCELERATE", path)], 40.0, config=c) for law, c in
            (("mpc", MPC), ("pid", PID))}  # fmt: skip
    mpc = runs["mpc"]
    assert wrap_angle(mpc.states[-1].yaw - mpc.states[0].yaw) == pytest.approx(sign * math.pi / 2, abs=0.2)
    assert max(abs(planned.route.project(e.x, e.y)[1]) for e in mpc.states) < 0.3  # on the route's lane centre
    curve = tracking(mpc)["curve"]
    assert curve["ticks"] > 40 and curve["rms_m"] < 0.12 and curve["max_m"] < 0.25
    assert curve["rms_m"] < 0.7 * tracking(runs["pid"])["curve"]["rms_m"]
    assert mpc.controller.report()["mpc"]["fallback_total"] == 0


def test_mpc_lane_change_follows_the_smooth_path_into_the_next_lane(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    lane = planned.route.lane_ids[0]
    side = "left" if road_map.neighbour(lane, "left") else "right"
    actions = [MetaAction("KEEP", f"{side.upper()}_CHANGE")] + [MetaAction("KEEP", "STRAIGHT")] * 20
    runs = {
        law: drive(road_map, planned, actions, 6.0, speed0=8.0, config=c) for law, c in (("mpc", MPC), ("pid", PID))
    }
    mpc = runs["mpc"]
    end = road_map.locate(mpc.states[-1].x, mpc.states[-1].y, mpc.states[-1].yaw)
    assert end.lane_id == road_map.neighbour(lane, side) and abs(end.d) < 0.2
    change = tracking(mpc)["lane_change"]
    assert change["ticks"] > 40 and change["rms_m"] < 0.06 and change["max_m"] < 0.12
    assert change["rms_m"] < 0.5 * tracking(runs["pid"])["lane_change"]["rms_m"]
    assert max(abs(e.speed - 8.0) for e in mpc.states) < 0.3  # KEEP holds the speed through the change


def test_steering_rate_acceleration_and_jerk_bounds_hold_while_active(town) -> None:
    """Tight bounds, so that they bind: a start from rest (acceleration and jerk) into a turn (steering rate)."""
    graph, road_map = town
    lon = replace(LongitudinalConfig(), max_accel=1.5, max_jerk=1.0)
    config = replace(MPC, longitudinal=lon, mpc=replace(MPC.mpc, max_steer_rate=0.15))
    planned = simple_route(graph, road_map, Turn.LEFT)
    run = drive(road_map, planned, [MetaAction("ACCELERATE", "LEFT_TURN")], 40.0, config=config)
    mpc = run.controller.mpc
    assert mpc is not None and mpc.report()["fallback_total"] == 0
    accel, angles = np.array(run.applied).T
    assert np.abs(angles).max() <= config.max_steer_rad
    rates, jerks = np.abs(np.diff(angles)) / DT, np.abs(np.diff(accel)) / DT
    for values, bound in ((rates, 0.15), (accel, 1.5), (jerks, 1.0)):
        assert values.max() <= bound + 1e-9 and values.max() > 0.9 * bound  # reached, never exceeded
    assert accel.min() >= -lon.comfort_decel  # no emergency here: comfort braking into the turn at most
    assert np.allclose(angles, [-c.steer * config.max_steer_rad for c in run.controls])  # what the car was given


def test_a_solver_that_fails_falls_back_to_exactly_the_pid_command_and_is_counted(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.LEFT)
    actions = [MetaAction("ACCELERATE", "LEFT_TURN")] * 6 + [MetaAction("STOP", "LEFT_TURN")]
    pid = drive(road_map, planned, actions, 12.0, config=PID)
    for forced, reason in ((MPCConfig(max_iter=1), "solver_failed"), (MPCConfig(time_budget_ms=1e-6), "over_budget")):
        failing = drive(road_map, planned, actions, 12.0, config=replace(MPC, mpc=forced))
        report = failing.controller.report()["mpc"]
        assert report["fallbacks"][reason] == report["ticks"] == report["fallback_total"] > 50
        assert failing.controls == pid.controls  # bit for bit the PID + pure pursuit drive


def test_mpc_runs_replay_identically(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.RIGHT)
    actions = [MetaAction("ACCELERATE", "RIGHT_TURN")] * 8 + [MetaAction("STOP", "RIGHT_TURN")]
    first, second = (drive(road_map, planned, actions, 15.0, config=MPC) for _ in range(2))
    assert first.controls == second.controls and first.states[-1] == second.states[-1]


def test_stop_at_a_line_is_smooth_and_short_of_it(town) -> None:
    graph, road_map = town
    planned = simple_route(graph, road_map, Turn.STRAIGHT)
    line_s = planned.stops[0].s
    run = drive(
        road_map, planned, [MetaAction("STOP", "STRAIGHT")], 15.0, speed0=8.0, start_s=line_s - 22.0, config=MPC
    )
    assert run.states[-1].speed < 0.05
    front = planned.route.project(run.states[-1].x, run.states[-1].y)[0] + run.states[-1].length / 2
    assert line_s - 2.5 < front <= line_s
    accel = [e.accel for e in run.states]
    jerk = max(abs(b - a) / DT for a, b in itertools.pairwise(accel))
    assert jerk < 25.0  # the plan tapers the braking to rest; the PID law ends a stop with about 60 m/s^3 here


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"law": "mcp"}, "law must be 'pid' or 'mpc'"),
        ({"lateral": "stanly"}, "lateral must be"),
        ({"mpc": {"horizon": 10}}, "unknown key(s) ['horizon']"),
        ({"mpc": {"weights": {"jerks": 1.0}}}, "unknown key(s) ['jerks']"),
        ({"mpc": {"horizon_steps": 1}}, "horizon_steps must be an integer >= 2"),
        ({"mpc": {"time_budget_ms": 0}}, "time_budget_ms must be a positive number"),
        ({"mpc": {"weights": {"lateral": -1.0}}}, "weights.lateral must be a finite number >= 0"),
    ],
)
def test_controller_config_rejects_typos_and_bad_values(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_mapping(MetaActionControllerConfig, data, "controller")
    assert message in str(err.value) and str(err.value).startswith("controller")

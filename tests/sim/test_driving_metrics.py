from __future__ import annotations

import math

import pytest

from sim.core import Infraction, InfractionType
from sim.metrics import (
    RouteScore,
    comfort,
    infraction_penalty,
    is_success,
    route_complete,
    route_completion,
    summarize,
)
from sim.protocols import get_protocol, parse_protocols, protocols


def event(kind: InfractionType, **details: float) -> Infraction:
    return Infraction(kind, time=1.0, location=(0.0, 0.0), details=details)


LB20, LB21, B2D = (get_protocol(n) for n in ("leaderboard-2.0", "leaderboard-2.1", "bench2drive"))


def test_protocol_tables_load_and_reject_typos() -> None:
    assert set(protocols()) == {"leaderboard-2.0", "leaderboard-2.1", "bench2drive"}
    with pytest.raises(ValueError, match="protocol must be one of"):
        get_protocol("leaderboard-3.0")
    with pytest.raises(ValueError, match="unknown infraction type 'red_lights'"):
        parse_protocols({"mine": {"multiply": {"red_lights": {"value": 0.7}}}})
    with pytest.raises(ValueError, match=r"mine: unknown key\(s\) \['tick_budgets'\]"):
        parse_protocols({"mine": {"tick_budgets": 3}})


# Each case: infractions -> the penalty leaderboard 2.0's statistics manager gives (multiplicative).
LB20_CASES = {
    "clean": ([], 1.0),
    "every constant": (
        [InfractionType.COLLISION_VEHICLE, InfractionType.COLLISION_VEHICLE, InfractionType.RED_LIGHT,
         InfractionType.COLLISION_PEDESTRIAN, InfractionType.COLLISION_STATIC, InfractionType.STOP_SIGN,
         InfractionType.SCENARIO_TIMEOUT],
        0.6 * 0.6 * 0.7 * 0.5 * 0.65 * 0.8 * 0.7,
    ),
    "yield to an emergency vehicle": ([InfractionType.YIELD_EMERGENCY_VEHICLE], 0.7),
    "route timeout costs nothing": ([InfractionType.ROUTE_TIMEOUT], 1.0),
    "ending events cost nothing": (
        [InfractionType.BLOCKED, InfractionType.ROUTE_DEVIATION, InfractionType.OFF_ROAD], 1.0
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(LB20_CASES))
def test_leaderboard_20_constant_penalties(case: str) -> None:
    kinds, expected = LB20_CASES[case]
    assert infraction_penalty([event(k) for k in kinds], LB20) == pytest.approx(expected)


def test_percentage_penalties_follow_each_protocol() -> None:
    outside = event(InfractionType.OUTSIDE_ROUTE_LANES, percentage=11.0)  # 22 m of a 200 m route
    slow = event(InfractionType.MIN_SPEED, percentage=50.0)
    # 2.0: outside lanes x(1 - 0.11); min speed x(1 - 0.3 x 0.5)
    assert infraction_penalty([outside], LB20) == pytest.approx(0.89)
    assert infraction_penalty([slow], LB20) == pytest.approx(0.85)
    assert infraction_penalty([slow, event(InfractionType.MIN_SPEED, percentage=80.0)], LB20) == pytest.approx(0.799)
    # 2.1: outside lanes still multiplies; min speed adds 0.4 x (1 - 0.5) to the sum
    assert infraction_penalty([outside], LB21) == pytest.approx(0.89)
    assert infraction_penalty([slow], LB21) == pytest.approx(1 / 1.2)
    # Bench2Drive: no minimum-speed penalty
    assert infraction_penalty([slow], B2D) == 1.0 and infraction_penalty([outside], B2D) == pytest.approx(0.89)


def test_leaderboard_21_adds_the_penalties() -> None:
    kinds = [InfractionType.COLLISION_VEHICLE, InfractionType.RED_LIGHT]
    assert infraction_penalty([event(k) for k in kinds], LB21) == pytest.approx(1 / (1 + 0.7 + 0.4))
    assert infraction_penalty([event(InfractionType.COLLISION_PEDESTRIAN)], LB21) == pytest.approx(0.5)
    both = [event(InfractionType.COLLISION_PEDESTRIAN), event(InfractionType.OUTSIDE_ROUTE_LANES, percentage=11.0)]
    assert infraction_penalty(both, LB21) == pytest.approx(0.89 / 2)
    table = {
        InfractionType.COLLISION_STATIC: 0.6, InfractionType.STOP_SIGN: 0.25, InfractionType.SCENARIO_TIMEOUT: 0.4,
        InfractionType.YIELD_EMERGENCY_VEHICLE: 0.4,
    }  # fmt: skip
    for kind, value in table.items():
        assert infraction_penalty([event(kind)], LB21) == pytest.approx(1 / (1 + value)), kind


def test_route_completion_counts_passed_route_points() -> None:
    # 123 m route, stopped 1.5 m short: the last point passed is at 121 m -> 98.37 %, not complete.
    assert route_completion(121.5, 123.0) == 98.37
    assert not route_complete(98.37, 1.5, LB20)
    # 1 km route, stopped 5 m short: 99.5 % > 99 % and within 10 m of the end -> complete.
    assert route_completion(995.0, 1000.0) == 99.5 and route_complete(99.5, 5.0, LB20)
    assert not route_complete(99.5, 10.5, LB20) and not route_complete(99.0, 1.0, LB20)
    assert route_completion(500.0, 200.0) == 100.0 and route_completion(-3.0, 200.0) == 0.0
    with pytest.raises(ValueError, match="route length"):
        route_completion(1.0, 0.0)


def test_route_score_and_success() -> None:
    clean = RouteScore.compute(200.0, 200.0, [])
    assert (clean.route_completion, clean.driving_score, clean.success) == (100.0, 100.0, True)
    crash = RouteScore.compute(100.0, 200.0, [event(InfractionType.COLLISION_PEDESTRIAN)])
    assert crash.route_completion == 50.0 and crash.driving_score == pytest.approx(25.0)
    assert crash.collisions == 1 and not crash.success
    # Bench2Drive's success: completed and no infraction at all, minimum-speed events aside.
    assert not is_success(True, [event(InfractionType.OUTSIDE_ROUTE_LANES, percentage=0.5)], B2D)
    assert is_success(True, [event(InfractionType.MIN_SPEED, percentage=80.0)], B2D)
    assert not is_success(False, [], B2D)
    timed_out = RouteScore.compute(62.4, 100.0, [event(InfractionType.ROUTE_TIMEOUT)], LB20)
    assert (timed_out.route_completion, timed_out.driving_score) == (62.0, 62.0)  # not 43.4: no timeout penalty


def test_comfort_flags_harsh_braking_only() -> None:
    t = [i * 0.05 for i in range(200)]
    smooth = comfort(t, [10.0 - 0.05 * i * 1.0 for i in range(200)], [0.0] * 200)  # -1 m/s^2
    harsh = comfort(t, [max(0.0, 10.0 - 0.05 * i * 8.0) for i in range(200)], [0.0] * 200)  # -8 m/s^2
    assert smooth["comfort_ratio"] == 1.0
    # 1.25 s of the 10 s at -8 m/s^2 (plus the jerk at its ends) is uncomfortable.
    assert 0.8 < harsh["comfort_ratio"] < 0.9 and harsh["max_abs_lon_accel"] == pytest.approx(8.0, abs=0.5)
    turning = comfort(t, [10.0] * 200, [0.2 * ti for ti in t])  # 0.2 rad/s at 10 m/s: 2 m/s^2 lateral
    assert turning["comfort_ratio"] == 1.0 and turning["max_abs_lat_accel"] == pytest.approx(2.0)


def test_summary_means_and_failures() -> None:
    results = [
        {
            "scenario": "a",
            "status": "Perfect",
            "protocol": "leaderboard-2.0",
            "driving_score": 100.0,
            "route_completion": 100.0,
            "infraction_penalty": 1.0,
            "success": True,
            "infractions": [],
        },
        {
            "scenario": "b",
            "status": "Failed - Agent got blocked",
            "protocol": "leaderboard-2.0",
            "driving_score": 30.0,
            "route_completion": 50.0,
            "infraction_penalty": 0.6,
            "success": False,
            "infractions": [{"type": "collisions_vehicle", "time": 3.0, "location": [1, 2]}],
        },
    ]
    s = summarize(results)
    assert s["driving_score"] == 65.0 and s["route_completion"] == 75.0 and s["success_rate"] == 0.5
    assert s["collisions"] == 1 and s["failed_routes"] == ["b"] and s["protocol"] == "leaderboard-2.0"
    assert math.isclose(s["infraction_penalty"], 0.8)


def test_every_infraction_type_has_a_readable_label() -> None:
    from sim.core import infraction_label

    assert all(t.label and t.label != t.value and "_" not in t.label for t in InfractionType)
    assert infraction_label("collisions_pedestrian") == "hit a pedestrian"
    assert infraction_label("something_new") == "something_new"

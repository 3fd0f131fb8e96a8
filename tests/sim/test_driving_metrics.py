from __future__ import annotations

import math

import pytest

from sim.core import Infraction, InfractionType
from sim.metrics import (
    RouteScore,
    comfort,
    infraction_penalty,
    is_success,
    route_completion,
    summarize,
)


def event(kind: InfractionType, **details: float) -> Infraction:
    return Infraction(kind, time=1.0, location=(0.0, 0.0), details=details)


def test_official_coefficients_multiply_per_event() -> None:
    events = [
        event(InfractionType.COLLISION_VEHICLE),
        event(InfractionType.COLLISION_VEHICLE),
        event(InfractionType.RED_LIGHT),
        event(InfractionType.COLLISION_PEDESTRIAN),
        event(InfractionType.COLLISION_STATIC),
        event(InfractionType.STOP_SIGN),
        event(InfractionType.SCENARIO_TIMEOUT),
    ]
    assert infraction_penalty(events) == pytest.approx(0.6 * 0.6 * 0.7 * 0.5 * 0.65 * 0.8 * 0.7)
    assert infraction_penalty([]) == 1.0


def test_percentage_penalties_follow_the_leaderboard() -> None:
    # 25 % of the route outside route lanes -> x0.75; driving at 40 % of traffic speed -> x(1 - 0.3 * 0.6).
    assert infraction_penalty([event(InfractionType.OUTSIDE_ROUTE_LANES, percentage=25.0)]) == pytest.approx(0.75)
    assert infraction_penalty([event(InfractionType.MIN_SPEED, percentage=40.0)]) == pytest.approx(0.82)
    assert infraction_penalty([event(InfractionType.MIN_SPEED, percentage=100.0)]) == pytest.approx(1.0)
    # Events without a coefficient cost nothing by themselves.
    assert infraction_penalty([event(InfractionType.OFF_ROAD), event(InfractionType.BLOCKED)]) == 1.0


def test_route_score_and_success() -> None:
    clean = RouteScore.compute(200.0, 200.0, [])
    assert (clean.route_completion, clean.driving_score, clean.success) == (100.0, 100.0, True)
    crash = RouteScore.compute(100.0, 200.0, [event(InfractionType.COLLISION_PEDESTRIAN)])
    assert crash.route_completion == 50.0 and crash.driving_score == pytest.approx(25.0)
    assert crash.collisions == 1 and not crash.success
    assert not is_success(100.0, [event(InfractionType.BLOCKED)])
    assert route_completion(500.0, 200.0) == 100.0
    with pytest.raises(ValueError, match="route length"):
        route_completion(1.0, 0.0)


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
            "status": "Completed",
            "driving_score": 100.0,
            "route_completion": 100.0,
            "infraction_penalty": 1.0,
            "success": True,
            "infractions": [],
        },
        {
            "scenario": "b",
            "status": "Failed - Agent got blocked",
            "driving_score": 30.0,
            "route_completion": 50.0,
            "infraction_penalty": 0.6,
            "success": False,
            "infractions": [{"type": "collisions_vehicle", "time": 3.0, "location": [1, 2]}],
        },
    ]
    s = summarize(results)
    assert s["driving_score"] == 65.0 and s["route_completion"] == 75.0 and s["success_rate"] == 0.5
    assert s["collisions"] == 1 and s["failed_routes"] == ["b"]
    assert math.isclose(s["infraction_penalty"], 0.8)

"""The route-measured criteria against scenario_runner's arithmetic: the share of the route driven outside the route
lanes, and the minimum speed per checkpoint relative to the background traffic."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core import ActorKind, ActorState, EgoState, Infraction, InfractionType, Route, WorldState
from sim.criteria import RouteCriteria, scored_infractions
from sim.metrics import infraction_penalty
from sim.protocols import get_protocol

LB20, B2D = get_protocol("leaderboard-2.0"), get_protocol("bench2drive")
ROUTE = Route(np.array([[0.0, 0.0], [200.0, 0.0]]), ("a", "a"))


def world(s: float, t: float, ego_speed=10.0, traffic: float | None = None, outside=False, traffic_ahead_m=30.0):
    actors = ()
    if traffic is not None:
        car = ActorState(
            7,
            ActorKind.VEHICLE,
            s + traffic_ahead_m,
            3.5,
            0.0,
            traffic,
            4.5,
            1.9,
            1.5,
            None,
            {"role_name": "background"},
        )
        parked = ActorState(8, ActorKind.VEHICLE, 50.0, 7.0, 0.0, 0.0, 4.5, 1.9, 1.5)  # not background: ignored
        actors = (car, parked)
    ego = EgoState(s, 0.0, 0.0, ego_speed)
    return WorldState(t, ego, actors, (), ROUTE, s, "a", 13.9, {"outside_route_lanes": outside})


def drive(criteria: RouteCriteria, speeds, traffic=None, outside=lambda s: False, dt: float = 0.05) -> None:
    """Drive the route with the ego speed a function of s (and the traffic's, when given)."""
    s, t = 0.0, 0.0
    while s < ROUTE.length:
        v = speeds(s)
        s, t = min(ROUTE.length, s + v * dt), t + dt
        criteria.update(world(s, t, v, None if traffic is None else traffic(s), outside(s)))


def test_outside_route_lanes_is_the_share_of_the_route_driven() -> None:
    criteria = RouteCriteria(ROUTE.length, LB20)
    drive(criteria, lambda s: 10.0, outside=lambda s: 100.0 <= s < 122.0)  # 22 m of 200 m outside
    events = criteria.infractions(final=True)
    assert [e.type for e in events] == [InfractionType.OUTSIDE_ROUTE_LANES]
    assert events[0].details["distance_m"] == pytest.approx(22.0, abs=1.0)
    assert events[0].details["percentage"] == pytest.approx(11.0, abs=0.5)
    assert events[0].time == pytest.approx(10.0, abs=0.2)  # the first metre counted
    assert infraction_penalty(events, LB20) == pytest.approx(1 - events[0].details["percentage"] / 100)


def test_minimum_speed_per_checkpoint_against_background_traffic() -> None:
    # 4 checkpoints of 50 m; scenario_runner closes one once the route point past its length is passed (> 50 m),
    # and the speed of the tick that passes it counts for the next one: slow on every tick that ends before 51 m.
    criteria = RouteCriteria(ROUTE.length, LB20)
    drive(criteria, lambda s: 5.0 if s < 50.75 else 10.0, traffic=lambda s: 10.0)
    events = criteria.infractions(final=True)
    assert [e.type for e in events] == [InfractionType.MIN_SPEED]
    assert events[0].details == {"percentage": 50.0, "checkpoint": 1}
    assert infraction_penalty(events, LB20) == pytest.approx(0.85)
    assert infraction_penalty(events, B2D) == 1.0


def test_no_surrounding_background_traffic_means_no_minimum_speed_event() -> None:
    criteria = RouteCriteria(ROUTE.length, LB20)
    drive(criteria, lambda s: 1.0)
    assert criteria.infractions(final=True) == []
    far = RouteCriteria(ROUTE.length, LB20)  # traffic 80 m away is beyond 45 m + 1.7 m per m/s at 5 m/s
    s, t = 0.0, 0.0
    while s < ROUTE.length:
        s, t = s + 0.25, t + 0.05
        far.update(world(s, t, 5.0, 10.0, traffic_ahead_m=80.0))
    assert far.infractions(final=True) == []


def test_bench2drive_reports_every_checkpoint() -> None:
    criteria = RouteCriteria(ROUTE.length, B2D)  # 20 checkpoints of 10 m, each closed at the 11th metre
    drive(criteria, lambda s: 8.0, traffic=lambda s: 10.0)
    during = criteria.infractions(final=False)
    final = criteria.infractions(final=True)
    assert len(final) == len(during) + 1 == 19  # 18 closed on the way (at 11, 22, ... 198 m), one at the end
    assert {e.details["percentage"] for e in final} == {80.0}
    assert [e.details["checkpoint"] for e in final] == list(range(1, 20))


def test_last_checkpoint_only_when_most_of_the_route_was_driven() -> None:
    criteria = RouteCriteria(ROUTE.length, LB20)
    drive(criteria, lambda s: 5.0, traffic=lambda s: 10.0)
    assert len(criteria.infractions(final=True)) == 4
    short = RouteCriteria(ROUTE.length, LB20)
    s, t = 0.0, 0.0
    while s < 185.0:  # 92.5 % of the route: the last part is never scored
        s, t = s + 0.25, t + 0.05
        short.update(world(s, t, 5.0, 10.0))
    assert len(short.infractions(final=True)) == 3


def test_scored_infractions_replace_the_backends_own_excursion_events() -> None:
    criteria = RouteCriteria(ROUTE.length, LB20)
    drive(criteria, lambda s: 10.0, outside=lambda s: s < 20.0)
    raw = [
        Infraction(InfractionType.OUTSIDE_ROUTE_LANES, 0.1, (0.0, 0.0)),
        Infraction(InfractionType.RED_LIGHT, 3.0, (30.0, 0.0)),
    ]
    scored = scored_infractions(raw, criteria, final=True)
    assert [e.type for e in scored] == [InfractionType.RED_LIGHT, InfractionType.OUTSIDE_ROUTE_LANES]
    assert scored[1].details["percentage"] == pytest.approx(10.0, abs=0.5)

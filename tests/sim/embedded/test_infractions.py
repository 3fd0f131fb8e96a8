"""Infractions the ego gets for what it does: red lights, collisions, pedestrians, leaving the road."""

from __future__ import annotations

from world_helpers import backend, follow_route, scenario

from sim.core import ActorKind, InfractionType, VehicleControl


def _drive(b, seconds: float, speed: float, brake_for_pedestrians: bool = False) -> list:
    events = []
    for _ in range(int(seconds / b.dt)):
        b.step(follow_route(b.ground_truth(), speed, brake_for_pedestrians))
        events += b.events()
    return events


def _types(events) -> list[InfractionType]:
    return [e.type for e in events]


def test_driving_straight_through_a_red_light_gives_exactly_one_infraction():
    b = backend(scenario(lights=[{"junction": 0, "state": "red"}]))
    events = _drive(b, 14.0, 10.0)
    reds = [e for e in events if e.type == InfractionType.RED_LIGHT]
    assert len(reds) == 1
    assert reds[0].other is not None and reds[0].other.startswith("light:J1_1")
    assert b.ground_truth().route_s > 110  # it really drove through the junction


def test_stopping_at_the_red_light_and_going_on_green_is_clean():
    b = backend(scenario(lights=[{"junction": 0, "state": "red", "duration_s": 12.0}]))
    events, waited = [], 0.0
    for _ in range(int(60 / b.dt)):
        gt = b.ground_truth()
        waited += b.dt if gt.ego.speed < 0.05 else 0.0
        stop = gt.extras["stop_ahead"]
        must_stop = stop is not None and stop["color"] in ("red", "yellow") and stop["distance_m"] < 30
        ctrl = follow_route(gt, 0.0 if must_stop else 8.0)
        if must_stop and stop["distance_m"] - gt.ego.length / 2 < 6.0:
            ctrl = VehicleControl.clipped(0.0, ctrl.steer, 1.0)
        b.step(ctrl)
        events += b.events()
    assert InfractionType.RED_LIGHT not in _types(events)
    assert waited > 10.0  # it did wait at the light
    assert b.ground_truth().route_s > 110


def test_driving_into_a_parked_car_is_one_static_collision():
    b = backend(scenario(actors=[{"kind": "parked_vehicle", "at": {"s": 25, "d": 0.0}}]))
    events = _drive(b, 8.0, 6.0)
    hits = [e for e in events if e.type == InfractionType.COLLISION_STATIC]
    assert len(hits) == 1 and hits[0].other == "parked_vehicle:1"


def _crossing(trigger_m: float = 25.0):
    return scenario(
        actors=[
            {
                "kind": "pedestrian",
                "at": {"s": 40, "d": 3.5},
                "behavior": {"type": "cross", "speed": 1.4},
                "trigger": {"ego_within_m": trigger_m},
            }
        ]
    )


def test_crossing_pedestrian_is_hit_when_the_ego_does_not_brake():
    events = _drive(backend(_crossing()), 8.0, 8.0)
    hits = [e for e in events if e.type == InfractionType.COLLISION_PEDESTRIAN]
    assert len(hits) == 1 and hits[0].other == "pedestrian:1"


def test_crossing_pedestrian_is_not_hit_when_the_ego_brakes():
    b = backend(_crossing())
    events = _drive(b, 10.0, 8.0, brake_for_pedestrians=True)
    assert InfractionType.COLLISION_PEDESTRIAN not in _types(events)
    ped = next(a for a in b.ground_truth().actors if a.kind == ActorKind.PEDESTRIAN)
    assert ped.y < 88.25 - 3.0  # the pedestrian got across


def test_leaving_the_road_gives_off_road_and_outside_route_lanes_once():
    b = backend(scenario())
    events = []
    for _ in range(int(6 / b.dt)):
        b.step(VehicleControl(throttle=0.5, steer=0.35))  # veer right, off the carriageway
        events += b.events()
    types = _types(events)
    assert types.count(InfractionType.OFF_ROAD) == 1
    assert types.count(InfractionType.OUTSIDE_ROUTE_LANES) == 1


def test_standing_still_too_long_is_blocked():
    sc = scenario(criteria={"timeout_s": 100, "blocked_s": 5.0})
    b = backend(sc)
    events = []
    for _ in range(int(12 / b.dt)):
        b.step(VehicleControl(brake=1.0))
        events += b.events()
    assert _types(events) == [InfractionType.BLOCKED]

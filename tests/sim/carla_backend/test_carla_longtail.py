"""The long-tail scenario fields on the CARLA backend, against the scripted stand-in server (it is not CARLA: these
tests check what the backend asks the server to do): flows, loss of control, doors, vehicles invading the oncoming
lane, emergency vehicles and the yield rule, vehicles held until their trigger, and what CARLA is refused."""

from __future__ import annotations

from typing import Any

import carla
import pytest
from server_stand_in import StandInServer
from test_carla_backend_stand_in import scenario

import sim.carla_backend.backend as carla_backend
from scenarios import ScenarioError
from sim.core import InfractionType, VehicleControl


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> StandInServer:
    stand_in = StandInServer()
    monkeypatch.setattr(carla_backend, "connect", lambda config: stand_in)
    return stand_in


def _backend(sc: Any) -> carla_backend.CarlaBackend:
    backend = carla_backend.CarlaBackend(timeout_s=2.0, camera={"width": 64, "height": 36}, render=False)
    backend.load(sc, seed=3)
    return backend


def _by_type(server: StandInServer, type_id: str) -> list[Any]:
    return [a for a in server.actors.values() if a.type_id == type_id]


def test_flows_enter_at_their_source_and_leave_after_their_length(server: StandInServer) -> None:
    flow = {"source": {"s": 20, "d": 0.0}, "speed": 10.0, "gap_m": [8, 8], "length_m": 15, "offset_m": 0.5}
    backend = _backend(scenario(flows=[flow], route={"start": [10.0, -1.75, 0.0], "maneuvers": [], "length_m": 80}))
    for _ in range(60):
        backend.step(VehicleControl(brake=1.0))
    entered = [a.id for a in server.actors.values() if ("set_autopilot", (True, 8000)) in a.calls]
    assert len(entered) >= 3  # one every (8 m gap + 5 m) at 10 m/s
    assert set(entered[:2]) <= set(server.destroyed)  # gone after 15 m
    offsets = [args for name, args in server.calls if name == "tm.vehicle_lane_offset"]
    assert offsets and all(args[1] == pytest.approx(-0.5) for args in offsets)  # left of the lane: negative in CARLA
    assert all(a.attributes.get("flow") for a in backend.ground_truth().actors)
    backend.close()


def test_control_loss_disturbs_the_ego_only_inside_its_stretch(server: StandInServer) -> None:
    stretch = {"at_s": 0.0, "length_m": 5.0, "steer": 0.3, "steer_noise": 0.0}
    backend = _backend(scenario(disturbances=[stretch], ego={"speed": 0.0}))
    (hero,) = [a for a in server.actors.values() if a.attributes.get("role_name") == "hero"]
    backend.step(VehicleControl(throttle=0.5, steer=0.0))
    assert hero.control.steer == pytest.approx(0.3)
    while backend.ground_truth().route_s < 6.0:
        backend.step(VehicleControl(throttle=0.5, steer=0.0))
    backend.step(VehicleControl(throttle=0.5, steer=0.0))
    assert hero.control.steer == pytest.approx(0.0)
    backend.close()


def test_doors_invaders_held_vehicles_and_emergency_vehicles(server: StandInServer) -> None:
    actors = [
        {"kind": "parked_vehicle", "at": {"s": 40, "d": -3.0}, "behavior": {"type": "open_door"}},
        {"kind": "vehicle", "at": {"s": 50, "d": 3.5, "yaw_deg": 180}, "behavior": {"type": "invade", "offset_m": 1.2}},
        {
            "kind": "vehicle",
            "at": {"s": 30, "d": -3.5},
            "behavior": {"type": "cut_in", "hold_until_trigger": True},
            "trigger": {"ego_within_m": 5},
        },
        {"kind": "vehicle", "at": {"s": 10, "d": 0.0}, "behavior": {"type": "emergency", "distance_m": 25}},
    ]
    backend = _backend(scenario(actors=actors, route={"start": [30.0, -1.75, 0.0], "maneuvers": [], "length_m": 60}))
    parked, invader, held, _ = (t.actor for t in backend.director.tracked[:4])
    assert ("open_door", (carla.VehicleDoor.FL,)) in parked.calls  # the door on the side facing the route
    assert ("tm.vehicle_lane_offset", (invader, -1.2)) in server.calls
    assert ("apply_control", (carla.VehicleControl(hand_brake=True),)) in [(n, a) for n, a in held.calls]
    assert not any(name == "set_autopilot" for name, _ in held.calls)  # it waits for its trigger
    (ambulance,) = _by_type(server, "vehicle.ford.ambulance")
    assert ambulance.transform.location.x == pytest.approx(30.0 + 10.0 - 25.0, abs=0.5)  # behind the ego
    world = backend.ground_truth()
    assert next(a for a in world.actors if a.id == ambulance.id).attributes["emergency"]
    events = []
    for _ in range(int(10.5 / 0.05)):  # the stand-in moves only the ego: the emergency vehicle stays behind it
        backend.step(VehicleControl(brake=1.0))
        events += backend.events()
    yields = [e for e in events if e.type == InfractionType.YIELD_EMERGENCY_VEHICLE]
    assert len(yields) == 1 and ambulance.id in server.destroyed
    speeds = [args[1] for name, args in server.calls if name == "tm.set_desired_speed" and args[0] is ambulance]
    assert speeds and min(speeds) == pytest.approx(8.0 * 3.6)  # at least 8 m/s with the ego standing
    backend.close()


def test_lights_of_other_approaches_are_refused_with_the_field(server: StandInServer) -> None:
    sc = scenario(lights=[{"junction": 0, "approach": "left", "state": "green"}])
    with pytest.raises(ScenarioError, match=r"lights\[0\]\.approach: the CARLA backend forces the route's own light"):
        _backend(sc)


def test_town_lanes_know_the_lane_across_the_centre_line() -> None:
    from xodr_town import t_junction_xodr

    from sim.carla_backend.network import build_network

    net = build_network(carla.Map("TJ2", t_junction_xodr(lanes=2, split_road_1=True, left_from_inner_only=True)))
    assert net.lanes["1:0:-1"].opposite == "1:0:1" and net.lanes["1:0:1"].opposite == "1:0:-1"
    assert net.lanes["1:0:-2"].opposite is None  # the outer lane has a lane its way on its left
    assert all(net.lanes[lane.opposite].opposite == lane.id for lane in net.lanes.values() if lane.opposite)

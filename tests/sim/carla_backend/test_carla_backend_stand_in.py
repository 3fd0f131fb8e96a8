"""`CarlaBackend` end to end against a scripted stand-in for the server (tests/sim/carla_backend/server_stand_in.py).

The stand-in is not CARLA; these tests check the backend's own orchestration (synchronous session, spawning,
sensors, ground truth, infractions, cleanup, a server dying mid-route) and that the unchanged closed-loop runner,
controller and expert drive on the lane graph built from a real `carla.Map`."""

from __future__ import annotations

from typing import Any

import carla
import numpy as np
import pytest
from server_stand_in import StandInServer

import sim.carla_backend.backend as carla_backend
from controller.meta_action import MetaActionControllerConfig
from planner.actions import MetaAction
from planner.expert import ExpertPlanner
from planner.interface import Plan, PlannerInput
from scenarios import scenario_from_dict
from sim.builders import controller_factory
from sim.core import ActorKind, InfractionType, LightColor, VehicleControl
from sim.embedded.bev import BevRenderer
from sim.results import MetricsCollector
from sim.runner import ClosedLoopRunner, PlannerSetup, RunnerConfig
from sim.status import Status

ROUTE = {"start": [10.0, -1.75, 0.0], "maneuvers": ["straight"], "length_m": 60}


def scenario(**overrides: Any) -> Any:
    data = {
        "name": "stand_in_route",
        "description": "Straight on through the T-junction of the stand-in town.",
        "map": {"name": "Town03"},
        "seed": 2,
        "weather": "wet",
        "route": ROUTE,
        "ego": {"speed": 6.0},
        "criteria": {"timeout_s": 40},
        **overrides,
    }
    return scenario_from_dict(data)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> StandInServer:
    stand_in = StandInServer()
    monkeypatch.setattr(carla_backend, "connect", lambda config: stand_in)
    return stand_in


class Always:
    name = "always"

    def __init__(self, action: str) -> None:
        self.action = MetaAction(*(w.strip() for w in action.split(",")))

    def plan(self, planner_input: PlannerInput) -> Plan:
        return Plan(self.action)


def drive(planner: Any, sc: Any, privileged: bool = False) -> tuple[Any, MetricsCollector]:
    collector = MetricsCollector()
    runner = ClosedLoopRunner(
        lambda: carla_backend.CarlaBackend(timeout_s=2.0, camera={"width": 64, "height": 36}),
        PlannerSetup.of(planner),
        controller_factory(MetaActionControllerConfig()),
        RunnerConfig(plan_period=0.5),
        [collector],
        privileged=privileged,
        backend_name="carla",
    )
    return runner.run(sc), collector


def test_load_holds_the_server_in_synchronous_mode_and_close_gives_everything_back(server: StandInServer) -> None:
    stale = server.try_spawn_actor(server.get_blueprint_library().find("vehicle.audi.a2"), carla.Transform())
    stale.attributes["role_name"] = "hero"  # left by a killed earlier run
    backend = carla_backend.CarlaBackend(timeout_s=2.0, camera={"width": 64, "height": 36})
    backend.load(
        scenario(
            actors=[
                {"kind": "truck", "at": {"s": 45, "d": 0.0}, "cargo": "cones", "behavior": {"type": "stopped"}},
                {"kind": "broken_vehicle", "at": {"s": 60, "d": -3.5}},
                {
                    "kind": "pedestrian",
                    "at": {"s": 70, "d": 6.0},
                    "behavior": {"type": "cross"},
                    "trigger": {"ego_within_m": 20},
                },
                {"kind": "pedestrian", "at": {"s": 30, "d": 8.0}},  # wanders with an AI controller
            ]
        ),
        seed=5,
    )
    assert server.settings.synchronous_mode and server.settings.fixed_delta_seconds == pytest.approx(0.05)
    tm_calls = {name: args for name, args in server.calls if name.startswith("tm.")}
    assert tm_calls["tm.set_synchronous_mode"] == (True,) and tm_calls["tm.set_random_device_seed"] == (5,)
    assert tm_calls["tm.set_hybrid_physics_mode"] == (True,)
    assert server.weather.precipitation > 0  # the scenario's "wet"
    assert stale.id in server.destroyed
    hero = [a for a in server.actors.values() if a.attributes.get("role_name") == "hero" and a is not stale]
    assert len(hero) == 1 and hero[0].type_id == "vehicle.lincoln.mkz_2020"
    cameras = [a for a in server.actors.values() if a.type_id == "sensor.camera.rgb"]
    assert cameras[0].attributes["image_size_x"] == "64" and cameras[0].parent is hero[0]

    obs = backend.observe()
    assert obs.image.shape == (36, 64, 3) and tuple(obs.image[0, 0]) == (10, 20, 30)  # BGRA -> RGB
    assert obs.navigation == "Go straight" and obs.ego.speed == pytest.approx(6.0, abs=0.3)
    world = backend.ground_truth()
    assert world.ego_lane_id == "1:0:-1" and world.route_s == pytest.approx(0.0, abs=0.5)
    assert world.ego.x == pytest.approx(10.0, abs=0.5) and world.ego.y == pytest.approx(-1.75, abs=0.05)
    kinds = {a.kind: a for a in world.actors}
    assert kinds[ActorKind.TRUCK].attributes["cargo"] == "cones" and kinds[ActorKind.TRUCK].lane_id == "1:0:-1"
    assert kinds[ActorKind.BROKEN_VEHICLE].attributes["hazard_lights"] and ActorKind.PEDESTRIAN in kinds
    cones = [a for a in server.actors.values() if a.type_id == "static.prop.constructioncone"]
    assert len(cones) == 3 and all(c.parent is not None for c in cones)  # riding on the truck
    (light,) = world.lights
    assert light.id == f"tl{server.light.id}" and light.color == LightColor.GREEN and light.lane_ids
    assert world.extras["stop_ahead"]["light_id"] == light.id

    bev = BevRenderer(backend.network, 96, 40.0).render(world)  # the review video's BEV works on town lanes
    assert bev.shape == (96, 96, 3) and bev.std() > 0
    backend.force_light(light.id, "red", duration_s=1.0)
    backend.step(VehicleControl(throttle=0.3))
    assert backend.ground_truth().lights[0].color == LightColor.RED
    (walker_ai,) = [a for a in server.actors.values() if a.type_id == "controller.ai.walker"]
    assert [name for name, _ in walker_ai.calls][:2] == ["start", "go_to_location"]  # started a tick after spawning
    for _ in range(25):
        backend.step(VehicleControl(brake=1.0))
    assert backend.ground_truth().time == pytest.approx(26 * 0.05)

    spawned = set(server.actors) - {server.light.id}
    backend.close()
    sensors = [a for a in server.actors.values() if a.type_id.startswith("sensor.")]
    assert spawned - {s.id for s in sensors} <= set(server.destroyed)  # every actor, cargo and controllers too
    assert all(s.id in server.destroyed for s in sensors) and all(s.callback is None for s in sensors)
    assert not server.settings.synchronous_mode
    assert ("tm.set_synchronous_mode", (False,)) in server.calls
    backend.close()  # twice is fine


def test_the_expert_drives_the_route_through_a_red_then_green_light(server: StandInServer) -> None:
    sc = scenario(lights=[{"junction": 0, "state": "red", "duration_s": 8}])
    outcome, collector = drive(ExpertPlanner(), sc, privileged=True)
    results = collector.results()
    assert outcome.status == Status.COMPLETED, outcome.error
    assert results["route_completion"] == pytest.approx(100.0) and results["infractions"] == []
    assert outcome.sim_time > 8.0  # it waited for green


def test_running_the_red_light_and_hitting_a_parked_car_are_infractions(server: StandInServer) -> None:
    sc = scenario(
        lights=[{"junction": 0, "state": "red"}],
        actors=[{"kind": "parked_vehicle", "at": {"s": 125, "d": 0.0}}],
        criteria={"timeout_s": 25},
    )
    _, collector = drive(Always("ACCELERATE, STRAIGHT"), sc)
    kinds = [e["type"] for e in collector.results()["infractions"]]
    assert InfractionType.RED_LIGHT.value in kinds and InfractionType.COLLISION_STATIC.value in kinds
    assert kinds.count(InfractionType.COLLISION_STATIC.value) == 1  # one contact, however many sensor reports


def test_a_server_dying_mid_route_fails_that_route_naming_the_server(server: StandInServer) -> None:
    server.die_at_frame = server.frame + 40
    outcome, collector = drive(Always("KEEP, STRAIGHT"), scenario())
    assert outcome.status == Status.SIMULATION_CRASHED
    message = outcome.error["message"]
    assert "CarlaServerLost" in message and "127.0.0.1:2000 stopped answering during a simulation tick" in message
    assert 0 < outcome.ticks < 40
    assert [c for c in server.calls if c[0] == "after death"] == []  # cleanup did not wait on a dead server
    assert collector.results()["status"] == Status.SIMULATION_CRASHED.value


def test_scenario_problems_are_invalid_scenarios(server: StandInServer) -> None:
    outcome, _ = drive(Always("KEEP, STRAIGHT"), scenario(route={"start": [10.0, -1.75, 0.0], "maneuvers": ["right"]}))
    assert outcome.status == Status.INVALID_SCENARIO and "no right turn" in outcome.error["message"]
    far = scenario(actors=[{"kind": "vehicle", "at": {"s": 30, "d": 20.0}}])
    outcome, _ = drive(Always("KEEP, STRAIGHT"), far)
    assert outcome.status == Status.INVALID_SCENARIO and "actors[0]" in outcome.error["message"]
    assert not server.settings.synchronous_mode  # given back after the failed load
    lights = scenario(lights=[{"junction": 3, "state": "red"}])
    outcome, _ = drive(Always("KEEP, STRAIGHT"), lights)
    assert outcome.status == Status.INVALID_SCENARIO and "no junction 3" in outcome.error["message"]
    assert np.isfinite(outcome.wall_time_s)


def test_triggered_behaviours_reach_the_server(server: StandInServer) -> None:
    backend = carla_backend.CarlaBackend(timeout_s=2.0, render=False)
    backend.load(
        scenario(
            actors=[
                {
                    "kind": "pedestrian",
                    "at": {"s": 40, "d": 5.0},
                    "behavior": {"type": "cross", "speed": 2.0},
                    "trigger": {"time_s": 0.1},
                },
                {
                    "kind": "vehicle",
                    "at": {"s": 50, "d": 0.0},
                    "speed": 5.0,
                    "behavior": {"type": "brake", "decel": 4.0},
                    "trigger": {"time_s": 0.2},
                },
                {"kind": "vehicle", "at": {"s": 30, "d": -3.5}, "behavior": {"type": "run_red_light"}},
            ]
        ),
        seed=1,
    )
    walker, braking, runner = (t.actor for t in backend.director.tracked)
    for _ in range(6):
        backend.step(VehicleControl(brake=1.0))
    walks = [args[0] for name, args in walker.calls if name == "apply_control"]
    assert walks and walks[0].speed == pytest.approx(2.0)
    assert (walks[0].direction.x, walks[0].direction.y) == pytest.approx(
        (0.0, 1.0), abs=1e-6
    )  # our -y (towards the route) is CARLA +y
    assert ("set_autopilot", (False, 8000)) in braking.calls
    brakes = [args[0].brake for name, args in braking.calls if name == "apply_control"]
    assert brakes and brakes[-1] == pytest.approx(0.5)  # 4 m/s^2 of the ~8 a full pedal gives
    assert ("set_autopilot", (True, 8000)) in runner.calls
    tm = [(name, args[1:]) for name, args in server.calls if name.startswith("tm.ignore")]
    assert ("tm.ignore_lights_percentage", (100.0,)) in tm and ("tm.ignore_signs_percentage", (100.0,)) in tm
    assert backend.ground_truth().actors[1].attributes.get("braking")
    assert np.array_equal(backend.observe().image, np.zeros((270, 480, 3), dtype=np.uint8))  # render: false
    backend.close()

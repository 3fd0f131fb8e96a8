"""The expert in closed loop on suite scenarios (embedded backend, no rendering): decisions and their facts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from controller.meta_action import MetaActionController
from planner.actions import MetaAction
from planner.expert import ExpertPlanner
from planner.expert_explain import explain
from planner.interface import PlannerContext, PlannerInput
from scenarios import load_scenario
from sim.core import Infraction, WorldState
from sim.embedded.backend import EmbeddedBackend


@dataclass
class Trace:
    decisions: list[tuple[float, str, dict]]
    worlds: list[WorldState]
    infractions: list[Infraction]


def drive(name: str, seconds: float) -> Trace:
    scenario = load_scenario(name)
    backend = EmbeddedBackend(render=False)
    backend.load(scenario, scenario.seed)
    expert = ExpertPlanner()
    world = backend.ground_truth()
    expert.start_route(PlannerContext(scenario.name, world.route, backend.road_map, backend.dt))
    controller = MetaActionController(backend.road_map)
    controller.reset(world.ego.speed)
    trace = Trace([], [], [])
    for tick in range(int(seconds / backend.dt)):
        world = backend.ground_truth()
        if world.route_s >= world.route.length - 2.0:  # the route is done; the runner would end it here
            break
        trace.worlds.append(world)
        if tick % 10 == 0:
            plan = expert.plan(PlannerInput(None, world.ego.speed, "", world.time, world))
            controller.set_action(plan.action, world.ego)
            trace.decisions.append((world.time, str(plan.action), plan.facts))
        backend.step(controller.control(world.ego, backend.dt, world.route))
        trace.infractions += backend.events()
    backend.close()
    return trace


def test_red_light_stop_then_go() -> None:
    trace = drive("red_light_stop", 40.0)
    stops = [f for _, a, f in trace.decisions if a.startswith("STOP")]
    assert stops and all(f["decision"] == "red_light" and f["light"]["state"] == "red" for f in stops)
    assert min(w.ego.speed for w in trace.worlds) < 0.05  # it came to rest
    assert not trace.infractions
    assert trace.worlds[-1].route_s > trace.worlds[0].route.maneuvers[0].s_end  # and crossed on green
    assert any(a.startswith("ACCELERATE") for t, a, _ in trace.decisions if t > 20.0)


def test_green_light_no_needless_stop() -> None:
    trace = drive("green_light_go", 10.0)  # through the first junction, before the next light
    assert not any(a.startswith(("STOP", "DECELERATE")) for _, a, _ in trace.decisions)
    assert min(w.ego.speed for w in trace.worlds[40:]) > 8.0


def test_jaywalker_stop_before_the_pedestrian() -> None:
    trace = drive("jaywalker", 16.0)
    causes = {f["decision"] for _, a, f in trace.decisions if a.startswith(("STOP", "DECELERATE"))}
    assert "pedestrian" in causes
    gaps = [
        math.hypot(a.x - w.ego.x, a.y - w.ego.y) for w in trace.worlds for a in w.actors if a.kind.value == "pedestrian"
    ]
    assert min(gaps) > 2.5 and not trace.infractions


def test_truck_with_cones_is_followed_not_stopped_for() -> None:
    trace = drive("truck_with_cones", 25.0)
    assert not any(a.startswith("STOP") for _, a, _ in trace.decisions)
    leads = [f["lead"] for _, _, f in trace.decisions if "lead" in f]
    assert leads and all(lead.get("cargo") == "cones" for lead in leads if lead["kind"] == "truck")
    assert min(w.ego.speed for w in trace.worlds[100:]) > 4.0


def test_blocked_lane_changes_lanes() -> None:
    trace = drive("broken_down_vehicle", 20.0)
    changes = [f["lane_change"] for _, a, f in trace.decisions if "CHANGE" in a]
    assert changes and changes[0]["reason"] == "blocked_lane"
    assert not trace.infractions


def test_expert_requires_ground_truth() -> None:
    with pytest.raises(ValueError, match="privileged ground truth"):
        ExpertPlanner().plan(PlannerInput(None, 0.0, "", 0.0, None))  # type: ignore[arg-type]


def test_the_explanation_ends_in_a_drivers_words() -> None:
    text = explain(
        MetaAction("STOP", "STRAIGHT"), {"decision": "red_light", "light": {"state": "red", "distance": 18.0}}
    )
    assert text == "the light ahead is red 18 m away, so we stop and go straight."

"""The closed-loop metrics can fail: a planner that always answers `ACCELERATE, STRAIGHT` runs the red light and
hits what is in its lane, and scores low, where the expert drives the same scenarios cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from closed_loop_helpers import make_runner, write_scenario

from planner.constant import ConstantPlanner, ConstantPlannerConfig
from planner.expert import ExpertPlanner
from scenarios import list_suite, load_scenario
from sim.status import Status

RED_LIGHT = {
    "name": "held_red",
    "description": "The light ahead is red for 12 s: stop at the line, go on green.",
    "lights": [{"junction": 0, "state": "red", "duration_s": 12}],
}
STOPPED_CAR = {
    "name": "stopped_car",
    "description": "A car stands still in the only lane; the junction ahead is green. Stop behind it.",
    "actors": [{"kind": "vehicle", "at": {"s": 35, "d": 0.0}, "behavior": {"type": "stopped"}}],
    "criteria": {"timeout_s": 20},
}
RED_THEN_CAR = {
    **RED_LIGHT,
    "name": "red_then_car",
    "description": "A red light, and past the junction a car standing in the lane: stop for both.",
    "actors": [{"kind": "vehicle", "at": {"s": 75, "d": 0.0}, "behavior": {"type": "stopped"}}],
}
CASES = {"red": RED_LIGHT, "car": STOPPED_CAR, "both": RED_THEN_CAR}


@pytest.fixture()
def scenarios(tmp_path: Path):
    return {k: load_scenario(write_scenario(tmp_path, **v)) for k, v in CASES.items()}


def test_always_accelerating_runs_the_red_light_and_crashes(scenarios) -> None:
    always = ConstantPlanner(ConstantPlannerConfig(speed="ACCELERATE", path="STRAIGHT"))
    results = {}
    for key, scenario in scenarios.items():
        runner, collector = make_runner(always)
        runner.run(scenario)
        results[key] = collector.results()
        assert not results[key]["success"]
    red, car, both = results["red"], results["car"], results["both"]
    assert red["infraction_counts"].get("red_light", 0) >= 1 and red["collisions"] == 0
    assert red["driving_score"] == pytest.approx(red["route_completion"] * 0.7 ** red["infraction_counts"]["red_light"])
    assert car["infraction_counts"].get("collisions_vehicle", 0) >= 1 and car["driving_score"] <= 60.0
    assert both["infraction_counts"].get("red_light", 0) >= 1 and both["collisions"] >= 1
    assert both["infraction_penalty"] <= 0.7 * 0.6 + 1e-9 and both["driving_score"] <= 42.0
    assert sum(r["driving_score"] for r in results.values()) / 3 < 60.0


def test_expert_drives_the_red_light_cleanly(scenarios) -> None:
    runner, collector = make_runner(ExpertPlanner(), privileged=True)
    outcome = runner.run(scenarios["red"])
    results = collector.results()
    assert outcome.status is Status.COMPLETED, results["infractions"]
    assert results["infractions"] == [] and results["driving_score"] == 100.0
    stops = [m for m in results["meta_actions"] if m["action"].startswith("STOP")]
    assert stops and "red" in stops[0]["reasoning"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["red_light_stop", "truck_with_cones", "stop_and_go_queue", "construction_lane_closure"]
)
def test_always_accelerating_fails_suite_scenarios_the_expert_passes(name: str) -> None:
    if name not in list_suite():
        pytest.skip(f"{name} is not in the suite yet")
    scenario = load_scenario(name)
    runner, expert = make_runner(ExpertPlanner(), privileged=True)
    runner.run(scenario)
    runner, always = make_runner(ConstantPlanner(ConstantPlannerConfig(speed="ACCELERATE", path="STRAIGHT")))
    runner.run(scenario)
    assert always.results()["driving_score"] < expert.results()["driving_score"]
    assert always.results()["infractions"], "accelerating through this scenario must cost something"

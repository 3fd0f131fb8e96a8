from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from scenarios import ScenarioError, check_placements, load_scenario, scenario_from_dict
from sim.core import Route, RouteManeuver, Turn

VALID = """\
name: truck_with_cones
description: A lead truck carries cones; the road is open.
tags: [long_tail, false_alarm]
map: {name: grid, rows: 3, cols: 3, lanes: 2, block_m: 90}
seed: 7
weather: clear_noon
route:
  waypoints: [[0.0, -1.75], [180.0, -1.75], [180.0, 120.0]]
actors:
  - kind: truck
    at: {s: 35, d: 0.0}
    speed: 7.0
    cargo: cones
    behavior: {type: follow_lane}
  - kind: pedestrian
    at: {s: 80, d: 6.0}
    behavior: {type: cross, speed: 1.4}
    trigger: {ego_within_m: 25}
traffic: {vehicles: 15, pedestrians: 10, light_cycle_s: [15, 3, 15]}
criteria: {timeout_s: 120}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_design_example_loads(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID))
    assert s.name == "truck_with_cones" and s.map.name == "grid" and s.map.block_m == 90
    assert s.actors[0].cargo == "cones" and s.actors[1].trigger.ego_within_m == 25
    assert s.actors[1].behavior_type == "cross"
    assert s.traffic.light_cycle_s == (15, 3, 15)


def test_route_forms_and_carla_towns() -> None:
    base = {"name": "x", "description": "d", "map": {"name": "Town03"}}
    assert scenario_from_dict({**base, "route": {"maneuvers": ["left", "straight"]}}).map.name == "Town03"
    start = scenario_from_dict({**base, "route": {"start": [0, 0, 90], "maneuvers": ["right"], "length_m": 50}})
    assert start.route.start == (0, 0, 90)
    with pytest.raises(ScenarioError, match=r"route: .*not both"):
        scenario_from_dict({**base, "route": {"waypoints": [[0, 0], [1, 0]], "maneuvers": ["left"]}})
    with pytest.raises(ScenarioError, match=r"route: .*needs waypoints or maneuvers"):
        scenario_from_dict({**base, "route": {}})
    with pytest.raises(ScenarioError, match=r"map\.name"):
        scenario_from_dict({**base, "map": {"name": "Springfield"}, "route": {"maneuvers": []}})


@pytest.mark.parametrize(
    ("edit", "field", "expected"),
    [
        (("kind: pedestrian", "kind: spaceship"), r"actors\[1\]\.kind", "'vehicle', 'truck'"),
        (("route:\n  waypoints: [[0.0, -1.75], [180.0, -1.75], [180.0, 120.0]]\n", ""), "route", "Field required"),
        (("weather: clear_noon", "weather: hail"), "weather", "clear_noon"),
        (("lanes: 2", "lanes: 5"), r"map\.lanes", "less than or equal to 3"),
        (("at: {s: 35, d: 0.0}", "at: {s: -3}"), r"actors\[0\]\.at", "s must be >= 0"),
        (("speed: 7.0", "speed: 7.0\n    color: red"), r"actors\[0\]\.color", "Extra inputs"),
    ],
)
def test_invalid_files_name_file_field_and_expectation(tmp_path: Path, edit, field: str, expected: str) -> None:
    path = write(tmp_path, VALID.replace(*edit))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(field, message), message
    assert expected in message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("tags: [long_tail, false_alarm]", "tags: [long_tail, false_alarm"))
    with pytest.raises(ScenarioError, match=r"s\.yaml: line \d+, column \d+: invalid YAML"):
        load_scenario(path)


def test_non_mapping_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match="no such scenario"):
        load_scenario("definitely_not_a_scenario")


def test_cargo_and_behaviour_consistency(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="only a truck can carry cargo"):
        load_scenario(write(tmp_path, VALID.replace("kind: truck", "kind: bus")))
    cone = VALID.replace("kind: truck", "kind: cone").replace("    cargo: cones\n", "")
    with pytest.raises(ScenarioError, match="cannot have behavior 'follow_lane'"):
        load_scenario(write(tmp_path, cone))


def test_actor_beyond_the_route_fails_before_simulation(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario = load_scenario(path)
    check_placements(scenario, 120.0, source=str(path))
    with pytest.raises(ScenarioError, match=r"actors\[1\]\.at\.s: must be within the route length 60\.0 m"):
        check_placements(scenario, 60.0, source=str(path))


def test_placement_relative_to_a_junction() -> None:
    route = Route(
        points=np.array([[0.0, 0.0], [50.0, 0.0], [60.0, 10.0], [60.0, 80.0]]),
        lane_ids=("a", "a", "j", "b"),
        maneuvers=(RouteManeuver(50.0, 64.1, Turn.LEFT, "J"),),
    )
    base = {"name": "x", "description": "d", "map": {"name": "grid"}, "route": {"maneuvers": ["left"]}}
    ok = scenario_from_dict({**base, "actors": [{"kind": "cone", "at": {"s": -10, "d": 1, "junction": 0}}]})
    assert ok.actors[0].at.frame_pose(route) == pytest.approx((40.0, 1.0, 0.0))
    # Oncoming traffic beyond a junction where the route turns: the frame goes straight on.
    oncoming = scenario_from_dict({**base, "actors": [{"kind": "vehicle", "at": {"s": 30, "d": 5, "junction": 0}}]})
    assert oncoming.actors[0].at.frame_pose(route) == pytest.approx((80.0, 5.0, 0.0))
    check_placements(ok, route, "x.yaml")
    bad = scenario_from_dict({**base, "actors": [{"kind": "cone", "at": {"s": 5, "junction": 1}}]})
    with pytest.raises(ScenarioError, match=r"x\.yaml: actors\[0\]\.at\.junction: junction 1 does not exist"):
        check_placements(bad, route, "x.yaml")

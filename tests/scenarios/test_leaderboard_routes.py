"""The leaderboard route-file converter on a route file written for these tests: scenarios for CARLA towns, a
report of every entry it could not place, and the same routes written back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scenarios import load_scenario
from scenarios.leaderboard_routes import main, to_xml, weather_preset

SAMPLE = Path(__file__).parent / "routes_sample.xml"


@pytest.fixture()
def converted(tmp_path: Path) -> Path:
    assert main([str(SAMPLE), str(tmp_path / "out")]) == 0
    return tmp_path / "out"


def test_each_route_becomes_a_valid_scenario_on_its_town(converted: Path) -> None:
    a = load_scenario(converted / "routes_sample_route_7.yaml")
    assert a.map.name == "Town03" and a.weather == "wet"
    assert a.route.waypoints[0] == (10.0, 130.0) and a.route.waypoints[-1] == (160.0, 80.0)  # y flipped
    assert [x.kind for x in a.actors] == ["cone", "broken_vehicle", "broken_vehicle"]
    assert a.actors[0].at.s == pytest.approx(20.0 + 60.0)  # trigger 20 m along the route, then `distance`
    assert a.criteria.oncoming_lane_ok and len(a.disturbances) == 3
    flows = [(f.source.x, f.source.y, f.speed, f.gap_m) for f in a.flows]
    assert (170.0, 40.0, 10.0, (20.0, 40.0)) in flows
    assert {"AccidentTwoWays", "ControlLoss", "EnterActorFlow", "BlockedIntersection"} <= set(a.tags)
    b = load_scenario(converted / "routes_sample_route_8.yaml")
    assert b.weather == "night" and b.actors[0].behavior.type == "emergency" and b.actors[0].behavior.distance_m == 30


def test_what_cannot_be_placed_is_reported_per_route(converted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = json.loads((converted / "conversion_report.json").read_text())
    status = {r: {e["name"]: e["status"] for e in entries} for r, entries in report["routes"].items()}
    assert status["routes_sample_route_7"] == {
        "Accident_1": "approximate",
        "ControlLoss_1": "converted",
        "EnterActorFlow_1": "approximate",
        "BlockedIntersection_1": "not_converted",
    }
    assert status["routes_sample_route_8"]["Mystery_1"] == "not_converted"
    notes = {e["name"]: e["note"] for e in report["routes"]["routes_sample_route_8"]}
    assert "SomethingNew" in notes["Mystery_1"]


def test_the_route_file_round_trips(converted: Path, tmp_path: Path) -> None:
    back = tmp_path / "back.xml"
    assert main([str(converted), str(back), "--to-xml"]) == 0

    def routes(path: Path) -> list[tuple]:
        out = []
        for route in ET.parse(path).getroot().iter("route"):
            points = [tuple(round(float(p.get(k)), 2) for k in "xyz") for p in route.iter("position")]
            entries = [
                (s.get("name"), s.get("type"), tuple(sorted((c.tag, tuple(sorted(c.attrib.items()))) for c in s)))
                for s in route.iter("scenario")
            ]
            weathers = [tuple(sorted(w.attrib.items())) for w in route.iter("weather")]
            out.append((route.get("id"), route.get("town"), points, entries, weathers))
        return out

    assert routes(back) == routes(SAMPLE)
    assert to_xml([load_scenario(p) for p in sorted(converted.glob("*.yaml"))]) == back.read_text()


def test_bad_route_files_fail_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        "<routes><route id='1' town='Town01'><waypoints><position x='0' y='0' z='0'/></waypoints></route></routes>"
    )
    assert main([str(bad), str(tmp_path / "o")]) == 2
    assert "needs at least two waypoint positions" in capsys.readouterr().err
    bad.write_text("not xml")
    assert main([str(bad), str(tmp_path / "o")]) == 2
    assert "not a readable route file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no origin"):
        to_xml([load_scenario("accident")])


def test_weather_presets_follow_the_sun_fog_and_rain() -> None:
    assert weather_preset({"sun_altitude_angle": "-10"}) == "night"
    assert weather_preset({"sun_altitude_angle": "45", "fog_density": "60"}) == "fog"
    assert weather_preset({"sun_altitude_angle": "10"}) == "sunset"
    assert weather_preset({"sun_altitude_angle": "60", "cloudiness": "90"}) == "cloudy"
    assert weather_preset({"sun_altitude_angle": "60"}) == "clear_noon"

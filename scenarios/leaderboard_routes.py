"""Leaderboard 2.0 / Bench2Drive route files to scenario YAML for CARLA towns, and back.

    python -m scenarios.leaderboard_routes routes.xml OUT_DIR      # one YAML per route + conversion_report.json
    python -m scenarios.leaderboard_routes --to-xml OUT_DIR routes_again.xml

A route becomes a scenario on its town: the waypoints become the route (our frame: y and yaw flipped), the first
weather a preset, and each scenario entry the actors, flows or disturbances that play it, placed along the route from
its trigger point (distances measured along the waypoint polyline, which follows the road where the waypoints are
dense, as Bench2Drive's are) or at the file's own map positions (flow sources, the cut-in car's location). What a
type needs but the file does not say (the lanes of a junction that scenario_runner looks up in the map) cannot be
placed offline: such entries are reported per route as `not_converted`, with the reason, and the route still runs
without them. Entries that are placed in a simplified way are reported as `approximate`. The file's own entries are
kept in the scenario's `origin`, so `--to-xml` writes the same routes back.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scenarios.loader import ScenarioError, load_scenario, scenario_from_dict
from scenarios.schema import Scenario

LANE_M = 3.5  # lateral offset to a neighbouring lane where the file gives only a side
BACKGROUND = {"vehicles": 30, "pedestrians": 20}  # stands in for the leaderboard's background activity
Entry = dict[str, Any]  # name, type, trigger (x, y, z, yaw; CARLA frame), elements {tag: {attr: text}}


def _num(entry: Entry, tag: str, default: float, attr: str = "value") -> float:
    value = entry["elements"].get(tag, {}).get(attr)
    return float(value) if value is not None else default


def _side(entry: Entry, default: str = "right") -> float:
    return 1.0 if entry["elements"].get("direction", {}).get("value", default) == "left" else -1.0


class _Route:
    """The waypoint polyline in our frame, to measure where along it a trigger point lies."""

    def __init__(self, points: np.ndarray) -> None:
        self.points = points
        seg = np.hypot(*np.diff(points, axis=0).T)
        self.s = np.concatenate([[0.0], np.cumsum(seg)])

    def s_of(self, x: float, y: float) -> float:
        best, best_d = 0.0, math.inf
        for k in range(len(self.points) - 1):
            a, b = self.points[k], self.points[k + 1]
            ab = b - a
            t = float(np.clip(np.dot([x, y] - a, ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0))
            d = float(np.hypot(*(a + t * ab - [x, y])))
            if d < best_d:
                best, best_d = float(self.s[k] + t * (self.s[k + 1] - self.s[k])), d
        return best

    def back(self, s: float) -> tuple[float, float]:
        """A point `s` metres behind the first waypoint, straight back along the first segment."""
        a, b = self.points[0], self.points[1]
        u = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
        p = a - s * u
        return round(float(p[0]), 2), round(float(p[1]), 2)


def _at(s: float, d: float = 0.0, yaw: float = 0.0) -> dict[str, float]:
    return {"s": round(max(0.0, s), 1), "d": round(d, 2), **({"yaw_deg": yaw} if yaw else {})}


def _xy(elem: dict[str, str]) -> dict[str, float]:
    return {"x": round(float(elem["x"]), 2), "y": round(-float(elem["y"]), 2)}


# ---- one builder per scenario type: (entry, trigger s) -> (scenario fields to add, status, note) ----------------
Built = tuple[dict[str, list[Any]], str, str]


def _obstacle(kinds: Sequence[str], spread: float) -> Callable[[Entry, float], Built]:
    def build(entry: Entry, s: float) -> Built:
        at = s + _num(entry, "distance", 100.0 if "TwoWays" not in entry["type"] else 70.0)
        actors = [{"kind": k, "at": _at(at + i * spread)} for i, k in enumerate(kinds)]
        out: dict[str, list[Any]] = {"actors": actors}
        note = "obstacle placed in the route lane"
        if entry["type"].endswith("TwoWays"):
            gaps = [_num(entry, "frequency", 40.0, "from"), _num(entry, "frequency", 100.0, "to")]
            source = {"s": round(at + 80.0, 1), "d": LANE_M, "yaw_deg": 180.0}
            out["flows"] = [{"source": source, "speed": 8.0, "gap_m": sorted(gaps), "length_m": 200.0}]
            note += "; oncoming traffic as a flow one lane to the left"
        return out, "approximate", note

    return build


def _parked(entry: Entry, s: float) -> Built:
    at = s + _num(entry, "distance", 60.0)
    side = _side(entry)
    if entry["type"] == "VehicleOpensDoorTwoWays":
        actor = {"kind": "parked_vehicle", "at": _at(at, side * 2.75), "behavior": {"type": "open_door"}}
        actor["trigger"] = {"ego_within_m": 40.0}
        return {"actors": [actor]}, "approximate", "parked car at the lane edge, its door opens 40 m before us"
    return {"actors": [{"kind": "parked_vehicle", "at": _at(at, side * 0.9)}]}, "approximate", "half in the lane"


def _hazard(entry: Entry, s: float) -> Built:
    at = s + _num(entry, "distance", 100.0)
    speed = _num(entry, "bicycle_speed", 10.0) / 3.6
    bikes = [
        {"kind": "bicycle", "at": _at(at + 6 * i), "speed": round(speed, 2), "behavior": {"type": "follow_lane"}}
        for i in range(2)
    ]
    return {"actors": bikes}, "approximate", "two cyclists in the route lane"


def _crossing(kind: str, blocker: str | None) -> Callable[[Entry, float], Built]:
    def build(entry: Entry, s: float) -> Built:
        at = s + _num(entry, "distance", 12.0)
        side = _side(entry)
        walker = {"kind": kind, "at": _at(at + 3.0, side * 3.4), "behavior": {"type": "cross", "distance_m": 8.0}}
        walker["trigger"] = {"ego_within_m": 25.0}
        actors = [walker] if blocker is None else [{"kind": blocker, "at": _at(at, side * 3.0)}, walker]
        return {"actors": actors}, "approximate", f"{kind} crossing from the {'left' if side > 0 else 'right'}"

    return build


def _brake(entry: Entry, s: float) -> Built:
    lead = {"kind": "vehicle", "at": _at(s + 25.0), "speed": 8.0, "behavior": {"type": "brake", "resume_s": 4.0}}
    lead["trigger"] = {"ego_within_m": 35.0}
    return {"actors": [lead]}, "approximate", "one lead vehicle brakes hard"


def _control_loss(entry: Entry, s: float) -> Built:
    stretches = [
        {"at_s": round(s + d, 1), "length_m": 12.0, "steer": f} for d, f in ((14, -0.08), (48, 0.1), (74, -0.06))
    ]
    return {"disturbances": stretches}, "converted", "three loss-of-control stretches (scenario_runner's defaults)"


def _cut_in(entry: Entry, s: float) -> Built:
    side = _side(entry)
    if entry["type"] == "ParkingCutIn":
        car = {
            "kind": "vehicle",
            "at": _at(s + 20.0, side * 3.0),
            "behavior": {"type": "cut_in", "hold_until_trigger": True},
        }
        car["trigger"] = {"ego_within_m": 25.0}
        return {"actors": [car]}, "approximate", "a parked car beside the route pulls out"
    at = s + _num(entry, "distance", 100.0)
    queue = [
        {"kind": "vehicle", "at": _at(at + 8 * i, side * LANE_M), "behavior": {"type": "stopped"}} for i in (-1, 1)
    ]
    car = {"kind": "vehicle", "at": _at(at, side * LANE_M), "behavior": {"type": "cut_in", "hold_until_trigger": True}}
    car["trigger"] = {"ego_within_m": 25.0}
    return {"actors": [*queue, car]}, "approximate", "a queue in the neighbouring lane, one car cuts in"


def _highway_cut_in(entry: Entry, s: float) -> Built:
    where = entry["elements"].get("other_actor_location")
    if where is None:
        return {}, "not_converted", "no other_actor_location"
    car = {"kind": "vehicle", "at": _xy(where), "speed": 10.0, "behavior": {"type": "cut_in"}}
    car["trigger"] = {"ego_within_m": 30.0}
    return {"actors": [car]}, "approximate", "the car starts at other_actor_location"


def _emergency(entry: Entry, s: float) -> Built:
    ev = {
        "kind": "vehicle",
        "at": _at(s),
        "behavior": {"type": "emergency", "distance_m": _num(entry, "distance", 140)},
    }
    return {"actors": [ev]}, "converted", "emergency vehicle behind the trigger point"


def _invading(entry: Entry, s: float) -> Built:
    offset = _num(entry, "offset", 0.25) + LANE_M / 2 - 0.7  # scenario_runner's offset is measured from its lane edge
    source = {"s": round(s + _num(entry, "distance", 100.0), 1), "d": LANE_M, "yaw_deg": 180.0}
    flow = {"source": source, "speed": 8.0, "gap_m": [25.0, 50.0], "length_m": 200.0, "offset_m": round(offset, 2)}
    return {"flows": [flow]}, "approximate", "oncoming flow that cuts into our lane"


def _flow(entry: Entry, s: float) -> Built:
    start, end = entry["elements"].get("start_actor_flow"), entry["elements"].get("end_actor_flow")
    if start is None or end is None:
        return {}, "not_converted", "the flow's lanes come from the junction's map layout (not in the file)"
    a, b = _xy(start), _xy(end)
    gaps = sorted([_num(entry, "source_dist_interval", 20.0, "from"), _num(entry, "source_dist_interval", 50.0, "to")])
    kinds = ["bicycle"] if entry["type"] == "CrossingBicycleFlow" else ["vehicle"]
    flow = {
        "source": a,
        "kinds": kinds,
        "speed": _num(entry, "flow_speed", 10.0),
        "gap_m": [max(4.0, gaps[0]), max(4.0, gaps[1])],
        "length_m": round(max(20.0, math.hypot(b["x"] - a["x"], b["y"] - a["y"]) * 1.2), 1),
    }
    return {"flows": [flow]}, "approximate", "flow from start_actor_flow, as long as the way to end_actor_flow"


def _parking_exit(entry: Entry, s: float, route: _Route) -> Built:
    front = {"kind": "parked_vehicle", "at": _at(s + _num(entry, "front_vehicle_distance", 20.0))}
    x, y = route.back(_num(entry, "behind_vehicle_distance", 10.0) - s)
    return (
        {"actors": [front, {"kind": "parked_vehicle", "at": {"x": x, "y": y}}]},
        "converted",
        "cars before and behind",
    )


NEEDS_JUNCTION = "the actors' lanes at the junction come from the map (not in the file)"
ROUTE_ONLY = "nothing to place: the route and the background traffic are the scenario"
BUILDERS: dict[str, Callable[..., Built]] = {
    "Accident": _obstacle(["cone", "broken_vehicle", "broken_vehicle"], 7.0),
    "AccidentTwoWays": _obstacle(["cone", "broken_vehicle", "broken_vehicle"], 7.0),
    "ConstructionObstacle": _obstacle(["barrier", "cone", "cone", "cone", "barrier"], 5.0),
    "ConstructionObstacleTwoWays": _obstacle(["barrier", "cone", "cone", "cone", "barrier"], 5.0),
    "ParkedObstacle": _parked,
    "ParkedObstacleTwoWays": _parked,
    "VehicleOpensDoorTwoWays": _parked,
    "HazardAtSideLane": _hazard,
    "HazardAtSideLaneTwoWays": _hazard,
    "DynamicObjectCrossing": _crossing("pedestrian", "truck"),
    "ParkingCrossingPedestrian": _crossing("pedestrian", "parked_vehicle"),
    "HardBreakRoute": _brake,
    "ControlLoss": _control_loss,
    "ParkingCutIn": _cut_in,
    "StaticCutIn": _cut_in,
    "HighwayCutIn": _highway_cut_in,
    "YieldToEmergencyVehicle": _emergency,
    "InvadingTurn": _invading,
}
FLOW_TYPES = {
    "EnterActorFlow", "InterurbanActorFlow", "InterurbanAdvancedActorFlow", "HighwayExit", "MergerIntoSlowTraffic",
    "MergerIntoSlowTrafficV2", "CrossingBicycleFlow", "NonSignalizedJunctionLeftTurn", "NonSignalizedJunctionRightTurn",
    "NonSignalizedJunctionLeftTurnEnterFlow", "SignalizedJunctionLeftTurn", "SignalizedJunctionRightTurn",
    "SignalizedJunctionLeftTurnEnterFlow",
}  # fmt: skip
ROUTE_ONLY_TYPES = {
    "T_Junction", "VanillaNonSignalizedTurn", "VanillaNonSignalizedTurnEncounterStopsign",
    "VanillaSignalizedTurnEncounterGreenLight", "VanillaSignalizedTurnEncounterRedLight", "SequentialLaneChange",
}  # fmt: skip


def weather_preset(attrs: dict[str, str]) -> str:
    """Our nearest preset to a leaderboard weather (night, fog, wet, sunset, cloudy, clear noon, in that order)."""

    def get(key: str) -> float:
        return float(attrs.get(key, 0.0))

    if get("sun_altitude_angle") < 0.0:
        return "night"
    if get("fog_density") >= 40.0:
        return "fog"
    if get("precipitation") >= 40.0 or get("wetness") >= 50.0:
        return "wet"
    if get("sun_altitude_angle") < 20.0:
        return "sunset"
    return "cloudy" if get("cloudiness") >= 60.0 else "clear_noon"


def _entries(route: ET.Element) -> list[Entry]:
    out = []
    for sc in route.iter("scenario"):
        elements = {child.tag: dict(child.attrib) for child in sc if child.tag != "trigger_point"}
        trigger = sc.find("trigger_point")
        out.append(
            {
                "name": sc.get("name", ""),
                "type": sc.get("type", ""),
                "trigger": dict(trigger.attrib) if trigger is not None else {},
                "elements": elements,
            }
        )
    return out


def convert_route(route: ET.Element, stem: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """One <route> as a scenario mapping, and the per-entry report (status converted / approximate / not_converted)."""
    rid, town = route.get("id", "0"), route.get("town", "")
    positions = [p.attrib for p in route.find("waypoints").iter("position")]  # type: ignore[union-attr]
    pts = np.array([[float(p["x"]), -float(p["y"])] for p in positions])
    line = _Route(pts)
    weathers = [dict(w.attrib) for w in route.iter("weather")]
    data: dict[str, Any] = {
        "name": re.sub(r"[^a-z0-9_]", "_", f"{stem}_route_{rid}".lower()),
        "description": f"Leaderboard route {rid} in {town}.",
        "tags": ["leaderboard_route", town.lower()],
        "map": {"name": town},
        "weather": weather_preset(weathers[0]) if weathers else "clear_noon",
        "route": {"waypoints": [[round(float(x), 2), round(float(y), 2)] for x, y in pts]},
        "actors": [],
        "flows": [],
        "disturbances": [],
        "traffic": dict(BACKGROUND),
        "criteria": {"timeout_s": round(max(120.0, float(line.s[-1]) / 3.0), 0)},
    }
    report = []
    for entry in _entries(route):
        kind, trig = entry["type"], entry["trigger"]
        s = line.s_of(float(trig.get("x", 0.0)), -float(trig.get("y", 0.0))) if trig else 0.0
        if kind in BUILDERS:
            added, status, note = BUILDERS[kind](entry, s)
        elif kind == "ParkingExit":
            added, status, note = _parking_exit(entry, s, line)
        elif kind in FLOW_TYPES:
            added, status, note = _flow(entry, s)
        elif kind in ROUTE_ONLY_TYPES:
            added, status, note = {}, "converted", ROUTE_ONLY
        elif kind in ("BlockedIntersection", "OppositeVehicleRunningRedLight", "OppositeVehicleTakingPriority",
                      "PedestrianCrossing", "VehicleTurningRoute", "VehicleTurningRoutePedestrian"):  # fmt: skip
            added, status, note = {}, "not_converted", NEEDS_JUNCTION
        else:
            added, status, note = {}, "not_converted", f"unknown scenario type {kind!r}"
        if kind.endswith("TwoWays") and status != "not_converted":
            data["criteria"]["oncoming_lane_ok"] = True
        for key, items in added.items():
            data[key] += items
        if kind and kind not in data["tags"]:
            data["tags"].append(kind)
        report.append({"name": entry["name"], "type": kind, "status": status, "note": note})
    data["origin"] = {
        "route_id": rid,
        "town": town,
        "heights": [float(p.get("z", 0.0)) for p in positions],
        "scenarios": _entries(route),
        "weathers": weathers,
    }
    return {k: v for k, v in data.items() if v != []}, report


def convert_file(xml_path: Path, out_dir: Path) -> dict[str, Any]:
    """Write one YAML per route of a route file, plus conversion_report.json; returns the report."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as err:
        raise ScenarioError(str(xml_path), [f"not a readable route file ({err})"]) from None
    routes = root.findall("route")
    if root.tag != "routes" or not routes:
        raise ScenarioError(str(xml_path), ["<routes>: expected a <routes> element with <route> entries"])
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"source": str(xml_path), "routes": {}}
    for route in routes:
        if route.find("waypoints") is None or len(route.find("waypoints")) < 2:  # type: ignore[arg-type]
            raise ScenarioError(str(xml_path), [f"route {route.get('id')}: needs at least two waypoint positions"])
        data, entries = convert_route(route, xml_path.stem)
        scenario_from_dict(data, f"{xml_path} route {route.get('id')}")  # validate before writing
        (out_dir / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        report["routes"][data["name"]] = entries
    (out_dir / "conversion_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def to_xml(scenarios: Sequence[Scenario]) -> str:
    """Write converted scenarios back as a leaderboard route file (from their `origin`)."""
    root = ET.Element("routes")
    for sc in scenarios:
        if sc.origin is None or sc.route.waypoints is None:
            raise ValueError(f"{sc.name}: not converted from a route file (no origin)")
        route = ET.SubElement(root, "route", id=sc.origin.route_id, town=sc.origin.town)
        if sc.origin.weathers:
            weathers = ET.SubElement(route, "weathers")
            for w in sc.origin.weathers:
                ET.SubElement(weathers, "weather", w)
        waypoints = ET.SubElement(route, "waypoints")
        heights = sc.origin.heights or [0.0] * len(sc.route.waypoints)
        for (x, y), z in zip(sc.route.waypoints, heights, strict=True):
            ET.SubElement(waypoints, "position", x=f"{x:g}", y=f"{-y:g}", z=f"{z:g}")
        entries = ET.SubElement(route, "scenarios")
        for entry in sc.origin.scenarios:
            elem = ET.SubElement(entries, "scenario", name=entry["name"], type=entry["type"])
            if entry["trigger"]:
                ET.SubElement(elem, "trigger_point", entry["trigger"])
            for tag, attrs in entry["elements"].items():
                ET.SubElement(elem, tag, attrs)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scenarios.leaderboard_routes", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", type=Path, help="a route file (.xml), or with --to-xml a folder of converted YAMLs")
    parser.add_argument("target", type=Path, help="the folder for the YAMLs, or with --to-xml the route file to write")
    parser.add_argument("--to-xml", action="store_true", help="write converted scenarios back as a route file")
    args = parser.parse_args(argv)
    try:
        if args.to_xml:
            scenarios = [load_scenario(p) for p in sorted(args.source.glob("*.yaml"))]
            args.target.write_text(to_xml(scenarios), encoding="utf-8")
            print(f"{len(scenarios)} routes written to {args.target}")
            return 0
        report = convert_file(args.source, args.target)
    except (ScenarioError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, entries in report["routes"].items():
        counts = {k: sum(e["status"] == k for e in entries) for k in ("converted", "approximate", "not_converted")}
        missing = [f"{e['type']} ({e['note']})" for e in entries if e["status"] == "not_converted"]
        print(f"{name}: {counts}" + (f"; not converted: {', '.join(missing)}" if missing else ""))
    print(f"{len(report['routes'])} scenarios and conversion_report.json in {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

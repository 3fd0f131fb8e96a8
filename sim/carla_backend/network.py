"""A CARLA town's lanes as our `RoadNetwork`, built from `carla.Map.get_topology()` and its waypoints.

With the network, the lane graph, the RoadMap the controller and the expert use, routing, the infraction monitor and
the BEV renderer of the embedded simulator all run unchanged on CARLA maps. Everything is in our frame (y flipped).

Topology pairs are (first waypoint of a lane segment, first waypoint of a segment it leads into); a segment (one
lane of one lane section of one road) becomes a `Lane` with id "road:section:lane". Connectors are segments inside
a junction, tagged straight / left / right by their heading change. Stop lines come from `StopPoint`s, which the
backend derives from the trigger volumes of traffic lights and stop signs (`stop_points_from_trigger`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import carla
import numpy as np

from sim.carla_backend.frames import from_location, yaw_from_carla
from sim.core import Turn
from sim.embedded.roadnet import Crosswalk, Junction, Lane, Marking, RoadNetwork, TrafficLightHead

TURN_THRESHOLD_RAD = math.radians(30.0)  # heading change across a junction connector that makes it a turn
SPEED_LIMIT_SIGN = "274"  # OpenDRIVE signal type of a speed-limit sign
_DASHED = {"Broken", "BrokenBroken", "BottsDots", "BrokenSolid"}
_SOLID = {"Solid", "SolidSolid", "SolidBroken"}


def lane_key(waypoint: Any) -> str:
    return f"{waypoint.road_id}:{waypoint.section_id}:{waypoint.lane_id}"


@dataclass(frozen=True)
class StopPoint:
    """Where a lane must stop for a light (light_id set) or a stop sign (light_id None)."""

    waypoint: Any  # carla.Waypoint on the stopping lane
    light_id: str | None
    light_position: tuple[float, float, float] = (0.0, 0.0, 0.0)  # our frame
    light_yaw: float = 0.0


def turn_of(points: np.ndarray) -> Turn:
    """Straight, left or right from the heading change along a connector polyline (our frame, CCW positive)."""
    d0, d1 = points[min(1, len(points) - 1)] - points[0], points[-1] - points[max(0, len(points) - 2)]
    change = math.remainder(math.atan2(d1[1], d1[0]) - math.atan2(d0[1], d0[0]), 2 * math.pi)
    if change > TURN_THRESHOLD_RAD:
        return Turn.LEFT
    if change < -TURN_THRESHOLD_RAD:
        return Turn.RIGHT
    return Turn.STRAIGHT


def _marking(mark: Any) -> Marking:
    if mark is None:
        return Marking.NONE
    kind = str(mark.type).rsplit(".", 1)[-1]
    if kind in _DASHED:
        return Marking.DASHED_WHITE
    if kind in _SOLID:
        return Marking.SOLID_YELLOW if str(mark.color).endswith("Yellow") else Marking.SOLID_WHITE
    return Marking.NONE


def _opposite_driving(neighbour: Any, waypoint: Any) -> bool:
    return (
        neighbour.lane_type == carla.LaneType.Driving
        and neighbour.lane_id * waypoint.lane_id < 0
        and neighbour.road_id == waypoint.road_id
    )


def _same_way_driving(neighbour: Any, waypoint: Any) -> bool:
    return (
        neighbour is not None
        and neighbour.lane_type == carla.LaneType.Driving
        and neighbour.lane_id * waypoint.lane_id > 0
        and neighbour.road_id == waypoint.road_id
    )


def _centre(entry: Any, exit_location: Any | None, step: float) -> np.ndarray:
    wps = [entry, *entry.next_until_lane_end(step)]
    pts = [from_location(w.transform.location)[:2] for w in wps if lane_key(w) == lane_key(entry)]
    if exit_location is not None:
        pts.append(from_location(exit_location)[:2])
    arr = np.asarray(pts, dtype=np.float64)
    keep = np.concatenate([[True], np.hypot(*np.diff(arr, axis=0).T) > 1e-2])
    arr = arr[keep]
    if len(arr) < 2:  # a degenerate segment: extend along the entry heading
        yaw = yaw_from_carla(entry.transform.rotation.yaw)
        arr = np.vstack([arr[:1], arr[:1] + 0.1 * np.array([math.cos(yaw), math.sin(yaw)])])
    return arr


def _junction_polygon(junction: Any) -> np.ndarray:
    box = junction.bounding_box
    cx, cy, _ = from_location(box.location)
    yaw = yaw_from_carla(box.rotation.yaw)
    ex, ey = float(box.extent.x), float(box.extent.y)
    c, s = math.cos(yaw), math.sin(yaw)
    local = np.array([[ex, ey], [-ex, ey], [-ex, -ey], [ex, -ey]])
    return local @ np.array([[c, -s], [s, c]]).T + np.array([cx, cy])


def crosswalk_polygons(locations: Sequence[Any]) -> list[np.ndarray]:
    """`carla.Map.get_crosswalks()` lists polygons one after another, each closed by repeating its first point."""
    out: list[np.ndarray] = []
    current: list[tuple[float, float]] = []
    for loc in locations:
        p = from_location(loc)[:2]
        if current and len(current) > 2 and math.dist(p, current[0]) < 1e-3:
            out.append(np.asarray(current))
            current = []
        else:
            current.append(p)
    return out


def speed_limits_by_road(landmarks: Iterable[Any]) -> dict[int, float]:
    """m/s per OpenDRIVE road from speed-limit signs (value in km/h, or mph when the unit says so)."""
    out: dict[int, float] = {}
    for mark in landmarks:
        value = float(mark.value)
        if value <= 0:
            continue
        factor = 0.44704 if "mph" in str(getattr(mark, "unit", "")).lower() else 1 / 3.6
        out[int(mark.road_id)] = value * factor
    return out


def build_network(
    carla_map: Any,
    sampling_m: float = 1.0,
    default_speed_limit: float = 30.0 / 3.6,
    stop_points: Sequence[StopPoint] = (),
    road_limits: Mapping[int, float] | None = None,
) -> RoadNetwork:
    """The town's driving lanes as a RoadNetwork (our frame). `road_limits`: m/s by road id (default: the map's
    speed-limit signs); `stop_points`: light and stop-sign stop lines to put on their lanes."""
    entries: dict[str, Any] = {}
    exits: dict[str, Any] = {}
    succ: dict[str, list[str]] = {}
    for a, b in carla_map.get_topology():
        ka, kb = lane_key(a), lane_key(b)
        entries.setdefault(ka, a)
        succ.setdefault(ka, [])
        if kb == ka:
            exits[ka] = b.transform.location  # a dead end: b is the segment's own last waypoint
            continue
        entries.setdefault(kb, b)
        succ.setdefault(kb, [])
        exits.setdefault(ka, b.transform.location)
        if kb not in succ[ka]:
            succ[ka].append(kb)
    if road_limits is None:
        road_limits = speed_limits_by_road(carla_map.get_all_landmarks_of_type(SPEED_LIMIT_SIGN))
    lanes: dict[str, Lane] = {}
    junctions: dict[str, Junction] = {}
    for key, entry in entries.items():
        centre = _centre(entry, exits.get(key), sampling_m)
        lane = Lane(
            id=key,
            centre=centre,
            width=float(entry.lane_width),
            speed_limit=float(road_limits.get(int(entry.road_id), default_speed_limit)),
            road_id=f"{entry.road_id}:{entry.section_id}:{'+' if entry.lane_id > 0 else '-'}",
            successors=list(succ[key]),
            left_marking=_marking(entry.left_lane_marking),
            right_marking=_marking(entry.right_lane_marking),
        )
        for side in ("left", "right"):
            nb = entry.get_left_lane() if side == "left" else entry.get_right_lane()
            if _same_way_driving(nb, entry) and lane_key(nb) in entries:
                setattr(lane, side, lane_key(nb))
        across = entry.get_left_lane()  # the first lane across the centre line, if it runs the other way
        if across is not None and _opposite_driving(across, entry) and lane_key(across) in entries:
            lane.opposite = lane_key(across)
        if entry.is_junction:
            junction = entry.get_junction()
            jid = f"j{junction.id}"
            if jid not in junctions:
                junctions[jid] = Junction(jid, _junction_polygon(junction), signalised=False)
            lane.junction_id, lane.turn = jid, turn_of(centre)
        lanes[key] = lane
    _link_back(lanes)
    _inherit_connector_limits(lanes, road_limits)
    network = RoadNetwork(getattr(carla_map, "name", "carla"), lanes, junctions)
    _add_stops(network, stop_points)
    try:
        network.crosswalks = [
            Crosswalk(f"cw{i}", p) for i, p in enumerate(crosswalk_polygons(carla_map.get_crosswalks()))
        ]
    except RuntimeError:  # maps without crosswalk data
        network.crosswalks = []
    return network


def _link_back(lanes: dict[str, Lane]) -> None:
    for lane in lanes.values():
        for nxt in lane.successors:
            lanes[nxt].predecessors.append(lane.id)
        for side, other in (("left", "right"), ("right", "left")):
            nb = getattr(lane, side)
            if nb is not None and getattr(lanes[nb], other) not in (None, lane.id):
                setattr(lane, side, None)  # neighbours must agree both ways


def _inherit_connector_limits(lanes: dict[str, Lane], road_limits: Mapping[int, float]) -> None:
    """A junction connector has no sign of its own: it keeps the limit of the road leading into it."""
    for lane in lanes.values():
        if lane.junction_id is not None and int(lane.id.split(":")[0]) not in road_limits and lane.predecessors:
            lane.speed_limit = lanes[lane.predecessors[0]].speed_limit


def _arc_s(points: np.ndarray, xy: tuple[float, float]) -> float:
    """Arc length of the point of a polyline closest to xy."""
    a, b = points[:-1], points[1:]
    ab = b - a
    q = np.asarray(xy)
    t = np.clip(np.einsum("ij,ij->i", q - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0.0, 1.0)
    foot = a + t[:, None] * ab
    k = int(np.argmin(np.sum((foot - q) ** 2, axis=1)))
    seg = np.hypot(*ab.T)
    return float(np.sum(seg[:k]) + t[k] * seg[k])


def _add_stops(network: RoadNetwork, stop_points: Sequence[StopPoint]) -> None:
    for stop in stop_points:
        key = lane_key(stop.waypoint)
        lane = network.lanes.get(key)
        if lane is None:
            continue
        xy = from_location(stop.waypoint.transform.location)[:2]
        lane.stop_line_s = _arc_s(lane.centre, xy)
        if stop.light_id is None:
            lane.stop_sign = True
            continue
        lane.light_id = stop.light_id
        head = network.lights.get(stop.light_id)
        jid = next((network.lanes[n].junction_id for n in lane.successors if network.lanes[n].junction_id), None)
        if head is None:
            yaw = yaw_from_carla(stop.waypoint.transform.rotation.yaw)
            half = lane.width / 2
            n = (-math.sin(yaw) * half, math.cos(yaw) * half)
            line = ((xy[0] - n[0], xy[1] - n[1]), (xy[0] + n[0], xy[1] + n[1]))
            head = TrafficLightHead(stop.light_id, jid or "", stop.light_position, stop.light_yaw, [], line, 0)
            network.lights[stop.light_id] = head
        head.lane_ids.append(key)
        if jid is not None and jid in network.junctions:
            network.junctions[jid].signalised = True
            if stop.light_id not in network.junctions[jid].light_ids:
                network.junctions[jid].light_ids.append(stop.light_id)


def stop_points_from_trigger(
    actor_transform: Any,
    trigger_volume: Any,
    waypoint_at: Callable[[Any], Any],
    light_id: str | None,
    step_m: float = 1.0,
) -> list[StopPoint]:
    """Stop points of a traffic light or stop sign: the trigger volume (a box in the actor's frame, CARLA
    coordinates) is sampled across its length, each sample is snapped to its driving lane by `waypoint_at`
    (carla.Location -> carla.Waypoint or None), and each lane is followed forward to the last waypoint before the
    junction: that is where its stop line lies."""
    tf = actor_transform
    yaw = math.radians(tf.rotation.yaw + trigger_volume.rotation.yaw)
    c, s = math.cos(yaw), math.sin(yaw)
    base_c, base_s = math.cos(math.radians(tf.rotation.yaw)), math.sin(math.radians(tf.rotation.yaw))
    lx, ly = float(trigger_volume.location.x), float(trigger_volume.location.y)
    cx = tf.location.x + lx * base_c - ly * base_s  # CARLA's yaw rotates x towards y in its own (left-handed) frame
    cy = tf.location.y + lx * base_s + ly * base_c
    ext = float(trigger_volume.extent.x)
    n = max(1, int(2 * 0.9 * ext / step_m))
    seen: set[tuple[int, int]] = set()
    out: list[StopPoint] = []
    position = from_location(tf.location)
    for i in range(n + 1):
        u = -0.9 * ext + (1.8 * ext * i / n if n else 0.0)
        wp = waypoint_at(carla.Location(x=cx + u * c, y=cy + u * s, z=tf.location.z))
        if wp is None or (wp.road_id, wp.lane_id) in seen:
            continue
        seen.add((wp.road_id, wp.lane_id))
        out.append(StopPoint(_last_before_junction(wp), light_id, position, yaw_from_carla(tf.rotation.yaw)))
    return out


def _last_before_junction(wp: Any, step: float = 0.5, limit_m: float = 60.0) -> Any:
    travelled = 0.0
    while not wp.is_junction and travelled < limit_m:
        nxt = wp.next(step)
        if not nxt or nxt[0].is_junction:
            break
        wp, travelled = nxt[0], travelled + step
    return wp

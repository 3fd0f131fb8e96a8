"""Seeded procedural towns: a grid of junctions joined by (sometimes curved) roads, and a multi-lane arterial.

Traffic drives on the right. Junction (r, c) sits at (xs[c], ys[r]); row roads run along +x, column roads along +y.
Lanes are numbered from the centre line outwards (0 = next to the yellow line), so lane 0 carries left turns and
the kerb lane right turns. Every incoming lane gets a successor, so traffic can drive the town forever.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core import Turn, wrap_angle
from sim.embedded.geometry import bezier, headings, offset, resample
from sim.embedded.highway import build_highway
from sim.embedded.roadnet import (
    Building,
    Crosswalk,
    Junction,
    Lane,
    Marking,
    RoadNetwork,
    Sidewalk,
    TrafficLightHead,
)


@dataclass(frozen=True)
class TownStyle:
    """Dimensions shared by every generated town (metres)."""

    lane_width: float = 3.5
    parking_width: float = 2.5  # a parking lane at the kerb, where the map asks for one
    sidewalk_width: float = 3.0
    crosswalk_width: float = 3.0
    stop_gap: float = 1.0  # stop line to crosswalk
    junction_margin: float = 6.0  # box beyond the crossing road's edge; kerb right turns get R = margin + lane / 2
    curve_lead: float = 10.0  # straight road kept at each end of a curved road
    curve_amplitude: tuple[float, float] = (3.0, 8.0)  # lateral bump, capped so the radius stays >= min_radius
    curve_min_radius: float = 30.0
    light_height: float = 5.2
    building_setback: float = 2.0
    outer_depth: float = 30.0  # building strip outside the outermost roads
    lot_size: tuple[float, float] = (18.0, 34.0)
    building_height: tuple[float, float] = (6.0, 32.0)
    side_street_kmh: float = 50.0


_ARMS = {"E": (1.0, 0.0), "N": (0.0, 1.0), "W": (-1.0, 0.0), "S": (0.0, -1.0)}
_ARM_AXIS = {"E": 0, "W": 0, "N": 1, "S": 1}  # light phase group


@dataclass
class _Layout:
    name: str
    xs: list[float]
    ys: list[float]
    row_lanes: list[int]
    col_lanes: list[int]
    row_speed: list[float]
    col_speed: list[float]
    control: dict[tuple[int, int], str]  # "signal" | "stop" | "free"
    curved: dict[str, float] = field(default_factory=dict)  # road id -> lateral amplitude
    parking: bool = False  # every road gets a parking lane at the kerb on both sides


def _arms(lay: _Layout, r: int, c: int) -> list[str]:
    arms = []
    if c < len(lay.xs) - 1:
        arms.append("E")
    if r < len(lay.ys) - 1:
        arms.append("N")
    if c > 0:
        arms.append("W")
    if r > 0:
        arms.append("S")
    return arms


def _half_box(lay: _Layout, style: TownStyle, r: int, c: int) -> tuple[float, float]:
    """Half sizes (x, y) of junction (r, c)'s box."""
    return (
        lay.col_lanes[c] * style.lane_width + style.junction_margin,
        lay.row_lanes[r] * style.lane_width + style.junction_margin,
    )


def _spec_get(spec: Mapping[str, Any] | Any, key: str, default: Any) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(key, default)
    return getattr(spec, key, default)


def _grid_layout(spec: Any, rng: np.random.Generator) -> _Layout:
    rows, cols = int(_spec_get(spec, "rows", 3)), int(_spec_get(spec, "cols", 3))
    lanes, block = int(_spec_get(spec, "lanes", 2)), float(_spec_get(spec, "block_m", 90.0))
    p_signal = float(_spec_get(spec, "signalised", 0.75))
    p_curve = float(_spec_get(spec, "curved", 0.2))
    speed = float(_spec_get(spec, "speed_limit_kmh", 50.0)) / 3.6
    control = {}
    for r in range(rows):
        for c in range(cols):
            n_arms = (r > 0) + (r < rows - 1) + (c > 0) + (c < cols - 1)
            control[(r, c)] = "free" if n_arms < 3 else ("signal" if rng.random() < p_signal else "stop")
    lay = _Layout(
        "grid",
        [c * block for c in range(cols)],
        [r * block for r in range(rows)],
        [lanes] * rows,
        [lanes] * cols,
        [speed] * rows,
        [speed] * cols,
        control,
    )
    _pick_curves(lay, p_curve, rng)
    lay.parking = bool(_spec_get(spec, "parking", False))
    return lay


def _arterial_layout(spec: Any, style: TownStyle) -> _Layout:
    lanes, length = int(_spec_get(spec, "lanes", 3)), float(_spec_get(spec, "length_m", 600.0))
    n_junctions = int(_spec_get(spec, "junctions", 3))
    speed = float(_spec_get(spec, "speed_limit_kmh", 60.0)) / 3.6
    side = min(speed, style.side_street_kmh / 3.6)
    cols = n_junctions + 2
    xs = [length * c / (cols - 1) for c in range(cols)]
    ys = [-70.0, 0.0, 70.0]  # the arterial is row 1; rows 0 and 2 are one-lane back streets closing the loop
    control = {}
    for r in range(3):
        for c in range(cols):
            if r == 1:
                control[(r, c)] = "signal"
            else:
                control[(r, c)] = "free" if c in (0, cols - 1) else "stop"
    lay = _Layout("arterial", xs, ys, [1, lanes, 1], [1] * cols, [side, speed, side], [side] * cols, control)
    lay.parking = bool(_spec_get(spec, "parking", False))
    return lay


def _pick_curves(lay: _Layout, p: float, rng: np.random.Generator, style: TownStyle = TownStyle()) -> None:
    lo, hi = style.curve_amplitude
    for road_id, length in _road_lengths(lay):
        draw = rng.random()
        amp = float(rng.uniform(lo, hi)) * (1 if rng.random() < 0.5 else -1)
        span = length - 2 * style.curve_lead - 20.0  # minus the junction boxes, roughly
        if draw < p and span > 30.0:
            # the bump A (1 - cos(2 pi u)) / 2 has its tightest radius span^2 / (2 pi^2 A)
            cap = span**2 / (2 * math.pi**2 * style.curve_min_radius)
            lay.curved[road_id] = math.copysign(min(abs(amp), cap), amp)


def _road_lengths(lay: _Layout) -> list[tuple[str, float]]:
    out = []
    for r in range(len(lay.ys)):
        for c in range(len(lay.xs) - 1):
            out.append((f"H{r}_{c}", lay.xs[c + 1] - lay.xs[c]))
    for r in range(len(lay.ys) - 1):
        for c in range(len(lay.xs)):
            out.append((f"V{r}_{c}", lay.ys[r + 1] - lay.ys[r]))
    return out


def _reference(p0: np.ndarray, p1: np.ndarray, amp: float, lead: float) -> np.ndarray:
    """Road centre line from p0 to p1, with a smooth sideways bump of `amp` metres between the straight leads."""
    length = float(np.hypot(*(p1 - p0)))
    t = np.linspace(0.0, length, max(2, math.ceil(length) + 1))
    u = (p1 - p0) / length
    n = np.array([-u[1], u[0]])
    lat = np.zeros_like(t)
    if amp:
        w = np.clip((t - lead) / (length - 2 * lead), 0.0, 1.0)
        lat = amp * (1 - np.cos(2 * math.pi * w)) / 2
    return p0 + t[:, None] * u + lat[:, None] * n


@dataclass
class _Approach:
    junction: str
    arm: str
    incoming: list[str]  # lane ids, centre -> kerb
    outgoing: list[str]


def _build(lay: _Layout, style: TownStyle, rng: np.random.Generator) -> RoadNetwork:
    net = RoadNetwork(name=lay.name, lanes={})
    lw = style.lane_width
    approaches: dict[tuple[int, int], dict[str, _Approach]] = {}
    for r in range(len(lay.ys)):
        for c in range(len(lay.xs)):
            jid = f"J{r}_{c}"
            hx, hy = _half_box(lay, style, r, c)
            x, y = lay.xs[c], lay.ys[r]
            poly = np.array([[x + hx, y + hy], [x - hx, y + hy], [x - hx, y - hy], [x + hx, y - hy]])
            net.junctions[jid] = Junction(jid, poly, lay.control[(r, c)] == "signal")
            approaches[(r, c)] = {}

    roads = []  # (road id, (r0, c0), arm at start, (r1, c1), arm at end, lanes, speed)
    for r in range(len(lay.ys)):
        for c in range(len(lay.xs) - 1):
            roads.append((f"H{r}_{c}", (r, c), "E", (r, c + 1), "W", lay.row_lanes[r], lay.row_speed[r]))
    for r in range(len(lay.ys) - 1):
        for c in range(len(lay.xs)):
            roads.append((f"V{r}_{c}", (r, c), "N", (r + 1, c), "S", lay.col_lanes[c], lay.col_speed[c]))

    for road_id, a, arm_a, b, arm_b, n, speed in roads:
        ua = np.array(_ARMS[arm_a])
        node_a = np.array([lay.xs[a[1]], lay.ys[a[0]]])
        node_b = np.array([lay.xs[b[1]], lay.ys[b[0]]])
        ra = _half_box(lay, style, *a)[_ARM_AXIS[arm_a]]
        rb = _half_box(lay, style, *b)[_ARM_AXIS[arm_b]]
        ref = _reference(node_a + ua * ra, node_b - ua * rb, lay.curved.get(road_id, 0.0), style.curve_lead)
        fwd, bwd = [], []
        for k in range(n):
            for sign, group in ((1, fwd), (-1, bwd)):
                lid = f"{road_id}{'+' if sign > 0 else '-'}{k}"
                centre = offset(ref, -(k + 0.5) * lw) if sign > 0 else offset(ref, (k + 0.5) * lw)[::-1]
                net.lanes[lid] = Lane(
                    lid,
                    resample(centre, 1.0),
                    lw,
                    speed,
                    road_id,
                    left_marking=Marking.SOLID_YELLOW if k == 0 else Marking.DASHED_WHITE,
                    right_marking=Marking.SOLID_WHITE if k == n - 1 else Marking.DASHED_WHITE,
                )
                group.append(lid)
        for group in (fwd, bwd):
            for k, lid in enumerate(group):
                net.lanes[lid].left = group[k - 1] if k > 0 else None
                net.lanes[lid].right = group[k + 1] if k < n - 1 else None
        net.lanes[fwd[0]].opposite, net.lanes[bwd[0]].opposite = bwd[0], fwd[0]
        if lay.parking:
            _parking_lanes(net, style, road_id, ref, n, fwd[-1], bwd[-1])
        half_w = n * lw + (style.parking_width if lay.parking else 0.0)
        for side in (1, -1):
            walk = resample(offset(ref, side * (half_w + style.sidewalk_width / 2)), 2.0)
            net.sidewalks.append(Sidewalk(f"{road_id}:{'L' if side > 0 else 'R'}", walk, style.sidewalk_width))
        approaches[a][arm_a] = _Approach(f"J{a[0]}_{a[1]}", arm_a, incoming=bwd, outgoing=fwd)
        approaches[b][arm_b] = _Approach(f"J{b[0]}_{b[1]}", arm_b, incoming=fwd, outgoing=bwd)

    for (r, c), arms in approaches.items():
        _junction(net, lay, style, (r, c), arms)
    _buildings(net, lay, style, rng)
    return net


def _parking_lanes(
    net: RoadNetwork, style: TownStyle, road_id: str, ref: np.ndarray, n: int, kerb_fwd: str, kerb_bwd: str
) -> None:
    """A parking lane outside each kerb lane. It links to the kerb lane on its left (a car leaving a parking spot
    changes lanes into traffic) but not back: traffic never changes into it, and it leads nowhere."""
    off = n * style.lane_width + style.parking_width / 2
    for sign, kerb in ((1, kerb_fwd), (-1, kerb_bwd)):
        lid = f"{road_id}{'+' if sign > 0 else '-'}P"
        centre = offset(ref, -off) if sign > 0 else offset(ref, off)[::-1]
        speed = net.lanes[kerb].speed_limit
        net.lanes[lid] = Lane(lid, resample(centre, 1.0), style.parking_width, speed, road_id, left=kerb, parking=True)


def _classify(h_in: float, h_out: float) -> Turn:
    rel = wrap_angle(h_out - h_in)
    if abs(rel) < math.pi / 4:
        return Turn.STRAIGHT
    return Turn.LEFT if rel > 0 else Turn.RIGHT


def _lane_turns(k: int, n: int, available: set[Turn]) -> list[Turn]:
    """Turns lane k of n (0 = centre side) may take, given what the junction offers."""
    wanted = {Turn.STRAIGHT} | ({Turn.LEFT} if k == 0 else set()) | ({Turn.RIGHT} if k == n - 1 else set())
    turns = wanted & available
    if not turns:  # e.g. an inner lane at a corner: it turns with the others rather than dead-ending
        pref = Turn.LEFT if k < n / 2 else Turn.RIGHT
        turns = {pref} if pref in available else set(available)
    return sorted(turns, key=lambda t: t.value)


def _target_lane(turn: Turn, k: int, n_in: int, n_out: int) -> int:
    if turn == Turn.RIGHT:
        return max(0, n_out - n_in + k)  # counted from the kerb
    return min(k, n_out - 1)


def _connect(net: RoadNetwork, jid: str, lid: str, tid: str, turn: Turn) -> None:
    """Add the connector lane of junction `jid` from lane `lid` to lane `tid`."""
    lane, target = net.lanes[lid], net.lanes[tid]
    p0, p1 = lane.centre[-1], target.centre[0]
    if turn == Turn.STRAIGHT:
        pts = resample(np.stack([p0, p1]), 1.0)
    else:
        pts = bezier(p0, float(headings(lane.centre)[-1]), p1, float(headings(target.centre)[0]), spacing=1.0)
    cid = f"{jid}:{lid}>{tid}"
    speed = min(lane.speed_limit, target.speed_limit)
    net.lanes[cid] = Lane(cid, pts, lane.width, speed, jid, [tid], [lid], junction_id=jid, turn=turn)
    lane.successors.append(cid)
    target.predecessors.append(cid)


def _feed_unreached(net: RoadNetwork, jid: str, arms: dict[str, _Approach]) -> None:
    """Give every lane leaving the junction a way in: where no straight movement feeds an arm (T-junctions,
    corners), the turn that feeds it is allowed from as many lanes as the arm has."""
    for arm_out, out in arms.items():
        for j, tid in enumerate(out.outgoing):
            if net.lanes[tid].predecessors:
                continue
            for arm_in, app in arms.items():
                if arm_in == arm_out:
                    continue
                feeds = [
                    c for lid in app.incoming for c in net.lanes[lid].successors if c.split(">")[-1] in out.outgoing
                ]
                if feeds:
                    turn = net.lanes[feeds[0]].turn
                    assert turn is not None
                    k = (
                        min(j, len(app.incoming) - 1)
                        if turn != Turn.RIGHT
                        else max(0, len(app.incoming) - len(out.outgoing) + j)
                    )
                    _connect(net, jid, app.incoming[k], tid, turn)
                    break


def _junction(
    net: RoadNetwork, lay: _Layout, style: TownStyle, rc: tuple[int, int], arms: dict[str, _Approach]
) -> None:
    r, c = rc
    jid = f"J{r}_{c}"
    control = lay.control[rc]
    node = np.array([lay.xs[c], lay.ys[r]])
    half = _half_box(lay, style, r, c)
    for arm_in, app in arms.items():
        h_in = float(headings(net.lanes[app.incoming[0]].centre)[-1])
        options = {}
        for arm_out, out in arms.items():
            if arm_out != arm_in:
                options[_classify(h_in, float(headings(net.lanes[out.outgoing[0]].centre)[0]))] = out
        n_in = len(app.incoming)
        for k, lid in enumerate(app.incoming):
            for turn in _lane_turns(k, n_in, set(options)):
                out = options[turn]
                _connect(net, jid, lid, out.outgoing[_target_lane(turn, k, n_in, len(out.outgoing))], turn)
    _feed_unreached(net, jid, arms)
    if control == "free":
        return
    for arm_in, app in arms.items():
        u = np.array(_ARMS[arm_in])
        axis_half = half[_ARM_AXIS[arm_in]]
        road_half = len(app.incoming) * style.lane_width
        n = np.array([-u[1], u[0]])
        centre = node + u * (axis_half + style.crosswalk_width / 2)
        du, dn = u * style.crosswalk_width / 2, n * (road_half + (style.parking_width if lay.parking else 0.0))
        polygon = np.stack([centre - du - dn, centre + du - dn, centre + du + dn, centre - du + dn])
        light_id = f"{jid}:{arm_in}" if control == "signal" else None
        net.crosswalks.append(Crosswalk(f"{jid}:{arm_in}:cw", polygon, jid, light_id))
        for lid in app.incoming:
            lane = net.lanes[lid]
            length = float(np.sum(np.hypot(*np.diff(lane.centre, axis=0).T)))
            lane.stop_line_s = length - style.crosswalk_width - style.stop_gap
            lane.stop_sign = control == "stop"
            lane.light_id = light_id
        if light_id is not None:
            travel = -u  # direction of the approaching traffic
            right = np.array([travel[1], -travel[0]])
            far = node + travel * (half[_ARM_AXIS[arm_in]] + 1.5) + right * road_half / 2
            stop_c = node + u * (axis_half + style.crosswalk_width + style.stop_gap)
            net.lights[light_id] = TrafficLightHead(
                light_id,
                jid,
                (float(far[0]), float(far[1]), style.light_height),
                math.atan2(u[1], u[0]),
                list(app.incoming),
                (tuple(map(float, stop_c)), tuple(map(float, stop_c + right * road_half))),
                _ARM_AXIS[arm_in],
            )
            net.junctions[jid].light_ids.append(light_id)


def _buildings(net: RoadNetwork, lay: _Layout, style: TownStyle, rng: np.random.Generator) -> None:
    lw, sw = style.lane_width, style.sidewalk_width
    max_amp = max((abs(a) for a in lay.curved.values()), default=0.0)
    clear = sw + style.building_setback + max_amp + (style.parking_width if lay.parking else 0.0)
    xs, ys = lay.xs, lay.ys
    # cell edges: (road coordinate, road half width) or None for the outer boundary
    x_edges = [(x, lay.col_lanes[i] * lw) for i, x in enumerate(xs)]
    y_edges = [(y, lay.row_lanes[i] * lw) for i, y in enumerate(ys)]
    xb = [(xs[0] - style.outer_depth - x_edges[0][1] - clear, 0.0), *x_edges]
    xb.append((xs[-1] + style.outer_depth + x_edges[-1][1] + clear, 0.0))
    yb = [(ys[0] - style.outer_depth - y_edges[0][1] - clear, 0.0), *y_edges]
    yb.append((ys[-1] + style.outer_depth + y_edges[-1][1] + clear, 0.0))
    for i in range(len(xb) - 1):
        for j in range(len(yb) - 1):
            x0 = xb[i][0] + (xb[i][1] + clear if i > 0 else 0.0)
            x1 = xb[i + 1][0] - (xb[i + 1][1] + clear if i + 1 < len(xb) - 1 else 0.0)
            y0 = yb[j][0] + (yb[j][1] + clear if j > 0 else 0.0)
            y1 = yb[j + 1][0] - (yb[j + 1][1] + clear if j + 1 < len(yb) - 1 else 0.0)
            _fill_lots(net, (x0, y0, x1, y1), style, rng)


def _fill_lots(
    net: RoadNetwork, rect: tuple[float, float, float, float], style: TownStyle, rng: np.random.Generator
) -> None:
    x0, y0, x1, y1 = rect
    if x1 - x0 < 8 or y1 - y0 < 8:
        return
    nx = max(1, round((x1 - x0) / rng.uniform(*style.lot_size)))
    ny = max(1, round((y1 - y0) / rng.uniform(*style.lot_size)))
    gx, gy = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    for i in range(nx):
        for j in range(ny):
            if rng.random() < 0.12:
                continue
            inset = rng.uniform(0.5, 2.5, size=4)
            a, b = gx[i] + inset[0], gx[i + 1] - inset[1]
            cc, d = gy[j] + inset[2], gy[j + 1] - inset[3]
            if b - a > 3 and d - cc > 3:
                foot = np.array([[a, cc], [b, cc], [b, d], [a, d]])
                net.buildings.append(Building(foot, float(rng.uniform(*style.building_height))))


def build_network(spec: Mapping[str, Any] | Any, seed: int, style: TownStyle = TownStyle()) -> RoadNetwork:
    """A town from a scenario `map:` spec (dict or pydantic model): `{name: grid, ...}`, `{name: arterial, ...}` or
    `{name: highway, ...}` (sim/embedded/highway.py)."""
    name = _spec_get(spec, "name", None)
    rng = np.random.default_rng(seed)
    if name == "grid":
        lay = _grid_layout(spec, rng)
    elif name == "arterial":
        lay = _arterial_layout(spec, style)
    elif name == "highway":
        return build_highway(spec, style.lane_width)
    else:
        raise ValueError(f"the embedded simulator builds maps 'grid', 'arterial' and 'highway', not {name!r}")
    return _build(lay, style, rng)

"""A straight divided highway with an on-ramp and an off-ramp (no junctions, no pedestrians).

Eastbound lanes run along +x below the median (lane 0 next to it, the kerb lane furthest out), westbound lanes
above it. The on-ramp joins an acceleration lane at the kerb that ends after `merge_length_m`: traffic on it has to
change left into the flow before its end. Before the exit a deceleration lane opens at the kerb and leads into the
off-ramp. The main lanes are cut into segments where those side lanes begin and end, so every segment has one set
of neighbours. Side lanes link one way: the acceleration lane has the kerb lane on its left (a merge), the kerb
lane has the deceleration lane on its right (an exit); nothing changes into the ending lane or out of the exit.

Lanes that end (the carriageways' far ends, the acceleration lane, the off-ramp) lead nowhere; the world takes
background traffic that reaches such an end back to a lane where traffic enters the map.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.embedded.geometry import bezier, resample
from sim.embedded.roadnet import Lane, Marking, RoadNetwork

RAMP_OFFSET_M = 24.0  # how far from the carriageway a ramp starts (on) or ends (off)
RAMP_CURVE_M = 180.0  # length of the S-curve between a ramp and its side lane


def _get(spec: Mapping[str, Any] | Any, key: str, default: Any) -> Any:
    return spec.get(key, default) if isinstance(spec, Mapping) else getattr(spec, key, default)


def _straight(x0: float, x1: float, y: float) -> np.ndarray:
    return resample(np.array([[x0, y], [x1, y]]), 1.0)


def build_highway(spec: Mapping[str, Any] | Any, lane_width: float = 3.5) -> RoadNetwork:
    """The highway of a `{name: highway, ...}` map spec (see `scenarios.schema.HighwayMap` for the fields)."""
    n = int(_get(spec, "lanes", 3))
    length = float(_get(spec, "length_m", 1200.0))
    merge_at, merge_len = float(_get(spec, "on_ramp_m", 320.0)), float(_get(spec, "merge_length_m", 120.0))
    exit_at, exit_len = float(_get(spec, "off_ramp_m", 800.0)), float(_get(spec, "exit_length_m", 100.0))
    speed = float(_get(spec, "speed_limit_kmh", 80.0)) / 3.6
    ramp_speed = float(_get(spec, "ramp_speed_kmh", 60.0)) / 3.6
    median = float(_get(spec, "median_m", 4.0))
    cuts = [0.0, merge_at, merge_at + merge_len, exit_at, exit_at + exit_len, length]
    if any(b - a < 20.0 for a, b in itertools.pairwise(cuts)):
        raise ValueError(f"highway: the ramps must lie in order along the road with 20 m between them (cuts at {cuts})")
    net = RoadNetwork(name="highway", lanes={})
    lw = lane_width
    side_y = -(n + 0.5) * lw  # centre of the acceleration / deceleration lane

    def add(lid: str, pts: np.ndarray, limit: float, **kw: Any) -> Lane:
        net.lanes[lid] = Lane(lid, pts, lw, limit, kw.pop("road", "E"), **kw)
        return net.lanes[lid]

    for i, (x0, x1) in enumerate(itertools.pairwise(cuts)):
        for k in range(n):
            add(
                f"E{k}.{i}",
                _straight(x0, x1, -(k + 0.5) * lw),
                speed,
                left=f"E{k - 1}.{i}" if k > 0 else None,
                right=f"E{k + 1}.{i}" if k < n - 1 else None,
                left_marking=Marking.SOLID_YELLOW if k == 0 else Marking.DASHED_WHITE,
                right_marking=Marking.DASHED_WHITE if k < n - 1 or i in (1, 3) else Marking.SOLID_WHITE,
            )
            if i > 0:
                net.lanes[f"E{k}.{i - 1}"].successors.append(f"E{k}.{i}")
                net.lanes[f"E{k}.{i}"].predecessors.append(f"E{k}.{i - 1}")
    for k in range(n):
        add(
            f"W{k}",
            _straight(length, 0.0, median + (k + 0.5) * lw),
            speed,
            road="W",
            left=f"W{k - 1}" if k > 0 else None,
            right=f"W{k + 1}" if k < n - 1 else None,
            left_marking=Marking.SOLID_YELLOW if k == 0 else Marking.DASHED_WHITE,
            right_marking=Marking.DASHED_WHITE if k < n - 1 else Marking.SOLID_WHITE,
        )

    kerb = n - 1
    ramp_y = side_y - RAMP_OFFSET_M
    approach = _straight(merge_at - RAMP_CURVE_M - 80.0, merge_at - RAMP_CURVE_M, ramp_y)
    s_curve = bezier(np.array([merge_at - RAMP_CURVE_M, ramp_y]), 0.0, np.array([merge_at, side_y]), 0.0, spacing=1.0)
    add("ON", resample(np.concatenate([approach, s_curve[1:]]), 1.0), ramp_speed, road="ON", successors=["ACC"])
    add(
        "ACC",
        _straight(merge_at, merge_at + merge_len, side_y),
        speed,
        road="E",
        predecessors=["ON"],
        left=f"E{kerb}.1",
        left_marking=Marking.DASHED_WHITE,
        right_marking=Marking.SOLID_WHITE,
    )
    net.lanes[f"E{kerb}.3"].right = "DEC"
    add(
        "DEC",
        _straight(exit_at, exit_at + exit_len, side_y),
        speed,
        road="E",
        successors=["OFF"],
        left_marking=Marking.DASHED_WHITE,
        right_marking=Marking.SOLID_WHITE,
    )
    x_end = exit_at + exit_len
    s_curve = bezier(np.array([x_end, side_y]), 0.0, np.array([x_end + RAMP_CURVE_M, ramp_y]), 0.0, spacing=1.0)
    away = _straight(x_end + RAMP_CURVE_M, x_end + RAMP_CURVE_M + 80.0, ramp_y)
    add("OFF", resample(np.concatenate([s_curve, away[1:]]), 1.0), ramp_speed, road="OFF", predecessors=["DEC"])
    return net

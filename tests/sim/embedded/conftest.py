"""A hand-built road network for the rendering tests: a straight two-lane road (one lane each way) running along
+x into one signalised four-way junction at the origin, with crosswalks, sidewalks, a few buildings and a light
head on the far side of the junction facing the approaching ego."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core import Turn
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

LANE_W = 3.5
MOUTH = 9.0  # junction box half size: road half width (3.5) + crosswalk (3) + margin
ARM = 120.0
ARMS = {"W": (-1.0, 0.0), "E": (1.0, 0.0), "S": (0.0, -1.0), "N": (0.0, 1.0)}


def _line(a: np.ndarray, b: np.ndarray, step: float = 5.0) -> np.ndarray:
    n = max(2, int(np.hypot(*(b - a)) / step) + 1)
    return np.linspace(a, b, n)


def crossroads() -> RoadNetwork:
    net = RoadNetwork(name="crossroads", lanes={})
    for arm, u in ARMS.items():
        u = np.array(u)
        n = np.array([-u[1], u[0]])  # left of the outward direction
        # Incoming traffic drives along -u; its right-hand side is +n.
        inc = _line(u * (MOUTH + ARM) + n * LANE_W / 2, u * MOUTH + n * LANE_W / 2)
        out = _line(u * MOUTH - n * LANE_W / 2, u * (MOUTH + ARM) - n * LANE_W / 2)
        for lid, centre in ((f"{arm}_in", inc), (f"{arm}_out", out)):
            net.lanes[lid] = Lane(
                lid,
                centre,
                LANE_W,
                13.9,
                arm,
                left_marking=Marking.SOLID_YELLOW,
                right_marking=Marking.SOLID_WHITE,
            )
        net.lanes[f"{arm}_in"].stop_line_s = ARM - 4.0
        net.lanes[f"{arm}_in"].light_id = f"L_{arm}"
        cw_c = u * (MOUTH - 2.5)
        du, dn = u * 1.5, n * LANE_W
        net.crosswalks.append(
            Crosswalk(
                f"cw_{arm}", np.stack([cw_c - du - dn, cw_c + du - dn, cw_c + du + dn, cw_c - du + dn]), "J", f"L_{arm}"
            )
        )
        for side in (1, -1):
            walk = _line(u * MOUTH + side * n * (LANE_W + 1.5), u * (MOUTH + ARM) + side * n * (LANE_W + 1.5))
            net.sidewalks.append(Sidewalk(f"sw_{arm}{side}", walk, 3.0))
        # The head hangs over the far side of the junction, above the approaching lane, facing the traffic.
        head = -u * (MOUTH + 1.5) + n * LANE_W / 2
        stop = u * (MOUTH + 4.0)
        net.lights[f"L_{arm}"] = TrafficLightHead(
            f"L_{arm}",
            "J",
            (float(head[0]), float(head[1]), 5.2),
            math.atan2(u[1], u[0]),
            [f"{arm}_in"],
            (tuple(map(float, stop)), tuple(map(float, stop + n * LANE_W))),
            0 if arm in "WE" else 1,
        )
        for k in range(4):
            for side in (1, -1):
                s0 = MOUTH + 8 + 28 * k
                c0 = u * s0 + side * n * 12
                c1 = u * (s0 + 22) + side * n * 30
                lo, hi = np.minimum(c0, c1), np.maximum(c0, c1)
                foot = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
                net.buildings.append(Building(foot, 8.0 + 5.0 * ((k + side) % 3)))
    for a_in in ARMS:
        for a_out in ARMS:
            if a_in == a_out:
                continue
            p0, p1 = net.lanes[f"{a_in}_in"].centre[-1], net.lanes[f"{a_out}_out"].centre[0]
            h_in, h_out = math.atan2(-ARMS[a_in][1], -ARMS[a_in][0]), math.atan2(*ARMS[a_out][::-1])
            rel = (h_out - h_in + math.pi) % (2 * math.pi) - math.pi
            turn = Turn.STRAIGHT if abs(rel) < 0.1 else Turn.LEFT if rel > 0 else Turn.RIGHT
            mid = p0 + np.array([math.cos(h_in), math.sin(h_in)]) * (np.dot(p1 - p0, [math.cos(h_in), math.sin(h_in)]))
            t = np.linspace(0, 1, 12)[:, None]
            pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * mid + t**2 * p1 if turn != Turn.STRAIGHT else _line(p0, p1, 2.0)
            cid = f"J:{a_in}>{a_out}"
            net.lanes[cid] = Lane(
                cid, pts, LANE_W, 8.0, "J", [f"{a_out}_out"], [f"{a_in}_in"], junction_id="J", turn=turn
            )
    m, r = MOUTH, LANE_W
    net.junctions["J"] = Junction(
        "J",
        np.array(
            [[m, -r], [m, r], [r, r], [r, m], [-r, m], [-r, r], [-m, r], [-m, -r], [-r, -r], [-r, -m], [r, -m], [r, -r]]
        ),
        True,
        list(net.lights),
    )
    return net


@pytest.fixture(scope="session")
def network() -> RoadNetwork:
    return crossroads()

"""Town generation: seeded determinism and a consistent lane graph."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core import Turn, wrap_angle
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadnet import Marking
from sim.embedded.towns import build_network

SPECS = [
    {"name": "grid", "rows": 3, "cols": 4, "lanes": 2, "block_m": 90, "curved": 0.5},
    {"name": "grid", "rows": 2, "cols": 2, "lanes": 1, "block_m": 60},
    {"name": "grid", "rows": 3, "cols": 3, "lanes": 3, "block_m": 120},
    {"name": "arterial", "lanes": 3, "length_m": 600, "junctions": 3},
]


def _fingerprint(net):
    return (
        sorted(net.lanes),
        [net.lanes[k].centre.tobytes() for k in sorted(net.lanes)],
        [b.footprint.tobytes() for b in net.buildings],
        sorted((j.id, j.signalised) for j in net.junctions.values()),
    )


def test_same_seed_same_town_and_other_seed_differs():
    spec = SPECS[0]
    assert _fingerprint(build_network(spec, 5)) == _fingerprint(build_network(spec, 5))
    assert _fingerprint(build_network(spec, 5)) != _fingerprint(build_network(spec, 6))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['name']}-{s.get('lanes')}")
def test_lane_graph_is_consistent(spec):
    net = build_network(spec, 1)
    for lane in net.lanes.values():
        assert lane.successors, f"{lane.id} dead-ends"
        assert lane.predecessors, f"{lane.id} cannot be reached"
        for s in lane.successors:
            assert lane.id in net.lanes[s].predecessors
            assert np.allclose(lane.centre[-1], net.lanes[s].centre[0], atol=1e-6), f"{lane.id} -> {s} has a gap"
        if lane.junction_id is not None:
            assert lane.turn is not None and len(lane.successors) == 1 and len(lane.predecessors) == 1
            h0 = math.atan2(*(lane.centre[1] - lane.centre[0])[::-1])
            h1 = math.atan2(*(lane.centre[-1] - lane.centre[-2])[::-1])
            rel = wrap_angle(h1 - h0)
            expected = Turn.STRAIGHT if abs(rel) < 0.5 else (Turn.LEFT if rel > 0 else Turn.RIGHT)
            assert lane.turn == expected, lane.id
        for side, back in (("left", "right"), ("right", "left")):
            nb = getattr(lane, side)
            if nb is not None:
                assert getattr(net.lanes[nb], back) == lane.id, f"{lane.id}.{side} is not symmetric"
                assert net.lanes[nb].road_id == lane.road_id
                # same direction: neighbours run parallel, one lane width apart
                d = np.min(np.hypot(*(net.lanes[nb].centre[:, None] - lane.centre[None]).transpose(2, 0, 1)), 1)
                assert abs(np.median(d) - lane.width) < 0.2
        if lane.junction_id is None:
            assert (lane.left is None) == (lane.left_marking == Marking.SOLID_YELLOW)
            assert (lane.right is None) == (lane.right_marking == Marking.SOLID_WHITE)


def test_grid_has_both_junction_kinds_lights_crosswalks_and_buildings():
    net = build_network({"name": "grid", "rows": 4, "cols": 4, "lanes": 2, "block_m": 90, "signalised": 0.5}, 2)
    controlled = [j for j in net.junctions.values() if len(j.polygon) and j.id not in ("J0_0", "J0_3", "J3_0", "J3_3")]
    assert any(j.signalised for j in controlled) and not all(j.signalised for j in controlled)
    assert any(lane.stop_sign for lane in net.lanes.values())
    assert all(net.lanes[lid].light_id == h.id for h in net.lights.values() for lid in h.lane_ids)
    assert len(net.crosswalks) >= len(controlled) * 3 and net.sidewalks and net.buildings
    graph = LaneGraph(net)
    for b in net.buildings:  # buildings stay off the roads
        for p in b.footprint:
            hit = graph.nearest(float(p[0]), float(p[1]), max_dist=0.0)
            assert hit is None


def test_arterial_has_three_lanes_each_way_and_signals():
    net = build_network({"name": "arterial", "lanes": 3, "length_m": 600, "junctions": 3}, 0)
    main = [lane for lane in net.lanes.values() if lane.road_id == "H1_1"]
    assert len(main) == 6
    assert sum(j.signalised for j in net.junctions.values()) == 5
    assert max(lane.speed_limit for lane in net.lanes.values()) == pytest.approx(60 / 3.6)


def test_curved_roads_exist_and_keep_lanes_parallel():
    net = build_network({"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 120, "curved": 1.0}, 4)
    lane = net.lanes["H0_0+0"]
    assert np.ptp(lane.centre[:, 1]) > 2.0  # it bends

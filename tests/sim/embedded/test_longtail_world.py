"""World features of the long-tail scenarios: highway ramps, parking lanes, actor flows, doors that open, emergency
vehicles (and the yield infraction), vehicles invading the oncoming lane, loss of control, passing through the
oncoming lane, lights forced on another approach."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from world_helpers import backend, follow_route, scenario

from scenarios import scenario_from_dict
from sim.core import InfractionType, VehicleControl, WorldState
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.towns import build_network

HIGHWAY = {"name": "highway", "lanes": 3}
# eastbound lanes at y = -1.75, -5.25, -8.75; the acceleration lane at y = -12.25 from x = 320 to 440; the on-ramp
# reaches (200, -30.1) on its way up; the deceleration lane spans x = 800..900
RAMP_START = [200.0, -30.1]


def _highway(**fields: Any):
    data = {"name": "hw", "description": "d", "map": HIGHWAY, "route": {"waypoints": [RAMP_START, [700.0, -8.75]]}}
    return scenario_from_dict({**data, **fields})


def _run(b, seconds: float, control: Any) -> list:
    events = []
    for _ in range(int(seconds / b.dt)):
        gt = b.ground_truth()
        b.step(control(gt) if callable(control) else control)
        events += b.events()
    return events


def _offset_driver(d: float, speed: float):
    """Pure pursuit on the route shifted `d` metres to its left."""

    def drive(gt: WorldState) -> VehicleControl:
        ego = gt.ego
        tx, ty, _ = gt.route.to_world(gt.route_s + max(6.0, ego.speed), d)
        alpha = math.atan2(ty - ego.y, tx - ego.x) - ego.yaw
        delta = math.atan2(2 * 2.9 * math.sin(alpha), math.hypot(tx - ego.x, ty - ego.y))
        err = speed - ego.speed
        return VehicleControl.clipped(max(0.0, 0.5 * err), -delta / math.radians(35.0), max(0.0, -0.5 * err))

    return drive


# ---- highway ----------------------------------------------------------------------------------------------------
def test_highway_has_an_on_ramp_that_merges_and_an_off_ramp_that_leaves() -> None:
    g = LaneGraph(build_network(HIGHWAY, 0))
    acc, kerb = g.index["ACC"], g.index["E2.1"]
    assert g.succ[g.index["ON"]] == [acc] and not g.succ[acc]  # the acceleration lane ends ...
    assert g.left[acc] == kerb and g.right[kerb] == -1  # ... beside the kerb lane, and nothing changes into it
    dec = g.index["DEC"]
    assert g.right[g.index["E2.3"]] == dec and g.succ[dec] == [g.index["OFF"]]
    assert g.pose1(g.index["OFF"], float(g.length[g.index["OFF"]]))[1] < -30.0  # the off-ramp leaves the road


def test_a_route_from_the_ramp_merges_into_the_kerb_lane_and_an_exit_route_leaves() -> None:
    b = backend(_highway())
    plan = b.planned_route
    assert [c.side for c in plan.lane_changes] == ["left"]
    assert plan.route.lane_ids[0] == "ON" and plan.route.lane_ids[-1].startswith("E2.")
    b = backend(_highway(route={"waypoints": [[100.0, -1.75], [1000.0, -30.0]]}))
    assert [c.side for c in b.planned_route.lane_changes] == ["right"] * 3
    assert b.planned_route.route.lane_ids[-1] == "OFF"


def test_background_traffic_on_the_acceleration_lane_merges_and_traffic_at_road_ends_comes_back() -> None:
    sc = _highway(traffic={"vehicles": 24}, route={"waypoints": [[20.0, -1.75], [300.0, -1.75]]})
    b = backend(sc, seed=2)
    w = b.world
    k = w.traffic.add(
        999, w.traffic.kinds[0], w.graph.index["ON"], 150.0, 12.0, 12.0, None, {"role_name": "background"}
    )
    assert k >= 0
    lanes_seen = set()
    for _ in range(int(60 / b.dt)):
        b.step(VehicleControl(brake=1.0))
        lanes_seen.add(w.graph.ids[int(w.traffic.lane[w.traffic.index_of(999)])])
    assert "ON" in lanes_seen and "E2.1" in lanes_seen  # it merged into the kerb lane from the ramp
    ends = w.flows.ending[w.traffic.lane] & (w.traffic.s >= w.graph.length[w.traffic.lane] - 1.0)
    assert not ends.any()  # nobody piles up where a road ends: they re-entered the map
    assert len(w.traffic.ids) == 25


# ---- parking lanes ---------------------------------------------------------------------------------------------
def test_parking_lanes_line_the_kerb_and_carry_no_traffic() -> None:
    spec = {"name": "grid", "rows": 3, "cols": 3, "lanes": 1, "block_m": 90, "parking": True}
    net = build_network(spec, 3)
    g = LaneGraph(net)
    parking = [i for i in range(len(g.ids)) if g.is_parking[i]]
    assert len(parking) == 2 * 12  # both sides of each of the 12 roads
    for i in parking:
        kerb = int(g.left[i])
        assert kerb >= 0 and g.right[kerb] == -1 and not g.succ[i]
        x, y, _ = g.pose1(i, float(g.length[i]) / 2)
        assert abs(abs(g.project(kerb, x, y).d) - (3.5 + 2.5) / 2) < 0.05
    for walk in net.sidewalks:  # sidewalks moved out beyond the parking lanes
        for i in parking:
            x, y, _ = g.pose1(i, float(g.length[i]) / 2)
            assert np.min(np.hypot(*(walk.centre - [x, y]).T)) > 2.5 / 2 + 3.0 / 2 - 0.05
    b = backend(scenario(map=spec, traffic={"vehicles": 30}, route={"maneuvers": ["straight"], "length_m": 40}))
    assert not g.is_parking[b.world.traffic.lane].any()


def test_a_route_from_a_parking_spot_first_changes_into_the_traffic_lane() -> None:
    spec = {"name": "grid", "rows": 3, "cols": 3, "lanes": 1, "block_m": 90, "parking": True}
    b = backend(scenario(map=spec, route={"start": [30.0, 84.75, 0.0], "maneuvers": ["straight"], "length_m": 40}))
    plan = b.planned_route
    assert plan.route.lane_ids[0].endswith("P") and not plan.route.lane_ids[-1].endswith("P")
    assert [c.side for c in plan.lane_changes] == ["left"]
    events = _run(b, 12.0, lambda gt: follow_route(gt, 5.0))
    assert not [e for e in events if e.type == InfractionType.OUTSIDE_ROUTE_LANES]


# ---- flows -----------------------------------------------------------------------------------------------------
def _flow_scenario(**flow: Any):
    # westbound on the road beyond junction J1_1, leaving the map before that junction's stop line
    source = {"junction": 0, "s": 70, "d": 3.5, "yaw_deg": 180}
    spec = {"source": source, "speed": 9.0, "gap_m": [12, 20], "length_m": 35, **flow}
    return scenario(flows=[spec], route={"start": [20.0, 88.25, 0.0], "maneuvers": ["straight"], "length_m": 60})


def test_a_flow_keeps_its_gaps_and_its_vehicles_leave_after_their_length() -> None:
    b = backend(_flow_scenario())
    w = b.world
    flow = w.flows.flows[0]
    prefilled = set(flow.members) - {flow.last_id}
    seen: dict[int, list[tuple[float, float]]] = {}
    for _ in range(int(40 / b.dt)):
        b.step(VehicleControl(brake=1.0))
        t = w.traffic
        for k, aid in enumerate(t.ids):
            if not t.attributes[k].get("flow"):
                continue
            if aid not in seen and abs(t.s[k] - flow.s) < 1e-6:  # it has just entered at the source
                ahead = [t.s[j] - t.s[k] for j in range(len(t.ids)) if j != k and t.lane[j] == t.lane[k]]
                assert min(d for d in ahead if d > 0) - 4.6 >= 12.0 - 0.5  # no closer than the smallest gap
            seen.setdefault(aid, []).append((float(t.x[k]), float(t.y[k])))
    assert len(seen) > 8
    gone = [aid for aid in seen if aid not in w.traffic.ids and aid not in prefilled]
    assert len(gone) > 5  # vehicles left the map ...
    for aid in gone:
        driven = float(np.sum(np.hypot(*np.diff(np.array(seen[aid]), axis=0).T)))
        assert 35 - 1.0 < driven < 35 + 1.0  # ... once they had driven the flow's length


def test_a_flow_is_the_same_for_the_same_seed_and_prefilled_when_asked() -> None:
    def positions(seed: int, **flow: Any) -> list[tuple[int, float]]:
        b = backend(_flow_scenario(**flow), seed=seed)
        for _ in range(40):
            b.step(VehicleControl(brake=1.0))
        t = b.world.traffic
        return [(aid, round(float(t.s[k]), 6)) for k, aid in enumerate(t.ids)]

    assert positions(1) == positions(1)
    assert positions(1) != positions(2)
    assert len(positions(1, length_m=80)) > len(positions(1, length_m=80, prefill=False))


# ---- doors, invading vehicles, emergency vehicles ----------------------------------------------------------------
def test_a_parked_car_opens_its_door_towards_the_lane_and_the_door_can_be_hit() -> None:
    parked = {"kind": "parked_vehicle", "at": {"s": 40, "d": -2.6}, "behavior": {"type": "open_door"}}
    b = backend(
        scenario(map={**scenario().map.model_dump(), "lanes": 1}, actors=[{**parked, "trigger": {"ego_within_m": 25}}])
    )
    before = next(a for a in b.ground_truth().actors if a.id == 1)
    events = _run(b, 12.0, lambda gt: follow_route(gt, 6.0))
    after = next(a for a in b.ground_truth().actors if a.id == 1)
    assert after.attributes.get("door_open") and after.width == pytest.approx(before.width + 1.0)
    _, d_before = b.ground_truth().route.project(before.x, before.y)
    _, d_after = b.ground_truth().route.project(after.x, after.y)
    assert d_after > d_before  # the box grew towards the route
    assert [e.other for e in events if e.type == InfractionType.COLLISION_STATIC] == ["parked_vehicle:1"]


def test_an_invading_vehicle_drives_offset_into_the_oncoming_lane() -> None:
    car = {
        "kind": "vehicle",
        "at": {"s": 60, "d": 3.5, "yaw_deg": 180},
        "speed": 6,
        "behavior": {"type": "invade", "offset_m": 1.5},
    }
    b = backend(scenario(map={**scenario().map.model_dump(), "lanes": 1}, actors=[car]))
    w = b.world
    for _ in range(20):
        b.step(VehicleControl(brake=1.0))
    k = w.traffic.index_of(1)
    hit = w.graph.project(int(w.traffic.lane[k]), float(w.traffic.x[k]), float(w.traffic.y[k]))
    assert hit.d == pytest.approx(1.5, abs=0.05)  # left of its own lane: towards ours
    assert w.traffic.v[k] > 0.5


def _emergency(**ego: Any):
    ev = {"kind": "vehicle", "at": {"s": 0, "d": 0}, "behavior": {"type": "emergency", "distance_m": 45}}
    return scenario(
        map={"name": "arterial", "lanes": 2, "length_m": 1200, "junctions": 1},
        route={"start": [100.0, -5.25, 0.0], "maneuvers": [], "length_m": 420},
        actors=[ev],
        ego=ego,
    )


def test_an_emergency_vehicle_blocked_by_the_ego_is_a_yield_infraction() -> None:
    b = backend(_emergency(speed=8.0))
    ev = next(a for a in b.ground_truth().actors if a.id == 1)
    assert ev.attributes.get("emergency") and ev.x == pytest.approx(b.ground_truth().ego.x - 45.0, abs=0.5)
    events = _run(b, 20.0, lambda gt: follow_route(gt, 8.0))
    yields = [e for e in events if e.type == InfractionType.YIELD_EMERGENCY_VEHICLE]
    assert len(yields) == 1 and yields[0].other == "vehicle:1"
    assert 1 not in b.world.traffic.ids  # its scenario is over: it left
    assert not [e for e in events if e.type == InfractionType.COLLISION_VEHICLE]


def test_making_way_for_the_emergency_vehicle_is_clean() -> None:
    b = backend(_emergency(speed=8.0))
    events = _run(b, 25.0, _offset_driver(3.5, 8.0))  # in the lane to the left of the route, out of its way
    assert not [e for e in events if e.type == InfractionType.YIELD_EMERGENCY_VEHICLE]
    assert 1 not in b.world.traffic.ids  # it passed and drove on


# ---- loss of control, the oncoming lane, lights of other approaches -------------------------------------------------
def test_a_disturbance_pushes_the_ego_off_its_line_only_inside_its_stretch() -> None:
    def lateral(**fields: Any) -> tuple[float, float]:
        b = backend(
            scenario(route={"start": [20.0, 88.25, 0.0], "maneuvers": [], "length_m": 60}, ego={"speed": 8.0}, **fields)
        )
        worst_in, worst_out = 0.0, 0.0
        for _ in range(int(6 / b.dt)):
            gt = b.ground_truth()
            b.step(VehicleControl.clipped(0.25, 0.0, 0.0))
            d = abs(gt.extras["route_d"])
            if 10.0 <= gt.route_s < 25.0:
                worst_in = max(worst_in, d)
            elif gt.route_s < 10.0:
                worst_out = max(worst_out, d)
        return worst_in, worst_out

    calm_in, _ = lateral()
    pushed_in, pushed_out = lateral(disturbances=[{"at_s": 10, "length_m": 15, "steer": 0.15, "steer_noise": 0.0}])
    assert calm_in < 0.05 and pushed_in > 0.5 and pushed_out < 0.05


@pytest.mark.parametrize("allowed", [True, False])
def test_the_oncoming_lane_counts_as_a_route_lane_only_where_the_scenario_says_so(allowed: bool) -> None:
    sc = scenario(
        map={**scenario().map.model_dump(), "lanes": 1},
        route={"start": [20.0, 88.25, 0.0], "maneuvers": [], "length_m": 45},
        criteria={"oncoming_lane_ok": allowed},
    )
    events = _run(backend(sc), 5.0, _offset_driver(3.5, 7.0))
    outside = [e for e in events if e.type == InfractionType.OUTSIDE_ROUTE_LANES]
    assert bool(outside) != allowed


def test_a_light_can_be_forced_for_the_approach_from_the_left() -> None:
    b = backend(
        scenario(lights=[{"junction": 0, "approach": "left", "state": "green"}, {"junction": 0, "state": "red"}])
    )
    gt = b.ground_truth()
    colours = {light.id: light.color.value for light in gt.lights if light.id.startswith("J1_1")}
    # we drive east into J1_1 (arm W); traffic from our left comes down from the north arm
    assert colours["J1_1:W"] == "red" and colours["J1_1:N"] == "green"

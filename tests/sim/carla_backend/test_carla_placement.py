"""Route-relative scenario actors as CARLA spawn poses on a real `carla.Map` (OpenDRIVE T-junction, no server)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import carla
import numpy as np
import pytest
from xodr_town import t_junction_xodr

from scenarios import ScenarioError, scenario_from_dict
from sim.carla_backend.actors import kind_of
from sim.carla_backend.blueprints import BLUEPRINTS, CARGO_OFFSETS
from sim.carla_backend.network import build_network
from sim.carla_backend.placement import cargo_transforms, crossing_distance, ground_height, plan_actors
from sim.carla_backend.routing import plan_route
from sim.core import ActorKind
from sim.embedded.lanegraph import LaneGraph


@pytest.fixture(scope="module")
def town() -> tuple[carla.Map, LaneGraph]:
    carla_map = carla.Map("TJ2", t_junction_xodr(lanes=2))
    return carla_map, LaneGraph(build_network(carla_map))


def scenario(actors: list[dict]) -> object:
    return scenario_from_dict(
        {
            "name": "placement",
            "description": "actors around a straight route through the T-junction",
            "map": {"name": "Town03"},
            "route": {"start": [10.0, -1.75, 0.0], "maneuvers": ["straight"], "length_m": 60},
            "actors": actors,
        }
    )


def plans_for(town: tuple[carla.Map, LaneGraph], actors: list[dict]) -> list:
    sc = scenario(actors)
    graph = town[1]
    route = plan_route(graph, sc.route, np.random.default_rng(0)).route
    return plan_actors(sc.actors, route, graph, "placement.yaml")


def test_vehicles_snap_to_the_lane_running_their_way(town) -> None:
    lead, oncoming, neighbour = plans_for(
        town,
        [
            {"kind": "truck", "at": {"s": 30, "d": 0.3}, "cargo": "cones"},
            {"kind": "vehicle", "at": {"s": 40, "d": 3.5, "yaw_deg": 180}},
            {"kind": "vehicle", "at": {"s": 20, "d": -3.2}, "behavior": {"type": "cut_in", "side": "right"}},
        ],
    )
    assert lead.lane_id == "1:0:-1" and (lead.x, lead.y) == pytest.approx((40.0, -1.75), abs=0.05)
    assert lead.yaw == pytest.approx(0.0, abs=1e-6) and lead.moving_vehicle and lead.kind == ActorKind.TRUCK
    assert oncoming.lane_id == "1:0:1" and oncoming.y == pytest.approx(1.75, abs=0.05)
    assert abs(math.remainder(oncoming.yaw - math.pi, 2 * math.pi)) < 1e-6
    assert neighbour.lane_id == "1:0:-2" and neighbour.y == pytest.approx(-5.25, abs=0.05)
    tf = oncoming.transform(z=0.3)  # to CARLA: y mirrored, heading negated
    assert isinstance(tf, carla.Transform)
    assert (tf.location.x, tf.location.y, tf.location.z) == pytest.approx((50.0, -1.75, 0.3), abs=0.05)
    assert abs(math.remainder(tf.rotation.yaw - 180.0, 360.0)) < 1e-3


def test_walkers_props_and_parked_cars_stand_where_placed(town) -> None:
    walker, cone, parked, bike = plans_for(
        town,
        [
            {"kind": "pedestrian", "at": {"s": 50, "d": 6.0}, "behavior": {"type": "cross", "speed": 1.2}},
            {"kind": "cone", "at": {"s": 25, "d": 1.0}},
            {"kind": "parked_vehicle", "at": {"s": 35, "d": -7.5}},
            {"kind": "bicycle", "at": {"s": 45, "d": -6.0}, "behavior": {"type": "cross", "distance_m": 9}},
        ],
    )
    assert (walker.x, walker.y) == pytest.approx((60.0, 4.25)) and walker.lane_id is None
    assert walker.yaw == pytest.approx(-math.pi / 2)  # towards and across the route, from its left
    assert crossing_distance(walker.spec) == pytest.approx(12.0)
    assert bike.yaw == pytest.approx(math.pi / 2) and crossing_distance(bike.spec) == pytest.approx(9.0)
    assert not bike.moving_vehicle
    assert (cone.x, cone.y, cone.yaw) == pytest.approx((35.0, -0.75, 0.0)) and cone.kind.is_static
    assert parked.y == pytest.approx(-9.25) and not parked.moving_vehicle


def test_junction_anchored_actor_and_placement_errors_name_the_actor(town) -> None:
    (crossing,) = plans_for(town, [{"kind": "vehicle", "at": {"junction": 0, "s": 15, "d": 3.5, "yaw_deg": 180}}])
    assert crossing.lane_id == "4:0:1" and crossing.x == pytest.approx(
        115.0, abs=0.5
    )  # 15 m into the junction, oncoming
    with pytest.raises(ScenarioError, match=r"placement.yaml.*actors\[0\].*not on a lane running its way"):
        plans_for(town, [{"kind": "vehicle", "at": {"s": 30, "d": 15.0}}])
    with pytest.raises(ScenarioError, match=r"actors\[1\].at: junction 2 does not exist"):
        plans_for(town, [{"kind": "cone", "at": {"s": 5}}, {"kind": "cone", "at": {"junction": 2, "s": 0}}])


def test_ground_height_comes_from_the_map_waypoint_under_the_point(town) -> None:
    carla_map, _ = town
    assert ground_height(carla_map, 40.0, -1.75) == pytest.approx(0.0)
    asked: list[carla.Location] = []

    class Hilly:  # a map whose road is 12.5 m up; records where it was asked
        def get_waypoint(self, location, project_to_road, lane_type):
            asked.append(location)
            assert project_to_road and lane_type == carla.LaneType.Any
            return SimpleNamespace(transform=carla.Transform(carla.Location(x=location.x, y=location.y, z=12.5)))

    assert ground_height(Hilly(), 3.0, 4.0) == pytest.approx(12.5)
    assert (asked[0].x, asked[0].y) == pytest.approx((3.0, -4.0))


def test_cargo_rides_on_the_truck_in_its_own_frame() -> None:
    transforms = cargo_transforms(CARGO_OFFSETS)
    assert len(transforms) == len(CARGO_OFFSETS)
    for tf, (x, y, z) in zip(transforms, CARGO_OFFSETS, strict=True):
        assert (tf.location.x, tf.location.y, tf.location.z) == pytest.approx((x, -y, z))


def test_every_kind_has_blueprints_and_background_actors_get_kinds() -> None:
    assert set(BLUEPRINTS) == set(ActorKind)
    assert all(
        BLUEPRINTS[k][0].startswith("static.prop.") for k in ActorKind if k in (ActorKind.CONE, ActorKind.BARRIER)
    )
    assert BLUEPRINTS[ActorKind.PEDESTRIAN][0].startswith("walker.pedestrian.")
    assert kind_of("walker.pedestrian.0001", {}) == ActorKind.PEDESTRIAN
    assert kind_of("vehicle.diamondback.century", {"number_of_wheels": "2"}) == ActorKind.BICYCLE
    assert kind_of("vehicle.carlamotors.carlacola", {"base_type": "truck", "number_of_wheels": "4"}) == ActorKind.TRUCK
    assert kind_of("vehicle.audi.a2", {"base_type": "car", "number_of_wheels": "4"}) == ActorKind.VEHICLE
    assert kind_of("static.prop.streetbarrier", {}) == ActorKind.BARRIER

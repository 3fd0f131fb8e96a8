"""Weather mapping, light states and forcing, infraction bookkeeping and sensor plumbing with real carla types."""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import carla
import numpy as np
import pytest
from xodr_town import t_junction_xodr

from sim.carla_backend.infractions import CarlaInfractions, CollisionBook, collision_type, light_codes
from sim.carla_backend.lights import LightHolds, apply_wanted, color_of
from sim.carla_backend.network import build_network, stop_points_from_trigger
from sim.carla_backend.sensors import (
    CollisionRecord,
    EventBuffer,
    FrameLatch,
    camera_attributes,
    camera_transform,
    collision_record,
    lane_invasion_record,
)
from sim.carla_backend.weather import BASE, WEATHER_TABLE, weather_parameters
from sim.core import WEATHER_PRESETS, ActorKind, CameraConfig, EgoState, InfractionType, LightColor
from sim.embedded.infractions import InfractionConfig, InfractionMonitor
from sim.embedded.lanegraph import LaneGraph


# ---- weather ---------------------------------------------------------------------------------------------------
def test_every_preset_maps_to_carla_weather() -> None:
    assert set(WEATHER_TABLE) == set(WEATHER_PRESETS)
    for name, row in WEATHER_TABLE.items():
        weather = weather_parameters(name)
        assert isinstance(weather, carla.WeatherParameters)
        for field, value in {**BASE, **row}.items():
            assert getattr(weather, field) == pytest.approx(value, abs=1e-4), (name, field)
    assert weather_parameters("night").sun_altitude_angle < 0 < weather_parameters("sunset").sun_altitude_angle
    assert weather_parameters("fog").fog_density > 30 and weather_parameters("wet").precipitation > 0
    assert weather_parameters("clear_noon").precipitation == 0 and weather_parameters("clear_noon").fog_density == 0
    with pytest.raises(ValueError, match=r"snow.*clear_noon"):
        weather_parameters("snow")


# ---- lights ----------------------------------------------------------------------------------------------------
class FakeLight:
    """A traffic-light actor's client-side surface: `state` and `set_state` with the real carla enum."""

    def __init__(self, state: carla.TrafficLightState) -> None:
        self.state, self.calls = state, 0

    def set_state(self, state: carla.TrafficLightState) -> None:
        self.state, self.calls = state, self.calls + 1


def test_light_colours() -> None:
    assert color_of(carla.TrafficLightState.Red) == LightColor.RED
    assert color_of(carla.TrafficLightState.Yellow) == LightColor.YELLOW
    assert color_of(carla.TrafficLightState.Green) == LightColor.GREEN
    assert color_of(carla.TrafficLightState.Unknown) == LightColor.OFF
    assert list(light_codes([LightColor.GREEN, LightColor.RED])) == [0, 2]


def test_forced_lights_hold_expire_and_keep_crossing_traffic_red() -> None:
    lights = {"tl1": FakeLight(carla.TrafficLightState.Red), "tl2": FakeLight(carla.TrafficLightState.Green)}
    holds = LightHolds()
    holds.force("tl1", LightColor.GREEN, t=0.0, duration_s=5.0)
    groups = {"tl1": ("tl2",)}
    wanted = holds.wanted(1.0, groups)
    assert wanted == {"tl1": LightColor.GREEN, "tl2": LightColor.RED}
    apply_wanted(lights, wanted)
    assert lights["tl1"].state == carla.TrafficLightState.Green and lights["tl2"].state == carla.TrafficLightState.Red
    apply_wanted(lights, holds.wanted(2.0, groups))
    assert lights["tl1"].calls == 1 and lights["tl2"].calls == 1  # nothing changed: no calls
    lights["tl1"].state = carla.TrafficLightState.Yellow  # the group's cycle moved on: re-asserted
    apply_wanted(lights, holds.wanted(3.0, groups))
    assert lights["tl1"].state == carla.TrafficLightState.Green
    assert holds.wanted(5.0, groups) == {} and not holds.holds  # expired
    holds.force("tl2", LightColor.RED, t=6.0)
    assert holds.wanted(1e6) == {"tl2": LightColor.RED}  # no duration: for good


# ---- infractions -----------------------------------------------------------------------------------------------
def ego_at(x: float, y: float = -1.75, speed: float = 8.0) -> EgoState:
    return EgoState(x=x, y=y, yaw=0.0, speed=speed, length=4.8, width=2.0)


def test_collision_classes_and_one_event_per_contact() -> None:
    assert collision_type("walker.pedestrian.0001") == InfractionType.COLLISION_PEDESTRIAN
    assert collision_type("vehicle.audi.a2") == InfractionType.COLLISION_VEHICLE
    assert collision_type("static.prop.trafficcone01") == InfractionType.COLLISION_STATIC
    assert collision_type("") == InfractionType.COLLISION_STATIC
    book = CollisionBook(dedupe_s=2.0)
    hit = CollisionRecord(frame=10, other_id=42, other_type="vehicle.audi.a2", impulse=1500.0)
    first = book.add(hit, 1.0, ego_at(20.0))
    assert first is not None and first.type == InfractionType.COLLISION_VEHICLE and first.other == "vehicle.audi.a2:42"
    assert first.location == (20.0, -1.75) and first.details["impulse"] == 1500.0
    assert book.add(hit, 1.5, ego_at(20.1)) is None  # the same contact, reported again
    assert book.add(hit, 3.0, ego_at(20.2)) is None  # still touching: every report extends the contact
    assert book.add(hit, 6.0, ego_at(30.0)) is not None  # a new contact later
    assert book.add(CollisionRecord(11, 7, "walker.pedestrian.0002", 50.0), 6.0, ego_at(30.0)) is not None
    parked = CollisionBook(known_kinds={8: ActorKind.PARKED_VEHICLE, 9: ActorKind.BICYCLE})
    assert (
        parked.add(CollisionRecord(1, 8, "vehicle.audi.a2", 9.0), 0.0, ego_at(0.0)).type
        == InfractionType.COLLISION_STATIC
    )
    assert (
        parked.add(CollisionRecord(1, 9, "vehicle.bh.crossbike", 9.0), 0.0, ego_at(0.0)).type
        == InfractionType.COLLISION_VEHICLE
    )


def test_sensor_events_become_plain_records() -> None:
    other = SimpleNamespace(id=42, type_id="vehicle.tesla.model3")
    event = SimpleNamespace(frame=99, other_actor=other, normal_impulse=carla.Vector3D(x=3.0, y=4.0, z=0.0))
    assert collision_record(event) == CollisionRecord(99, 42, "vehicle.tesla.model3", 5.0)
    world = SimpleNamespace(frame=5, other_actor=None, normal_impulse=carla.Vector3D(0.0, 0.0, 2.0))
    assert collision_record(world) == CollisionRecord(5, 0, "", 2.0)
    markings = [SimpleNamespace(type=carla.LaneMarkingType.Solid), SimpleNamespace(type=carla.LaneMarkingType.Curb)]
    assert lane_invasion_record(SimpleNamespace(frame=7, crossed_lane_markings=markings)).markings == ("Solid", "Curb")


@pytest.fixture(scope="module")
def signalled() -> tuple[LaneGraph, frozenset[int]]:
    carla_map = carla.Map("TJ", t_junction_xodr())
    transform = carla.Transform(carla.Location(x=80.0, y=1.75, z=0.0), carla.Rotation(yaw=90.0))
    volume = carla.BoundingBox(carla.Location(0.0, 0.0, 1.0), carla.Vector3D(1.0, 1.0, 1.0))
    stops = stop_points_from_trigger(transform, volume, lambda loc: carla_map.get_waypoint(loc), "tl9")
    graph = LaneGraph(build_network(carla_map, stop_points=stops))
    route = frozenset(graph.index[k] for k in ("1:0:-1", "4:0:-1", "2:0:-1"))
    return graph, route


def drive(infractions: CarlaInfractions, graph: LaneGraph, color: LightColor, xs: np.ndarray, **kw) -> list:
    for i, x in enumerate(xs):
        ego = ego_at(float(x), **kw)
        hit = graph.nearest(ego.x, ego.y, ego.yaw, max_dist=0.0)
        infractions.update(0.05 * (i + 1), ego, hit.lane if hit else -1, 0.0, light_codes([color]), 0.4)
    return infractions.drain()


def test_running_the_red_light_of_a_trigger_volume_is_an_infraction(signalled) -> None:
    graph, route = signalled
    make = lambda: CarlaInfractions(InfractionMonitor(graph, route, InfractionConfig()))  # noqa: E731
    ran = drive(make(), graph, LightColor.RED, np.arange(90.0, 100.0, 0.4))
    assert [e.type for e in ran] == [InfractionType.RED_LIGHT] and ran[0].other == "light:tl9"
    assert drive(make(), graph, LightColor.GREEN, np.arange(90.0, 100.0, 0.4)) == []


def test_sensor_records_and_monitor_events_drain_together(signalled) -> None:
    graph, route = signalled
    infractions = CarlaInfractions(InfractionMonitor(graph, route, InfractionConfig()), CollisionBook(2.0))
    ego = ego_at(20.0)
    lane = graph.nearest(ego.x, ego.y, ego.yaw, max_dist=0.0).lane
    hit = CollisionRecord(3, 11, "static.prop.trafficcone01", 20.0)
    crossing = lane_invasion_record(SimpleNamespace(frame=3, crossed_lane_markings=[SimpleNamespace(type="Broken")]))
    infractions.update(0.05, ego, lane, 0.0, light_codes([LightColor.GREEN]), 0.4, [hit, hit], [crossing])
    events = infractions.drain()
    assert [e.type for e in events] == [InfractionType.COLLISION_STATIC] and events[0].other.endswith(":11")
    assert infractions.lane_invasions == {"Broken": 1} and infractions.drain() == []
    off = ego_at(20.0, y=-30.0)
    infractions.update(0.1, off, -1, -28.0, light_codes([LightColor.GREEN]), math.hypot(0.0, 28.25))
    assert InfractionType.OFF_ROAD in {e.type for e in infractions.drain()}


# ---- sensors ---------------------------------------------------------------------------------------------------
def test_frame_latch_waits_for_the_asked_frame() -> None:
    latch = FrameLatch()
    latch.put(4, "old")
    assert latch.get(3, 0.1) == "old"
    threading.Timer(0.05, lambda: latch.put(5, "new")).start()
    started = time.monotonic()
    assert latch.get(5, 2.0) == "new" and time.monotonic() - started < 1.0
    latch.put(4, "late")  # an older frame never replaces a newer one
    assert latch.get(5, 0.1) == "new"
    with pytest.raises(TimeoutError, match="frame 9"):
        latch.get(9, 0.05)
    buffer = EventBuffer()
    buffer.add(1)
    buffer.add(2)
    assert buffer.drain() == [1, 2] and buffer.drain() == []


def test_camera_blueprint_attributes_and_mount() -> None:
    camera = CameraConfig(width=480, height=270, fov_deg=90.0, x=1.5, y=0.2, z=1.7, pitch_deg=-5.0)
    assert camera_attributes(camera, 0.05) == {
        "image_size_x": "480",
        "image_size_y": "270",
        "fov": "90",
        "sensor_tick": "0.05",
    }
    tf = camera_transform(camera, carla.Location(x=0.1, y=0.0, z=0.75))
    assert (tf.location.x, tf.location.y, tf.location.z) == pytest.approx((1.6, -0.2, 1.7))  # 0.2 m left is CARLA -y
    assert tf.rotation.pitch == pytest.approx(-5.0)
    mount = math.sqrt(tf.location.x**2 + tf.location.y**2 + tf.location.z**2)
    assert mount < 3.0  # inside the leaderboard's sensor radius

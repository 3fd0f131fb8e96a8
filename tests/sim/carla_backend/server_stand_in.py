"""A scripted stand-in for a CARLA server, for driving `CarlaBackend` end to end where no server can run.

It is not CARLA: it answers the calls the backend makes with plain Python objects and real carla data types
(Transform, BoundingBox, WorldSettings, Vector3D, TrafficLightState, a `carla.Map` parsed from OpenDRIVE). The ego is a
kinematic bicycle, other actors stand still, collisions are box overlaps, one cycling traffic light guards road 1's
entry into the junction. `die_at_frame` makes every call from that frame on time out as a dead server's would.
"""

from __future__ import annotations

import fnmatch
import math
from types import SimpleNamespace
from typing import Any

import carla
import numpy as np
from xodr_town import t_junction_xodr

from sim.carla_backend.frames import from_location, to_transform, yaw_from_carla
from sim.embedded.geometry import boxes_overlap

TIMEOUT = "time-out of 2000ms while waiting for the simulator, make sure the simulator is ready and connected"
WHEELBASE_M, MAX_STEER_DEG = 2.9, 35.0
BLUEPRINTS = {
    "vehicle.lincoln.mkz_2020": ("4", "car"),
    "vehicle.audi.a2": ("4", "car"),
    "vehicle.tesla.model3": ("4", "car"),
    "vehicle.carlamotors.european_hgv": ("4", "truck"),
    "vehicle.ford.ambulance": ("4", "van"),
    "walker.pedestrian.0001": (None, None),
    "static.prop.trafficcone01": (None, None),
    "static.prop.constructioncone": (None, None),
    "static.prop.streetbarrier": (None, None),
    "controller.ai.walker": (None, None),
    "sensor.camera.rgb": (None, None),
    "sensor.other.collision": (None, None),
    "sensor.other.lane_invasion": (None, None),
}
EXTENT = {"vehicle.": (2.4, 0.95, 0.75), "walker.": (0.25, 0.25, 0.9), "static.": (0.2, 0.2, 0.4)}


class Blueprint:
    def __init__(self, bp_id: str) -> None:
        self.id = bp_id
        wheels, base = BLUEPRINTS[bp_id]
        self.attributes: dict[str, str] = {"role_name": ""}
        if wheels:
            self.attributes |= {"number_of_wheels": wheels, "base_type": base}

    def has_attribute(self, key: str) -> bool:
        return key in self.attributes or self.id.startswith("sensor.")

    def set_attribute(self, key: str, value: str) -> None:
        self.attributes[key] = value

    def get_attribute(self, key: str) -> Any:
        return SimpleNamespace(as_int=lambda: int(self.attributes[key]))


class Library:
    def find(self, bp_id: str) -> Blueprint:
        return Blueprint(bp_id)

    def filter(self, pattern: str) -> list[Blueprint]:
        return [Blueprint(b) for b in BLUEPRINTS if fnmatch.fnmatch(b, pattern)]


class Actor:
    def __init__(self, server: StandInServer, actor_id: int, type_id: str, transform: carla.Transform, **kw: Any):
        self.server, self.id, self.type_id = server, actor_id, type_id
        self.transform = transform
        self.attributes: dict[str, str] = kw.get("attributes", {})
        ext = next((e for p, e in EXTENT.items() if type_id.startswith(p)), (0.1, 0.1, 0.1))
        self.bounding_box = carla.BoundingBox(carla.Location(0.0, 0.0, ext[2]), carla.Vector3D(*ext))
        self.parent = kw.get("attach_to")
        self.control = carla.VehicleControl()
        self.speed = 0.0
        self.calls: list[tuple[str, tuple]] = []
        self.callback: Any = None
        self.is_alive = True

    def __getattr__(self, name: str) -> Any:  # setters the backend calls that change nothing here
        if name.startswith(("set_", "enable_", "disable_", "go_to", "start", "stop", "open_door")):
            self.server.check()
            return lambda *args: self.calls.append((name, args))
        raise AttributeError(name)

    def get_transform(self) -> carla.Transform:
        return self.transform

    def get_velocity(self) -> carla.Vector3D:
        yaw = math.radians(self.transform.rotation.yaw)
        return carla.Vector3D(self.speed * math.cos(yaw), self.speed * math.sin(yaw), 0.0)

    def get_acceleration(self) -> carla.Vector3D:
        return carla.Vector3D(0.0, 0.0, 0.0)

    def get_angular_velocity(self) -> carla.Vector3D:
        return carla.Vector3D(0.0, 0.0, 0.0)

    def get_physics_control(self) -> Any:
        return SimpleNamespace(wheels=[SimpleNamespace(max_steer_angle=MAX_STEER_DEG)])

    def apply_control(self, control: Any) -> None:
        self.server.check()
        self.control = control
        self.calls.append(("apply_control", (control,)))

    def set_target_velocity(self, velocity: carla.Vector3D) -> None:
        self.speed = math.hypot(velocity.x, velocity.y)

    def listen(self, callback: Any) -> None:
        self.callback = callback

    def is_listening(self) -> bool:
        return self.callback is not None

    def stop(self) -> None:
        self.callback = None

    def destroy(self) -> bool:
        self.server.check()
        self.server.destroyed.append(self.id)
        return True


class TrafficLight(Actor):
    def __init__(self, server: StandInServer, actor_id: int) -> None:
        super().__init__(
            server,
            actor_id,
            "traffic.traffic_light",
            carla.Transform(carla.Location(80.0, 3.5, 0.0), carla.Rotation(yaw=90.0)),
        )
        self.trigger_volume = carla.BoundingBox(carla.Location(0.0, 0.0, 1.0), carla.Vector3D(3.0, 1.0, 1.0))
        self.state = carla.TrafficLightState.Green
        self.times = {
            carla.TrafficLightState.Green: 10.0,
            carla.TrafficLightState.Yellow: 2.0,
            carla.TrafficLightState.Red: 10.0,
        }
        self.elapsed = 0.0

    def set_state(self, state: Any) -> None:
        self.server.check()
        self.state, self.elapsed = state, 0.0

    def set_green_time(self, seconds: float) -> None:
        self.times[carla.TrafficLightState.Green] = seconds

    def set_yellow_time(self, seconds: float) -> None:
        self.times[carla.TrafficLightState.Yellow] = seconds

    def set_red_time(self, seconds: float) -> None:
        self.times[carla.TrafficLightState.Red] = seconds

    def advance(self, dt: float) -> None:
        """Green -> yellow -> red -> green on its own, as a junction's light group cycles."""
        self.elapsed += dt
        if self.elapsed >= self.times[self.state]:
            order = [carla.TrafficLightState.Green, carla.TrafficLightState.Yellow, carla.TrafficLightState.Red]
            self.state, self.elapsed = order[(order.index(self.state) + 1) % 3], 0.0

    def get_group_traffic_lights(self) -> list[Any]:
        return [self]


class ActorList(list):
    def filter(self, pattern: str) -> ActorList:
        return ActorList(a for a in self if fnmatch.fnmatch(a.type_id, pattern))


class StandInServer:
    """World, client and Traffic Manager in one object; `calls` records the synchronous-mode and cleanup calls."""

    def __init__(self, lanes: int = 2, die_at_frame: int | None = None) -> None:
        self.map = carla.Map("Carla/Maps/Town03", t_junction_xodr(lanes=lanes))
        self.settings = carla.WorldSettings()
        self.frame, self.die_at_frame, self.dead = 100, die_at_frame, False
        self.actors: dict[int, Actor] = {}
        self.destroyed: list[int] = []
        self.calls: list[tuple[str, Any]] = []
        self.next_id = 1
        self.light = self._add(TrafficLight(self, self._id()))
        self.collisions_with: set[int] = set()

    # ---- plumbing ---------------------------------------------------------------------------------------------
    def check(self) -> None:
        if self.dead:
            self.calls.append(("after death", None))
            raise RuntimeError(TIMEOUT)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _add(self, actor: Actor) -> Any:
        self.actors[actor.id] = actor
        return actor

    # ---- client -----------------------------------------------------------------------------------------------
    def set_timeout(self, seconds: float) -> None:
        self.calls.append(("set_timeout", seconds))

    def get_server_version(self) -> str:
        return "0.9.16"

    def get_client_version(self) -> str:
        return "0.9.16"

    def get_world(self) -> StandInServer:
        self.check()
        return self

    def get_available_maps(self) -> list[str]:
        return ["/Game/Carla/Maps/Town03"]

    def load_world(self, name: str) -> StandInServer:
        self.calls.append(("load_world", name))
        return self

    def get_trafficmanager(self, port: int) -> Any:
        server = self

        class TrafficManager:
            def get_port(self) -> int:
                return port

            def __getattr__(self, name: str) -> Any:
                def record(*args: Any) -> None:
                    server.check()
                    server.calls.append((f"tm.{name}", args))

                return record

        return TrafficManager()

    def apply_batch_sync(self, batch: list[Any], do_tick: bool = False) -> list[Any]:
        self.check()
        for command in batch:
            self.destroyed.append(command.actor_id)
        return [SimpleNamespace(actor_id=c.actor_id, error="") for c in batch]

    # ---- world ------------------------------------------------------------------------------------------------
    def get_map(self) -> carla.Map:
        return self.map

    def get_settings(self) -> carla.WorldSettings:
        copy = carla.WorldSettings()
        copy.synchronous_mode = self.settings.synchronous_mode
        copy.fixed_delta_seconds = self.settings.fixed_delta_seconds
        copy.no_rendering_mode = self.settings.no_rendering_mode
        return copy

    def apply_settings(self, settings: carla.WorldSettings) -> int:
        self.check()
        self.settings = settings
        self.calls.append(("apply_settings", (settings.synchronous_mode, settings.fixed_delta_seconds)))
        return self.frame

    def set_weather(self, weather: carla.WeatherParameters) -> None:
        self.weather = weather

    def set_pedestrians_seed(self, seed: int) -> None:
        self.calls.append(("set_pedestrians_seed", seed))

    def get_blueprint_library(self) -> Library:
        return Library()

    def get_actors(self, ids: list[int] | None = None) -> ActorList:
        return ActorList(a for a in self.actors.values() if ids is None or a.id in ids)

    def get_random_location_from_navigation(self) -> carla.Location:
        return carla.Location(50.0, 12.0, 0.0)

    def try_spawn_actor(self, bp: Blueprint, transform: carla.Transform, attach_to: Any = None, **kw: Any) -> Any:
        self.check()
        attrs = dict(bp.attributes)
        actor = Actor(self, self._id(), bp.id, transform, attributes=attrs, attach_to=attach_to)
        return self._add(actor)

    spawn_actor = try_spawn_actor

    def tick(self, seconds: float = 10.0) -> int:
        self.check()
        if self.die_at_frame is not None and self.frame + 1 >= self.die_at_frame:
            self.dead = True
            raise RuntimeError(TIMEOUT)
        dt = self.settings.fixed_delta_seconds or 0.05
        self.frame += 1
        self.light.advance(dt)
        for actor in self.actors.values():
            if actor.attributes.get("role_name") == "hero":
                self._drive(actor, dt)
        self._sense()
        return self.frame

    def _drive(self, ego: Actor, dt: float) -> None:
        c = ego.control
        accel = 4.0 * c.throttle - 8.0 * c.brake - (0.3 if ego.speed > 0 else 0.0)
        ego.speed = max(0.0, ego.speed + accel * dt) if not c.hand_brake else 0.0
        x, y, z = from_location(ego.transform.location)
        yaw = yaw_from_carla(ego.transform.rotation.yaw)
        delta = -c.steer * math.radians(MAX_STEER_DEG)  # CARLA steers right for positive steer
        x, y = x + ego.speed * math.cos(yaw) * dt, y + ego.speed * math.sin(yaw) * dt
        yaw += ego.speed / WHEELBASE_M * math.tan(delta) * dt
        ego.transform = to_transform(x, y, z, yaw)

    def _sense(self) -> None:
        hero = next((a for a in self.actors.values() if a.attributes.get("role_name") == "hero"), None)
        for sensor in [a for a in self.actors.values() if a.callback is not None]:
            if sensor.type_id == "sensor.camera.rgb":
                w, h = int(sensor.attributes["image_size_x"]), int(sensor.attributes["image_size_y"])
                raw = np.full((h, w, 4), (30, 20, 10, 255), dtype=np.uint8).tobytes()
                sensor.callback(SimpleNamespace(frame=self.frame, raw_data=raw, width=w, height=h))
            elif sensor.type_id == "sensor.other.collision" and hero is not None:
                for other in self._touching(hero):
                    impulse = carla.Vector3D(100.0, 0.0, 0.0)
                    sensor.callback(SimpleNamespace(frame=self.frame, other_actor=other, normal_impulse=impulse))

    def _touching(self, hero: Actor) -> list[Actor]:
        def box(a: Actor) -> np.ndarray:
            x, y, _ = from_location(a.transform.location)
            return np.array(
                [
                    x,
                    y,
                    yaw_from_carla(a.transform.rotation.yaw),
                    2 * a.bounding_box.extent.x,
                    2 * a.bounding_box.extent.y,
                ]
            )

        others = [
            a
            for a in self.actors.values()
            if a is not hero and a.type_id.split(".")[0] in ("vehicle", "walker", "static") and a.parent is None
        ]
        if not others:
            return []
        hit = boxes_overlap(box(hero), np.stack([box(a) for a in others]))
        return [a for a, h in zip(others, hit, strict=True) if h]

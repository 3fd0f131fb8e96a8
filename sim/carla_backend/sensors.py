"""The ego's sensors: front RGB camera (shared CameraConfig), collision and lane-invasion sensors.

Sensor callbacks run on the client's streaming threads; they only copy plain data into thread-safe holders
(`FrameLatch`, `EventBuffer`), which the backend reads on its own thread after each tick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import carla
import numpy as np

from sim.carla_backend.frames import bgra_to_rgb
from sim.core import CameraConfig

CAMERA = "sensor.camera.rgb"
COLLISION = "sensor.other.collision"
LANE_INVASION = "sensor.other.lane_invasion"


class FrameLatch:
    """Keeps the newest item a sensor delivered with its frame number; `get(frame)` waits until one at least that
    recent has arrived."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame = -1
        self._item: Any = None

    def put(self, frame: int, item: Any) -> None:
        with self._cond:
            if frame >= self._frame:
                self._frame, self._item = frame, item
                self._cond.notify_all()

    def get(self, frame: int, timeout_s: float) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame >= frame, timeout=timeout_s):
                raise TimeoutError(f"no sensor data for frame {frame} within {timeout_s:g} s (newest: {self._frame})")
            return self._item


@dataclass(frozen=True)
class CollisionRecord:
    frame: int
    other_id: int
    other_type: str  # blueprint id of the other actor ("" for the static world)
    impulse: float  # N s, magnitude of the normal impulse


@dataclass(frozen=True)
class LaneInvasionRecord:
    frame: int
    markings: tuple[str, ...]  # crossed marking types, e.g. ("Solid",) or ("Broken", "Curb")


class EventBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def drain(self) -> list[Any]:
        with self._lock:
            out, self._items = self._items, []
        return out


def collision_record(event: Any) -> CollisionRecord:
    """Plain data from a carla.CollisionEvent (kept small: the event must not outlive the callback)."""
    other = event.other_actor
    impulse = event.normal_impulse
    magnitude = float(np.sqrt(impulse.x**2 + impulse.y**2 + impulse.z**2))
    other_id = int(other.id) if other is not None else 0
    other_type = str(other.type_id) if other is not None else ""
    return CollisionRecord(int(event.frame), other_id, other_type, magnitude)


def lane_invasion_record(event: Any) -> LaneInvasionRecord:
    return LaneInvasionRecord(
        int(event.frame), tuple(str(m.type).rsplit(".", 1)[-1] for m in event.crossed_lane_markings)
    )


def camera_attributes(camera: CameraConfig, dt: float) -> dict[str, str]:
    """Blueprint attributes of the front camera; `sensor_tick` = the world tick, one frame per step."""
    return {
        "image_size_x": str(camera.width),
        "image_size_y": str(camera.height),
        "fov": f"{camera.fov_deg:g}",
        "sensor_tick": f"{dt:g}",
    }


def camera_transform(camera: CameraConfig, box_location: Any) -> carla.Transform:
    """Mount relative to the vehicle's origin: the config gives it from the box centre on the ground."""
    return carla.Transform(
        carla.Location(x=float(box_location.x) + camera.x, y=float(box_location.y) - camera.y, z=camera.z),
        carla.Rotation(pitch=camera.pitch_deg),
    )


class EgoSensors:
    """Spawns and owns the ego's sensors; `destroy()` stops and removes them (safe to call twice)."""

    def __init__(self, world: Any, ego: Any, camera: CameraConfig | None, dt: float) -> None:
        self.camera_config = camera
        self.images = FrameLatch()
        self.collisions = EventBuffer()
        self.invasions = EventBuffer()
        self.actors: list[Any] = []
        library = world.get_blueprint_library()
        try:
            if camera is not None:
                bp = library.find(CAMERA)
                for key, value in camera_attributes(camera, dt).items():
                    bp.set_attribute(key, value)
                cam = world.spawn_actor(bp, camera_transform(camera, ego.bounding_box.location), attach_to=ego)
                self._listen(cam, self._on_image)
            collision = world.spawn_actor(library.find(COLLISION), carla.Transform(), attach_to=ego)
            self._listen(collision, self._on_collision)
            lane = world.spawn_actor(library.find(LANE_INVASION), carla.Transform(), attach_to=ego)
            self._listen(lane, self._on_lane)
        except BaseException:
            self.destroy()  # the ones already spawned
            raise

    def _listen(self, sensor: Any, callback: Callable[[Any], None]) -> None:
        self.actors.append(sensor)
        sensor.listen(callback)

    def _on_image(self, image: Any) -> None:
        self.images.put(int(image.frame), bgra_to_rgb(image.raw_data, int(image.height), int(image.width)))

    def _on_collision(self, event: Any) -> None:
        self.collisions.add(collision_record(event))

    def _on_lane(self, event: Any) -> None:
        self.invasions.add(lane_invasion_record(event))

    def image(self, frame: int, timeout_s: float) -> np.ndarray:
        return self.images.get(frame, timeout_s)

    def destroy(self) -> None:
        for sensor in self.actors:
            if sensor.is_listening():
                sensor.stop()
            sensor.destroy()
        self.actors = []

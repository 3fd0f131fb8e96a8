"""Conversions between our right-handed world frame and CARLA's left-handed one, used only at the backend boundary.

Ours: x forward/east, y left/north, z up, yaw in radians counter-clockwise from +x.
CARLA (Unreal): x the same, y mirrored, z up, yaw in degrees clockwise from +x (seen from above). So a point maps by
flipping y, a heading by negating it; pitch (positive: nose up) and lengths are unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import carla
import numpy as np

from sim.core import VehicleControl


def to_location(x: float, y: float, z: float = 0.0) -> carla.Location:
    return carla.Location(x=float(x), y=-float(y), z=float(z))


def from_location(location: Any) -> tuple[float, float, float]:
    """(x, y, z) in our frame of a carla.Location (or any object with x, y, z)."""
    return float(location.x), -float(location.y), float(location.z)


def yaw_to_carla(yaw: float) -> float:
    """Our yaw (rad, CCW) to CARLA's (deg, CW), wrapped to (-180, 180]."""
    deg = -math.degrees(yaw)
    return deg - 360.0 * math.ceil((deg - 180.0) / 360.0)


def yaw_from_carla(yaw_deg: float) -> float:
    """CARLA's yaw (deg, CW) to ours (rad, CCW), wrapped to (-pi, pi]."""
    rad = -math.radians(yaw_deg)
    return rad - 2 * math.pi * math.ceil((rad - math.pi) / (2 * math.pi))


def to_transform(x: float, y: float, z: float = 0.0, yaw: float = 0.0, pitch_deg: float = 0.0) -> carla.Transform:
    return carla.Transform(to_location(x, y, z), carla.Rotation(pitch=float(pitch_deg), yaw=yaw_to_carla(yaw)))


def pose_from_transform(transform: Any) -> tuple[float, float, float, float]:
    """(x, y, z, yaw) in our frame of a carla.Transform."""
    x, y, z = from_location(transform.location)
    return x, y, z, yaw_from_carla(transform.rotation.yaw)


def from_vector(vector: Any) -> tuple[float, float, float]:
    """A velocity or acceleration (carla.Vector3D) in our frame."""
    return float(vector.x), -float(vector.y), float(vector.z)


def yaw_rate_from_carla(angular_velocity: Any) -> float:
    """Our yaw rate (rad/s, CCW) from CARLA's angular velocity (deg/s about its z axis, clockwise positive)."""
    return -math.radians(float(angular_velocity.z))


def along_heading(vector: tuple[float, float, float], yaw: float) -> float:
    """The component of an our-frame vector along a heading (signed speed from a velocity)."""
    return vector[0] * math.cos(yaw) + vector[1] * math.sin(yaw)


def box_centre(transform: Any, box_location: Any) -> tuple[float, float]:
    """Our-frame (x, y) of a bounding box's centre given its actor's transform and the box offset (actor frame)."""
    x, y, _, yaw = pose_from_transform(transform)
    ox, oy = float(box_location.x), -float(box_location.y)  # the offset in our handedness, actor-relative
    c, s = math.cos(yaw), math.sin(yaw)
    return x + ox * c - oy * s, y + ox * s + oy * c


def control_to_carla(control: VehicleControl) -> carla.VehicleControl:
    """Our control to CARLA's: same fields and ranges (steer +1 is right in both)."""
    return carla.VehicleControl(
        throttle=float(control.throttle),
        steer=float(control.steer),
        brake=float(control.brake),
        hand_brake=bool(control.hand_brake),
        reverse=bool(control.reverse),
    )


def control_from_carla(control: Any) -> VehicleControl:
    """CARLA's control to ours, clipped into range (a server may hand back tiny overshoots)."""
    return VehicleControl.clipped(
        control.throttle,
        control.steer,
        control.brake,
        hand_brake=bool(control.hand_brake),
        reverse=bool(control.reverse),
    )


def bgra_to_rgb(raw: Any, height: int, width: int) -> np.ndarray:
    """A camera frame's raw BGRA bytes (carla.Image.raw_data) as a read-only (H, W, 3) uint8 RGB array."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    if buf.size != height * width * 4:
        raise ValueError(f"camera frame has {buf.size} bytes, expected {height}x{width}x4")
    rgb = np.ascontiguousarray(buf.reshape(height, width, 4)[:, :, 2::-1])
    rgb.flags.writeable = False
    return rgb

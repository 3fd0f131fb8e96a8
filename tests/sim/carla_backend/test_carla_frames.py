"""Frame and control conversions at the CARLA boundary, with real carla types."""

from __future__ import annotations

import math

import carla
import numpy as np
import pytest

from sim.carla_backend.frames import (
    along_heading,
    bgra_to_rgb,
    box_centre,
    control_from_carla,
    control_to_carla,
    from_location,
    from_vector,
    pose_from_transform,
    to_location,
    to_transform,
    yaw_from_carla,
    yaw_rate_from_carla,
    yaw_to_carla,
)
from sim.core import VehicleControl


def test_locations_round_trip_and_flip_y() -> None:
    rng = np.random.default_rng(0)
    for x, y, z in rng.uniform(-500, 500, size=(50, 3)):
        loc = to_location(x, y, z)
        assert isinstance(loc, carla.Location)
        assert loc.x == pytest.approx(x, abs=1e-3) and loc.y == pytest.approx(-y, abs=1e-3)
        assert from_location(loc) == pytest.approx((x, y, z), abs=1e-3)


@pytest.mark.parametrize(
    ("ours_deg", "carla_deg"), [(0, 0), (90, -90), (-90, 90), (180, 180), (45, -45), (-135, 135), (270, 90)]
)
def test_yaw_is_negated_and_wrapped(ours_deg: float, carla_deg: float) -> None:
    assert yaw_to_carla(math.radians(ours_deg)) == pytest.approx(carla_deg)
    back = yaw_from_carla(carla_deg)
    assert math.remainder(back - math.radians(ours_deg), 2 * math.pi) == pytest.approx(0.0, abs=1e-9)
    assert -math.pi < back <= math.pi


def test_transform_round_trip_and_heading_meaning() -> None:
    rng = np.random.default_rng(1)
    for x, y, z, yaw in rng.uniform(-3, 3, size=(30, 4)) * [100, 100, 5, 1]:
        tf = to_transform(x, y, z, yaw)
        assert isinstance(tf, carla.Transform)
        px, py, pz, pyaw = pose_from_transform(tf)
        assert (px, py, pz) == pytest.approx((x, y, z), abs=1e-3)
        assert math.remainder(pyaw - yaw, 2 * math.pi) == pytest.approx(0.0, abs=1e-5)
    # our heading north (+y) is CARLA's -y: its forward vector must point there
    north = to_transform(0, 0, 0, math.pi / 2)
    fwd = north.get_forward_vector()
    assert (fwd.x, fwd.y) == pytest.approx((0.0, -1.0), abs=1e-6)
    assert from_vector(fwd)[:2] == pytest.approx((0.0, 1.0), abs=1e-6)


def test_box_centre_speed_and_yaw_rate() -> None:
    tf = to_transform(10.0, 5.0, 0.0, math.pi / 2)  # facing +y
    # a box 1 m ahead of the actor origin (CARLA actor frame) is 1 m further north in ours
    assert box_centre(tf, carla.Location(x=1.0, y=0.0, z=0.7)) == pytest.approx((10.0, 6.0), abs=1e-5)
    # a box offset to CARLA's +y (the actor's right) lies east of a north-facing actor
    assert box_centre(tf, carla.Location(x=0.0, y=0.5, z=0.0)) == pytest.approx((10.5, 5.0), abs=1e-5)
    velocity = from_vector(carla.Vector3D(x=0.0, y=-8.0, z=0.0))  # CARLA -y = our north
    assert along_heading(velocity, math.pi / 2) == pytest.approx(8.0)
    assert along_heading(velocity, -math.pi / 2) == pytest.approx(-8.0)  # reversing
    # CARLA yaw grows clockwise: +10 deg/s about z is a right turn, -0.1745 rad/s in ours
    assert yaw_rate_from_carla(carla.Vector3D(0.0, 0.0, 10.0)) == pytest.approx(-math.radians(10.0))


def test_control_conversion_keeps_fields_and_steer_sign() -> None:
    ours = VehicleControl(throttle=0.4, steer=0.25, brake=0.0, hand_brake=False, reverse=True)
    theirs = control_to_carla(ours)
    assert isinstance(theirs, carla.VehicleControl)
    assert (theirs.throttle, theirs.steer, theirs.brake) == pytest.approx((0.4, 0.25, 0.0))
    assert theirs.reverse and not theirs.hand_brake and not theirs.manual_gear_shift
    back = control_from_carla(theirs)  # float32 on the CARLA side
    assert (back.throttle, back.steer, back.brake) == pytest.approx((0.4, 0.25, 0.0), abs=1e-6)
    assert (back.hand_brake, back.reverse) == (False, True)
    wild = carla.VehicleControl(throttle=1.0, steer=-1.0, brake=1.0, hand_brake=True)
    back = control_from_carla(wild)
    assert (back.throttle, back.steer, back.brake, back.hand_brake) == (1.0, -1.0, 1.0, True)


def test_bgra_frames_become_rgb() -> None:
    h, w = 2, 3
    bgra = np.zeros((h, w, 4), dtype=np.uint8)
    bgra[0, 0] = (10, 20, 30, 255)  # B, G, R, A
    bgra[1, 2] = (200, 100, 50, 255)
    rgb = bgra_to_rgb(bgra.tobytes(), h, w)
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8 and not rgb.flags.writeable
    assert tuple(rgb[0, 0]) == (30, 20, 10) and tuple(rgb[1, 2]) == (50, 100, 200)
    with pytest.raises(ValueError, match="2x4x4"):
        bgra_to_rgb(bgra.tobytes(), 2, 4)

"""The leaderboard agent without the leaderboard: sensor suite within its limits, GNSS/compass to our frame, the route
as a lane, and the agent class itself driving a kinematic car along an L-shaped route from leaderboard-style input."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path

import carla
import numpy as np
import pytest
import yaml
from xodr_town import t_junction_xodr

import sim.leaderboard_agent as lb
from planner.config import ConfigError
from sim.carla_backend.agent import (
    AgentConfig,
    GeoFrame,
    LeaderboardDriver,
    Readings,
    check_sensor_specs,
    readings_from_input,
    route_plan,
    sensor_specs,
    yaw_from_compass,
)
from sim.carla_backend.frames import to_transform
from sim.core import Turn
from sim.embedded.backend import navigation_text


class RoadOption(Enum):  # the leaderboard's `agents.navigation.local_planner.RoadOption` names
    VOID = -1
    LEFT = 1
    RIGHT = 2
    STRAIGHT = 3
    LANEFOLLOW = 4
    CHANGELANELEFT = 5
    CHANGELANERIGHT = 6


def l_route() -> tuple[np.ndarray, list[RoadOption]]:
    """60 m east, a left turn of radius 15 m, 40 m north; one point per metre as the leaderboard gives it."""
    east = [(float(x), 0.0, 0.0) for x in np.arange(0.0, 60.0, 1.0)]
    arc = [(60 + 15 * math.sin(a), 15 - 15 * math.cos(a), a) for a in np.linspace(0, math.pi / 2, 24)]
    north = [(75.0, 15.0 + float(y), math.pi / 2) for y in np.arange(1.0, 41.0, 1.0)]
    options = [RoadOption.LANEFOLLOW] * len(east) + [RoadOption.LEFT] * len(arc) + [RoadOption.LANEFOLLOW] * len(north)
    return np.array(east + arc + north), options


TRUTH = GeoFrame.referenced(49.0, 8.0)  # a town geo-referenced at 49 N, 8 E


def leaderboard_plan(poses: np.ndarray, options: list[RoadOption]) -> tuple[list, list]:
    gps = [
        ({"lat": lat, "lon": lon, "z": 0.0}, o)
        for (lat, lon), o in zip((TRUTH.to_gps(x, y) for x, y, _ in poses), options, strict=True)
    ]
    world = [(to_transform(x, y, 0.0, yaw), o) for (x, y, yaw), o in zip(poses, options, strict=True)]
    return gps, world


def test_sensor_suite_is_within_the_leaderboard_limits() -> None:
    specs = sensor_specs(AgentConfig())
    assert [s["type"] for s in specs] == [
        "sensor.camera.rgb",
        "sensor.speedometer",
        "sensor.other.gnss",
        "sensor.other.imu",
    ]
    camera = specs[0]
    assert (camera["width"], camera["height"], camera["fov"], camera["x"], camera["z"]) == (480, 270, 90.0, 1.5, 1.7)
    assert len({s["id"] for s in specs}) == len(specs)
    assert sensor_specs(AgentConfig(track="MAP"))[-1]["type"] == "sensor.opendrive_map"
    with pytest.raises(ValueError, match="only allowed on the MAP track"):
        check_sensor_specs([{"type": "sensor.opendrive_map", "id": "m"}], "SENSORS")
    with pytest.raises(ValueError, match=r"beyond 3\.0 m"):
        check_sensor_specs([{"type": "sensor.camera.rgb", "id": "c", "x": 2.5, "y": 0.0, "z": 2.0}], "SENSORS")
    with pytest.raises(ValueError, match="too many"):
        check_sensor_specs([{"type": "sensor.other.gnss", "id": f"g{i}"} for i in range(2)], "SENSORS")
    with pytest.raises(ValueError, match="not allowed"):
        check_sensor_specs([{"type": "sensor.other.collision", "id": "c"}], "SENSORS")


def test_gnss_and_compass_to_our_frame() -> None:
    points = [(0.0, 0.0), (120.0, -40.0), (-300.0, 250.0)]
    gps = [TRUTH.to_gps(x, y) for x, y in points]
    assert gps[0] == pytest.approx((49.0, 8.0))
    assert TRUTH.to_world(*gps[1]) == pytest.approx(points[1], abs=1e-6)
    fitted = GeoFrame.fit(gps, points)
    for (x, y), (lat, lon) in zip(points, gps, strict=True):
        assert fitted.to_world(lat, lon) == pytest.approx((x, y), abs=0.01)
    one = GeoFrame.fit(gps[:1], points[:1])  # a single matching point fixes the offsets
    assert one.to_world(*gps[2]) == pytest.approx(points[2], abs=0.05)
    assert yaw_from_compass(0.0) == pytest.approx(math.pi / 2)  # north is our +y
    assert yaw_from_compass(math.pi / 2) == pytest.approx(0.0)  # east
    assert yaw_from_compass(math.pi) == pytest.approx(-math.pi / 2)
    assert yaw_from_compass(float("nan")) is None


def test_leaderboard_input_becomes_readings() -> None:
    bgra = np.zeros((4, 6, 4), dtype=np.uint8)
    bgra[..., 0], bgra[..., 2] = 200, 10  # blue, red
    readings = readings_from_input(
        {
            "rgb_front": (7, bgra),
            "speed": (7, {"speed": 4.5}),
            "gnss": (7, np.array([49.0, 8.0, 100.0])),
            "imu": (7, np.array([0.1, 0.0, 9.8, 0.0, 0.0, 0.01, 1.2])),
            "hd_map": (7, {"opendrive": "<OpenDRIVE/>"}),
        }
    )
    assert readings.image.shape == (4, 6, 3) and tuple(readings.image[0, 0]) == (10, 0, 200)
    assert readings.speed == 4.5 and readings.gnss == (49.0, 8.0) and readings.compass == pytest.approx(1.2)
    assert readings.opendrive == "<OpenDRIVE/>"
    empty = readings_from_input({})
    assert empty.image is None and empty.gnss is None and empty.speed == 0.0


def test_route_options_become_maneuvers_and_navigation() -> None:
    poses, options = l_route()
    plan = route_plan(poses[:, :2], [o.name for o in options])
    (turn,) = plan.route.maneuvers
    assert turn.turn == Turn.LEFT and turn.s_start == pytest.approx(60.0, abs=0.1)
    assert navigation_text(plan, 20.0) == "Turn left in 40 m"
    changing = route_plan(
        poses[:, :2], ["LANEFOLLOW"] * 20 + ["CHANGELANELEFT"] * 10 + ["LANEFOLLOW"] * (len(poses) - 30)
    )
    assert changing.lane_changes[0].side == "left" and not changing.route.maneuvers


def write_config(tmp_path: Path, **values: object) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        yaml.safe_dump({"planner": {"name": "constant", "speed": "ACCELERATE", "path": "STRAIGHT"}, **values})
    )
    return path


@pytest.mark.parametrize("law", ["pid", "mpc"])
def test_the_agent_drives_the_route_from_leaderboard_input(tmp_path: Path, law: str) -> None:
    agent = lb.MetaActionAgent("127.0.0.1", 2000)
    poses, options = l_route()
    agent.set_global_plan(*leaderboard_plan(poses, options))  # the leaderboard may give the route before setup
    agent.setup(str(write_config(tmp_path, plan_period_s=0.5, controller={"law": law})))
    assert agent.config.controller.law == law
    assert agent.track == lb.Track.SENSORS and lb.get_entry_point() == type(agent).__name__
    assert len(agent.sensors()) == 4
    x, y, yaw, v, dt, wheelbase = 0.0, 0.0, 0.0, 0.0, 0.05, 2.9
    image = np.zeros((270, 480, 4), dtype=np.uint8)
    worst = 0.0
    for frame in range(900):
        lat, lon = TRUTH.to_gps(x, y)
        compass = math.pi / 2 - yaw
        data = {
            "rgb_front": (frame, image),
            "speed": (frame, {"speed": v}),
            "gnss": (frame, np.array([lat, lon, 0.0])),
            "imu": (frame, np.array([0.0, 0.0, 9.81, 0.0, 0.0, 0.0, compass])),
        }
        control = agent.run_step(data, frame * dt)
        assert isinstance(control, carla.VehicleControl)
        v = max(0.0, v + (4.0 * control.throttle - 8.0 * control.brake) * dt)
        x, y = x + v * math.cos(yaw) * dt, y + v * math.sin(yaw) * dt
        yaw += v / wheelbase * math.tan(-control.steer * math.radians(35.0)) * dt  # CARLA steers right for +1
        worst = max(worst, float(np.min(np.hypot(poses[:, 0] - x, poses[:, 1] - y))))
        if math.hypot(x - 75.0, y - 55.0) < 3.0:
            break
    assert math.hypot(x - 75.0, y - 55.0) < 3.0, (x, y)
    assert worst < 1.0  # stayed on the route through the left turn
    agent.destroy()


def test_privileged_planners_and_config_typos_are_refused(tmp_path: Path) -> None:
    agent = lb.MetaActionAgent("127.0.0.1", 2000)
    with pytest.raises(ConfigError, match="privileged"):
        agent.setup(str(write_config(tmp_path, planner={"name": "expert"})))
    with pytest.raises(ConfigError, match="trak"):
        agent.setup(str(write_config(tmp_path, trak="MAP")))
    with pytest.raises(ConfigError, match="horizn"):
        agent.setup(str(write_config(tmp_path, controller={"law": "mpc", "mpc": {"horizn": 10}})))
    assert lb.load_agent_config("") == AgentConfig()
    idle = lb.MetaActionAgent("127.0.0.1", 2000)
    assert idle.run_step({}, 0.0).brake == 1.0  # not set up: stand still


def test_map_track_drives_on_the_towns_lanes() -> None:
    from planner.constant import ConstantPlanner, ConstantPlannerConfig

    driver = LeaderboardDriver(AgentConfig(track="MAP"), ConstantPlanner(ConstantPlannerConfig(speed="KEEP")))
    # eastbound on road 1 of the T-junction, left into road 3 (our frame; right-hand traffic at y = -1.75)
    east = [(float(x), -1.75, 0.0) for x in np.arange(10.0, 100.0, 1.0)]
    turn = [(100 + 11.75 * math.sin(a), 10 - 11.75 * math.cos(a), a) for a in np.linspace(0.0, math.pi / 2, 18)]
    north = [(111.75, float(y), math.pi / 2) for y in np.arange(11.0, 60.0, 1.0)]
    world = east + turn + north
    gps = [TRUTH.to_gps(x, y) for x, y, _ in world]
    driver.set_route(gps, world, ["LANEFOLLOW"] * len(east) + ["LEFT"] * len(turn) + ["LANEFOLLOW"] * len(north))
    lat, lon = TRUTH.to_gps(20.0, -1.75)
    control = driver.run_step(Readings(None, 5.0, (lat, lon), math.pi / 2, t_junction_xodr()), 0.0)
    assert driver.map_built and driver.road_map.locate(20.0, -1.75, 0.0).lane_id == "1:0:-1"
    assert list(dict.fromkeys(driver.plan_route.route.lane_ids)) == ["1:0:-1", "5:0:-1", "3:0:-1"]
    assert abs(control.steer) < 0.1

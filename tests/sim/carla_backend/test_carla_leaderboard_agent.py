"""The leaderboard agent without the leaderboard: sensor suite within its limits, GNSS/compass to our frame, the route
as a lane, and the agent class itself driving a kinematic car along an L-shaped route from leaderboard-style input."""

from __future__ import annotations

import json
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
    LeaderboardDriver,
    Readings,
    check_sensor_specs,
    readings_from_input,
    route_plan,
    sensor_specs,
)
from sim.carla_backend.frames import to_transform
from sim.carla_backend.localization import GeoFrame, yaw_from_compass
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
    hd_map = sensor_specs(AgentConfig(track="MAP"))[-1]
    assert hd_map["type"] == "sensor.opendrive_map" and hd_map["reading_frequency"] == 1.0  # resent every second
    assert sensor_specs(AgentConfig(track="MAP_QUALIFIER"))[-1]["type"] == "sensor.opendrive_map"
    assert len(sensor_specs(AgentConfig(track="SENSORS_QUALIFIER"))) == 4
    with pytest.raises(ValueError, match="only allowed on the MAP tracks"):
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
            "imu": (7, np.array([0.1, 0.0, 9.8, 0.0, 0.0, 0.25, 1.2])),
            "hd_map": (7, {"opendrive": "<OpenDRIVE/>"}),
        }
    )
    assert readings.image.shape == (4, 6, 3) and tuple(readings.image[0, 0]) == (10, 0, 200)
    assert readings.speed == 4.5 and readings.gnss == (49.0, 8.0) and readings.compass == pytest.approx(1.2)
    assert readings.opendrive == "<OpenDRIVE/>" and readings.yaw_rate == pytest.approx(-0.25)  # CARLA turns right
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


TOWN = GeoFrame.referenced(0.0, 0.0)  # CARLA's towns are geo-referenced at 0 N, 0 E
GNSS_NOISE_DEG = 0.000005  # the leaderboard's noise_lat_stddev / noise_lon_stddev


def drive_route(
    agent: lb.MetaActionAgent,
    poses: np.ndarray,
    frame: GeoFrame = TOWN,
    latitude_sign: float = 1.0,
    noise_deg: float = 0.0,
    frames: int = 900,
) -> dict[str, float]:
    """A kinematic car driven by the agent along `poses` from leaderboard-style input; GNSS in the given convention."""
    rng = np.random.default_rng(0)
    x, y, yaw = (float(v) for v in poses[0])
    v, dt, wheelbase, yaw_rate = 0.0, 0.05, 2.9, 0.0
    image = np.zeros((270, 480, 4), dtype=np.uint8)
    worst, steers, brakes = 0.0, [], 0
    goal = poses[-1, :2]
    for i in range(frames):
        lat, lon = frame.to_gps(x, y)
        lat, lon = latitude_sign * (lat + rng.normal(0, noise_deg)), lon + rng.normal(0, noise_deg)
        data = {
            "rgb_front": (i, image),
            "speed": (i, {"speed": v}),
            "gnss": (i, np.array([lat, lon, 0.0])),
            "imu": (i, np.array([0.0, 0.0, 9.81, 0.0, 0.0, -yaw_rate, math.pi / 2 - yaw])),
        }
        control = agent.run_step(data, i * dt)
        steers.append(control.steer)
        brakes += i > 20 and control.brake >= 1.0
        v = max(0.0, v + (4.0 * control.throttle - 8.0 * control.brake) * dt)
        yaw_rate = v / wheelbase * math.tan(-control.steer * math.radians(35.0))  # CARLA steers right for +1
        x, y, yaw = x + v * math.cos(yaw) * dt, y + v * math.sin(yaw) * dt, yaw + yaw_rate * dt
        worst = max(worst, float(np.min(np.hypot(poses[:, 0] - x, poses[:, 1] - y))))
        if math.hypot(x - goal[0], y - goal[1]) < 3.0:
            break
    return {
        "to_goal_m": math.hypot(x - goal[0], y - goal[1]),
        "worst_m": worst,
        "steer_change": float(np.mean(np.abs(np.diff(steers)))),
        "full_brakes": brakes,
    }


def town_agent(tmp_path: Path, poses: np.ndarray, options: list[RoadOption], **config: object) -> lb.MetaActionAgent:
    agent = lb.MetaActionAgent("127.0.0.1", 2000)
    fixes = (TOWN.to_gps(px, py) for px, py, _ in poses)
    gps = [({"lat": la, "lon": lo, "z": 0.0}, o) for (la, lo), o in zip(fixes, options, strict=True)]
    world = [(to_transform(px, py, 0.0, pyaw), o) for (px, py, pyaw), o in zip(poses, options, strict=True)]
    agent.set_global_plan(gps, world)
    agent.setup(str(write_config(tmp_path, **config)))
    return agent


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["carla-0.9.15", "carla-0.9.16"])
def test_gnss_latitude_convention_is_detected_from_the_first_fixes(tmp_path: Path, sign: float) -> None:
    poses, options = l_route()
    poses = poses + np.array([0.0, -40.0, 0.0])  # off the equator line: the mirrored fixes are 80 m away
    agent = town_agent(tmp_path, poses, options)
    result = drive_route(agent, poses, latitude_sign=sign)
    assert agent.driver.gnss.decided == ("leaderboard" if sign > 0 else "flipped_latitude")
    assert result["to_goal_m"] < 3.0 and result["worst_m"] < 1.0 and result["full_brakes"] == 0, result


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["carla-0.9.15", "carla-0.9.16"])
def test_gnss_latitude_convention_on_the_equator_line_is_told_by_the_motion(tmp_path: Path, sign: float) -> None:
    poses, options = l_route()  # starts along y = 0, where both readings lie on the route
    agent = town_agent(tmp_path, poses, options)
    result = drive_route(agent, poses, latitude_sign=sign)
    assert agent.driver.gnss.decided == ("leaderboard" if sign > 0 else "flipped_latitude")
    assert result["to_goal_m"] < 3.0 and result["worst_m"] < 1.5, result


def test_pose_filter_keeps_steering_smooth_under_gnss_noise(tmp_path: Path) -> None:
    poses, options = l_route()
    poses = poses + np.array([0.0, -40.0, 0.0])
    clean = drive_route(town_agent(tmp_path, poses, options), poses)
    raw = drive_route(town_agent(tmp_path, poses, options, pose_filter=False), poses, noise_deg=GNSS_NOISE_DEG)
    fused = drive_route(town_agent(tmp_path, poses, options), poses, noise_deg=GNSS_NOISE_DEG)
    assert fused["to_goal_m"] < 3.0 and fused["worst_m"] < 1.0, fused
    assert fused["steer_change"] < 0.25 * raw["steer_change"], (fused, raw)
    assert fused["steer_change"] < 3.0 * clean["steer_change"] + 0.005, (fused, clean)


def test_bench2drive_config_argument_and_metric_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path)
    assert lb.split_config_argument(str(config)) == (str(config), None)
    assert lb.split_config_argument(f"{config}+RouteScenario_1_rep0_Town12_A_1_01_02") == (
        str(config), "RouteScenario_1_rep0_Town12_A_1_01_02")  # fmt: skip
    assert lb.split_config_argument(f"{config}+first+second") == (str(config), "second")  # grows per route
    assert lb.split_config_argument("+only") == ("", "only")
    with pytest.raises(ConfigError, match="no such file"):
        lb.load_agent_config(tmp_path / "missing.yaml")

    class Bench2DriveAgent(lb.MetaActionAgent):  # Bench2Drive's base class adds get_metric_info()
        def get_metric_info(self) -> dict[str, list[float]]:
            return {k: [1.0, 0.0, 0.0] for k in ("acceleration", "angular_velocity", "forward_vector",
                                                  "right_vector", "location", "rotation")}  # fmt: skip

    monkeypatch.setenv("SAVE_PATH", str(tmp_path / "eval"))
    agent = Bench2DriveAgent("127.0.0.1", 2000)
    poses, options = l_route()
    agent.set_global_plan(*leaderboard_plan(poses, options))
    agent.setup(f"{config}+route7")
    for i in range(30):
        data = {"speed": (i, {"speed": 0.0}), "imu": (i, np.array([0, 0, 9.81, 0, 0, 0, math.pi / 2]))}
        data["gnss"] = (i, np.array([*TRUTH.to_gps(0.0, 0.0), 0.0]))
        agent.run_step(data, i * 0.05)
    agent.destroy()
    written = json.loads((tmp_path / "eval" / "route7" / "metric_info.json").read_text())
    assert list(written) == [str(i) for i in range(30)] and written["0"]["forward_vector"] == [1.0, 0.0, 0.0]


def test_map_track_says_when_the_map_did_not_arrive(caplog: pytest.LogCaptureFixture) -> None:
    from planner.constant import ConstantPlanner, ConstantPlannerConfig

    driver = LeaderboardDriver(AgentConfig(track="MAP"), ConstantPlanner(ConstantPlannerConfig(speed="KEEP")))
    poses, options = l_route()
    driver.set_route([TRUTH.to_gps(x, y) for x, y, _ in poses], [tuple(p) for p in poses], [o.name for o in options])
    lat, lon = TRUTH.to_gps(0.0, 0.0)
    with caplog.at_level("WARNING", logger="sim.carla_backend.agent"):
        for i in range(50):
            driver.run_step(Readings(None, 0.0, (lat, lon), math.pi / 2), i * 0.05)
    assert any("no OpenDRIVE map after 2.0 s" in r.message for r in caplog.records)
    assert not driver.map_built

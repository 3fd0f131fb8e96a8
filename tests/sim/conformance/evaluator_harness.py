"""Runs our agent and our scoring against a real leaderboard / Bench2Drive checkout, in a process of its own (their
packages are named alike: `leaderboard`, `srunner`). Only the server side is stood in: the world answers from a real
`carla.Map` parsed from OpenDRIVE, the ego is a kinematic car, sensors are fed what a server would send.

    python evaluator_harness.py '{"mode": "agent", ...}'        # prints one JSON line

Modes:
- `statistics`: every case of CASES scored by their `StatisticsManager.compute_route_statistics`;
- `agent`: the agent imported and set up as their evaluator does it (`get_entry_point`, `set_global_plan` with
  their GPS conversion, `setup(agent_config)` with Bench2Drive's `+save_name`), its sensors checked by their
  `validate_sensor_configuration` and spawned by their `AgentWrapper.setup_sensors` (speedometer and OpenDRIVE map
  by their own pseudo-sensor readers), then ticked through their `AgentWrapper` / `SensorInterface` with `GameTime`.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import carla

# (event type name, dict) per case; route completion per case (what RouteCompletionTest reports)
CASES: dict[str, dict[str, Any]] = {
    "clean": {"events": [], "route": 100.0},
    "collisions": {
        "events": [
            ["COLLISION_VEHICLE", {}],
            ["COLLISION_VEHICLE", {}],
            ["TRAFFIC_LIGHT_INFRACTION", {}],
            ["COLLISION_PEDESTRIAN", {}],
            ["COLLISION_STATIC", {}],
            ["STOP_INFRACTION", {}],
            ["SCENARIO_TIMEOUT", {}],
        ],
        "route": 100.0,
    },
    "route timeout": {"events": [], "route": 62.0, "timeout": True},
    "outside lanes 22 m of 200": {"events": [["OUTSIDE_ROUTE_LANES_INFRACTION", {"percentage": 11.0}]], "route": 100.0},
    "min speed 50 %": {"events": [["MIN_SPEED_INFRACTION", {"percentage": 50.0}]], "route": 100.0},
    "yield to emergency vehicle": {"events": [["YIELD_TO_EMERGENCY_VEHICLE", {}]], "route": 100.0},
    "blocked": {"events": [["VEHICLE_BLOCKED", {}]], "route": 40.0},
    "red light and min speed 80 %": {
        "events": [["TRAFFIC_LIGHT_INFRACTION", {}], ["MIN_SPEED_INFRACTION", {"percentage": 80.0}]],
        "route": 98.37,
    },
}


def statistics() -> dict[str, Any]:
    import leaderboard.utils.statistics_manager as sm
    from srunner.scenariomanager.traffic_events import TrafficEvent, TrafficEventType

    out = {}
    for name, case in CASES.items():
        events = []
        for kind, details in case["events"]:
            event = TrafficEvent(getattr(TrafficEventType, kind), frame=0)
            event.set_dict(dict(details))
            event.set_message(f"{kind} {details}")
            events.append(event)
        done = TrafficEvent(TrafficEventType.ROUTE_COMPLETION, frame=0)
        done.set_dict({"route_completed": case["route"]})
        events.append(done)
        scenario = SimpleNamespace(
            timeout_node=SimpleNamespace(timeout=case.get("timeout", False)),
            get_criteria=lambda events=events: [SimpleNamespace(events=events)],
            route=[],
        )
        manager = sm.StatisticsManager("/dev/null", "/dev/null")
        try:
            manager.create_route_data("RouteScenario_0_rep0", 0)
        except TypeError:  # Bench2Drive's signature
            manager.create_route_data("RouteScenario_0_rep0", "s", "w", "save", "town", 0)
        manager._scenario = scenario
        manager.compute_route_statistics(0, 1.0, 1.0, "")
        record = manager._results.checkpoint.records[0]
        out[name] = {**record.scores, "status": record.status}
    out["_protocol"] = "leaderboard-2.0" if hasattr(sm, "PENALTY_PERC_DICT") else "leaderboard-2.1"
    return out


class Sensor:
    """A spawned sensor: keeps the listener their `AgentWrapper` attaches."""

    def __init__(self, blueprint: Any, transform: carla.Transform) -> None:
        self.type_id, self.attributes, self.transform = blueprint.id, dict(blueprint.attributes), transform
        self.callback: Any = None
        self.is_alive = True

    def listen(self, callback: Any) -> None:
        self.callback = callback

    def stop(self) -> None: ...

    def destroy(self) -> None:
        self.is_alive = False


class Blueprint:
    def __init__(self, bp_id: str) -> None:
        self.id, self.attributes = bp_id, {}

    def set_attribute(self, key: str, value: str) -> None:
        self.attributes[key] = value

    def has_attribute(self, key: str) -> bool:
        return True


class Ego:
    """A kinematic bicycle in CARLA's frame, driven by the controls the agent returns."""

    id = 1
    type_id = "vehicle.lincoln.mkz_2020"
    attributes = {"role_name": "hero"}  # noqa: RUF012

    def __init__(self, transform: carla.Transform) -> None:
        self.x, self.y, self.yaw = transform.location.x, transform.location.y, math.radians(transform.rotation.yaw)
        self.speed, self.yaw_rate = 0.0, 0.0

    def step(self, control: carla.VehicleControl, dt: float) -> None:
        self.speed = max(0.0, self.speed + (4.0 * control.throttle - 8.0 * control.brake) * dt)
        self.yaw_rate = self.speed / 2.9 * math.tan(control.steer * math.radians(35.0))  # CARLA: + steers right
        self.x += self.speed * math.cos(self.yaw) * dt
        self.y += self.speed * math.sin(self.yaw) * dt
        self.yaw += self.yaw_rate * dt

    def get_transform(self) -> carla.Transform:
        return carla.Transform(carla.Location(self.x, self.y, 0.0), carla.Rotation(yaw=math.degrees(self.yaw)))

    def get_location(self) -> carla.Location:
        return carla.Location(self.x, self.y, 0.0)

    def get_velocity(self) -> carla.Vector3D:
        return carla.Vector3D(self.speed * math.cos(self.yaw), self.speed * math.sin(self.yaw), 0.0)

    def get_acceleration(self) -> carla.Vector3D:
        return carla.Vector3D(0.0, 0.0, 0.0)

    def get_angular_velocity(self) -> carla.Vector3D:
        return carla.Vector3D(0.0, 0.0, math.degrees(self.yaw_rate))


class World:
    def __init__(self, town: carla.Map, ego: Ego) -> None:
        self.map, self.ego, self.sensors = town, ego, []

    def get_map(self) -> carla.Map:
        return self.map

    def get_settings(self) -> carla.WorldSettings:
        return carla.WorldSettings(synchronous_mode=True, fixed_delta_seconds=0.05)

    def get_blueprint_library(self) -> Any:
        return SimpleNamespace(find=Blueprint)

    def spawn_actor(self, blueprint: Blueprint, transform: carla.Transform, attach_to: Any = None) -> Sensor:
        self.sensors.append(Sensor(blueprint, transform))
        return self.sensors[-1]

    def get_actors(self) -> list[Any]:
        return [self.ego]

    def tick(self, timeout: float = 10.0) -> int:
        return 0


def route_along_lane(town: carla.Map, start: carla.Location, length_m: float, road_option: Any) -> list[Any]:
    """A dense route (one point per metre, as their interpolate_trajectory gives it) following the lane."""
    wp = town.get_waypoint(start)
    route = [(wp.transform, road_option.LANEFOLLOW)]
    for _ in range(int(length_m)):
        nxt = wp.next(1.0)
        if not nxt:
            break
        wp = nxt[0]
        route.append((wp.transform, road_option.LANEFOLLOW))
    return route


def agent_run(args: dict[str, Any]) -> dict[str, Any]:
    from agents.navigation.local_planner import RoadOption
    from leaderboard.autoagents.agent_wrapper import AgentWrapper, validate_sensor_configuration
    from leaderboard.utils.route_manipulation import _get_latlon_ref, _location_to_gps, location_route_to_gps
    from srunner.scenariomanager.carla_data_provider import CarlaDataProvider
    from srunner.scenariomanager.timer import GameTime

    town = carla.Map("Town", Path(args["xodr"]).read_text())
    route = route_along_lane(town, carla.Location(x=12.0, y=1.75), args.get("route_m", 80.0), RoadOption)
    ego = Ego(route[0][0])
    world = World(town, ego)
    CarlaDataProvider._world, CarlaDataProvider._map = world, town  # set_world would build a route planner too
    CarlaDataProvider._sync_flag = True
    GameTime.restart()

    # as leaderboard_evaluator._load_and_run_scenario does it
    sys.path.insert(0, os.path.dirname(args["agent"]))
    module_agent = importlib.import_module(os.path.basename(args["agent"]).split(".")[0])
    agent_class = getattr(module_agent, module_agent.get_entry_point())
    agent = agent_class("localhost", 2000, 0)
    agent.set_global_plan(location_route_to_gps(route, *_get_latlon_ref(world)), route)
    agent_config = args["agent_config"] + (f"+{args['save_name']}" if args.get("save_name") else "")
    agent.setup(agent_config)
    sensors = agent.sensors()
    validate_sensor_configuration(sensors, agent.track, args["track"])
    wrapper = AgentWrapper(agent)
    wrapper.setup_sensors(ego)

    lat_ref, lon_ref = _get_latlon_ref(world)
    callbacks = {s.attributes.get("role_name", s.type_id): s for s in world.sensors}
    full_brakes, started = 0, time.time()
    ticks = int(args.get("ticks", 200))
    dt = 0.05000000074505806  # fixed_delta_seconds as a server reports it (a float32 0.05)
    for frame in range(1, ticks + 1):
        GameTime.on_carla_tick(SimpleNamespace(frame=frame, delta_seconds=dt, elapsed_seconds=frame * dt))
        feed_sensors(world, frame, args.get("gnss", "leaderboard"), lat_ref, lon_ref, _location_to_gps)
        control = wrapper()
        full_brakes += frame > 20 and control.brake >= 1.0
        ego.step(control, 0.05)
    end = route[-1][0].location
    progress = [math.hypot(ego.x - t.location.x, ego.y - t.location.y) for t, _ in route]
    driver = getattr(agent, "driver", None)
    convention = driver.gnss.current if driver is not None and driver.gnss is not None else None
    map_built = bool(driver is not None and driver.map_built)
    wrapper.cleanup()
    agent.destroy()
    return {
        "track": agent.track.value,
        "sensors": [s["type"] for s in sensors],
        "callbacks": sorted(callbacks),
        "ticks": ticks,
        "full_brakes": full_brakes,
        "nearest_route_index": progress.index(min(progress)),
        "route_points": len(route),
        "to_end_m": math.hypot(ego.x - end.x, ego.y - end.y),
        "gnss_convention": convention,
        "map_built": map_built,
        "speed": ego.speed,
        "save_name": getattr(agent, "save_name", None),
        "wall_s": time.time() - started,
    }


def feed_sensors(world: World, frame: int, gnss: str, lat_ref: float, lon_ref: float, to_gps: Any) -> None:
    """What a server sends each tick, parsed by their CallBack's own parsers (their dispatch needs libcarla
    measurement objects, which only a server creates)."""
    import numpy as np

    ego = world.ego
    time.sleep(0.003)  # a server's latency: their pseudo-sensor reader threads (speedometer, map) poll every 1 ms
    for sensor in world.sensors:
        cb = sensor.callback
        if cb is None:
            continue
        if sensor.type_id == "sensor.camera.rgb":
            w, h = int(sensor.attributes["image_size_x"]), int(sensor.attributes["image_size_y"])
            image = SimpleNamespace(raw_data=bytes(np.zeros((h, w, 4), np.uint8)), height=h, width=w, frame=frame)
            cb._parse_image_cb(image, cb._tag)
        elif sensor.type_id == "sensor.other.gnss":
            location = ego.get_location()
            if gnss == "carla-0.9.16":  # the 0.9.16 client's own geo-reference: latitude of the opposite sign
                fix = world.map.transform_to_geolocation(location)
                lat, lon = fix.latitude, fix.longitude
            else:  # what the leaderboard's route GPS (and a 0.9.15 server) gives
                point = to_gps(lat_ref, lon_ref, location)
                lat, lon = point["lat"], point["lon"]
            cb._parse_gnss_cb(SimpleNamespace(latitude=lat, longitude=lon, altitude=0.0, frame=frame), cb._tag)
        elif sensor.type_id == "sensor.other.imu":
            compass = (ego.yaw + math.pi / 2) % (2 * math.pi)  # CARLA: radians clockwise from north (-y)
            imu = SimpleNamespace(
                accelerometer=carla.Vector3D(0.0, 0.0, 9.81),
                gyroscope=carla.Vector3D(0.0, 0.0, ego.yaw_rate),
                compass=compass,
                frame=frame,
            )
            cb._parse_imu_cb(imu, cb._tag)


def main() -> None:
    args = json.loads(sys.argv[1])
    result = statistics() if args["mode"] == "statistics" else agent_run(args)
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # their pseudo-sensor reader threads never end by themselves


if __name__ == "__main__":
    main()

"""`CarlaBackend`: a CARLA 0.9.15/0.9.16 server behind the shared `sim.core.Backend` protocol.

The constructor only validates the config; `load()` connects (failing within the timeout with host and port named),
loads the scenario's town, switches world and Traffic Manager to synchronous mode, builds the lane graph from the
town's topology (so the controller, the expert, routing, infractions and the BEV are the embedded simulator's),
spawns the ego (role_name "hero") with its camera, collision and lane-invasion sensors, the scenario's actors and the
background traffic. `close()` undoes all of it. Coordinates everywhere outside `sim.carla_backend` are our
right-handed frame.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import carla
import numpy as np

from scenarios import ScenarioError, check_placements
from sim.carla_backend.actors import ActorDirector
from sim.carla_backend.client import CarlaServerLost, connect
from sim.carla_backend.config import CarlaConfig, carla_config
from sim.carla_backend.flows import CarlaFlows
from sim.carla_backend.frames import (
    along_heading,
    box_centre,
    control_to_carla,
    from_vector,
    pose_from_transform,
    to_transform,
    yaw_rate_from_carla,
)
from sim.carla_backend.infractions import CarlaInfractions, CollisionBook, light_codes
from sim.carla_backend.lights import LightHolds, apply_wanted, color_of, light_id, set_cycle
from sim.carla_backend.network import build_network, stop_points_from_trigger
from sim.carla_backend.placement import ground_height, plan_actors
from sim.carla_backend.routing import plan_route
from sim.carla_backend.sensors import EgoSensors
from sim.carla_backend.session import CarlaSession
from sim.carla_backend.weather import weather_parameters
from sim.core import (
    EgoState,
    Infraction,
    LightColor,
    Observation,
    TrafficLightState,
    VehicleControl,
    WorldState,
)
from sim.disturbance import ControlDisturbance
from sim.embedded.backend import navigation_text
from sim.embedded.infractions import InfractionConfig, InfractionMonitor
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.routing import PlannedRoute, RouteError

TOWN_PATTERN = "Town"


def town_of(scenario: Any) -> str:
    """The CARLA town a scenario names; a ScenarioError for the embedded generators' maps."""
    name = str(getattr(scenario.map, "name", ""))
    if not name.startswith(TOWN_PATTERN):
        raise ScenarioError(
            scenario.name, [f"map.name: the CARLA backend needs a CARLA town such as Town03, got {name!r}"]
        )
    return name


class CarlaBackend:
    """Implements `sim.core.Backend` on a CARLA server. Keyword arguments are `CarlaConfig` fields."""

    def __init__(self, **config: Any) -> None:
        self.config: CarlaConfig = carla_config(config)
        self.dt = self.config.dt
        self.camera = self.config.camera
        self._session: CarlaSession | None = None
        self._blank = np.zeros((self.camera.height, self.camera.width, 3), dtype=np.uint8)
        self._blank.flags.writeable = False

    # ---- protocol -------------------------------------------------------------------------------------------
    def load(self, scenario: Any, seed: int) -> None:
        scenario = _as_scenario(scenario)
        town = town_of(scenario)
        self.close()
        self._session = CarlaSession(connect(self.config), self.config)
        try:
            self._build(self._session, scenario, int(seed), town)
        except BaseException:
            self.close()
            raise

    def step(self, control: VehicleControl) -> None:
        s = self._require()
        ego = s.ego
        control = self.disturbance.apply(control, self.route_s, self.dt)  # loss of control, where the scenario says
        with s.guard("applying the ego control"):
            ego.apply_control(control_to_carla(control))
            self.director.update(self.time, (self.ego.x, self.ego.y), self.dt, self.ego)
            self.flows.update(self.director, self.time, (self.ego.x, self.ego.y), self.dt, self.spawn_z)
            apply_wanted(self.lights, self.holds.wanted(self.time, self.light_groups))
        self.frame = s.tick()
        self.time = round(self.time + self.dt, 9)
        self.control = control
        before = self.ego
        self._read_ego()
        with s.guard("judging the emergency vehicles"):
            self.infractions.monitor.events.extend(self.director.judge_emergency(self.time, self.dt, self.ego))
        codes = light_codes([color_of(self.lights[lid].state) for lid in self.graph.light_ids])
        moved = math.hypot(self.ego.x - before.x, self.ego.y - before.y)
        self.infractions.update(
            self.time,
            self.ego,
            self.lane,
            self.route_d,
            codes,
            moved,
            self.sensors.collisions.drain(),
            self.sensors.invasions.drain(),
        )
        self._world_cache = None

    def observe(self) -> Observation:
        s = self._require()
        image = self._blank
        if self.config.render:
            try:
                image = self.sensors.image(self.frame, self.config.sensor_timeout_s)
            except TimeoutError as err:
                s.lost = True
                raise CarlaServerLost(f"CARLA server at {self.config.address}: camera frame missing: {err}") from err
        nav = navigation_text(self.plan, self.route_s, self.config.nav_horizon_m)
        return Observation(image, self.ego, nav, self.time)

    def ground_truth(self) -> WorldState:
        s = self._require()
        if self._world_cache is None:
            with s.guard("reading the actors"):
                actors = self.director.states(self._lane_of)
            self._world_cache = WorldState(
                self.time,
                self.ego,
                actors,
                self.light_states(),
                self.plan.route,
                self.route_s,
                self.graph.ids[self.lane] if self.lane >= 0 else None,
                float(self.graph.speed_limit[self.lane])
                if self.lane >= 0
                else self.config.default_speed_limit_kmh / 3.6,
                self._extras(),
            )
        return self._world_cache

    def events(self) -> list[Infraction]:
        return self.infractions.drain() if self._session is not None else []

    def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()

    # ---- CARLA extras ---------------------------------------------------------------------------------------
    @property
    def road_map(self) -> EmbeddedRoadMap:
        self._require()
        return self._road_map

    @property
    def network(self) -> RoadNetwork:
        """The town's lanes as a road network, for the BEV renderer of review videos."""
        self._require()
        return self.graph.net

    @property
    def planned_route(self) -> PlannedRoute:
        self._require()
        return self.plan

    @property
    def carla_world(self) -> Any:
        return self._require().world

    def force_light(self, light: str, color: LightColor | str, duration_s: float | None = None) -> None:
        """Hold a light ("tl<actor id>", as in ground truth) at a colour, for `duration_s` or for good."""
        if light not in self.lights:
            raise KeyError(f"unknown traffic light {light!r}")
        self.holds.force(light, LightColor(color), self.time, duration_s)
        self.light_groups.setdefault(light, self._group_of(light))

    def light_states(self) -> tuple[TrafficLightState, ...]:
        out = []
        for lid, head in self.graph.net.lights.items():
            color = color_of(self.lights[lid].state)
            out.append(TrafficLightState(lid, color, head.position, head.stop_line, tuple(head.lane_ids)))
        return tuple(out)

    # ---- building the route -----------------------------------------------------------------------------------
    def _build(self, s: CarlaSession, scenario: Any, seed: int, town: str) -> None:
        cfg, source = self.config, scenario.name
        world = s.open_town(town, source)
        s.synchronous(seed)
        with s.guard("reading the map"):
            world.set_weather(weather_parameters(cfg.weather or scenario.weather))
            cmap = world.get_map()
            self.lights = {light_id(a): a for a in world.get_actors().filter("traffic.traffic_light*")}
            network = build_network(
                cmap, cfg.lane_sampling_m, cfg.default_speed_limit_kmh / 3.6, self._stop_points(world, cmap)
            )
        self.graph = LaneGraph(network)
        self._road_map = EmbeddedRoadMap(self.graph)
        try:
            self.plan = plan_route(self.graph, scenario.route, np.random.default_rng(int(scenario.seed)))
        except RouteError as err:
            raise ScenarioError(source, [f"route: {err} (on {town}; coordinates are ours: y = -CARLA y)"]) from None
        check_placements(scenario, self.plan.route, source)
        plans = plan_actors(scenario.actors, self.plan.route, self.graph, source)
        self.flows = CarlaFlows(list(scenario.flows), self.plan.route, self.graph, source, np.random.default_rng(seed))
        self.disturbance = ControlDisturbance(list(scenario.disturbances), np.random.default_rng([seed, 0xD15]))

        def ground_z(x: float, y: float) -> float:
            return ground_height(cmap, x, y)

        x0, y0, yaw0 = self.plan.route.to_world(0.0)
        self.spawn_z = ground_z(x0, y0) + cfg.spawn_lift_m  # flows enter at about the route's height
        ego = s.spawn_ego(to_transform(x0, y0, self.spawn_z, yaw0))
        self.director = ActorDirector(s.client, world, s.tm, self.plan.route)
        s.destroy_later(lambda: [*self.director.actor_ids(), int(ego.id)], before=self.director.stop_controllers)
        with s.guard("spawning sensors and actors"):
            self.sensors = EgoSensors(world, ego, cfg.camera if cfg.render else None, cfg.dt)
            s.cleanups.append(("destroying the ego's sensors", self.sensors.destroy))
            self.director.spawn_scenario(plans, ground_z, cfg.spawn_lift_m)
            keep_clear = [self.plan.route.to_world(float(d))[:2] for d in np.arange(-10.0, 45.0, 5.0)]
            traffic = scenario.traffic
            self.director.spawn_background(
                traffic.vehicles, traffic.pedestrians, np.random.default_rng(seed), keep_clear
            )
            set_cycle(self.lights, *traffic.light_cycle_s)
            self.max_steer = math.radians(float(ego.get_physics_control().wheels[0].max_steer_angle))
        self.holds, self.light_groups = LightHolds(), {}
        self.time, self.route_s, self.route_d, self.lane, self.control = 0.0, 0.0, 0.0, -1, VehicleControl()
        for i, override in enumerate(scenario.lights):
            if override.approach != "route":
                raise ScenarioError(
                    source, [f"lights[{i}].approach: the CARLA backend forces the route's own light only"]
                )
            self.force_light(self._light_at(override.junction, source), LightColor(override.state), override.duration_s)
        self._settle(s, ego, float(scenario.ego.speed), yaw0)
        criteria = scenario.criteria
        icfg = InfractionConfig(
            oncoming_lane_ok=bool(criteria.oncoming_lane_ok),
            blocked_s=float(criteria.blocked_s),
            blocked_speed=cfg.blocked_speed,
            route_deviation_m=cfg.route_deviation_m,
        )
        monitor = InfractionMonitor(self.graph, self.plan.lane_set, icfg)
        kinds = {int(t.actor.id): t.kind for t in self.director.tracked}
        self.infractions = CarlaInfractions(monitor, CollisionBook(cfg.collision_dedupe_s, kinds))
        self.sensors.collisions.drain()  # contacts while settling at spawn are not the driver's
        self.sensors.invasions.drain()

    def _settle(self, s: CarlaSession, ego: Any, speed: float, yaw: float) -> None:
        """Two ticks: actors land and walker controllers exist; then initial speeds and scripted states apply."""
        self.frame = s.tick()
        with s.guard("starting the actors"):
            self.director.prepare()
            self.director.start_walkers()
            if speed > 0:
                ego.set_target_velocity(carla.Vector3D(x=speed * math.cos(yaw), y=-speed * math.sin(yaw), z=0.0))
            apply_wanted(self.lights, self.holds.wanted(0.0, self.light_groups))
        self.frame = s.tick()
        self._read_ego()
        self._world_cache: WorldState | None = None

    def _stop_points(self, world: Any, cmap: Any) -> list:
        def waypoint_at(loc: Any) -> Any:
            return cmap.get_waypoint(loc, True, carla.LaneType.Driving)

        points = []
        for lid, actor in self.lights.items():
            points += stop_points_from_trigger(actor.get_transform(), actor.trigger_volume, waypoint_at, lid)
        for sign in world.get_actors().filter("traffic.stop"):
            points += stop_points_from_trigger(sign.get_transform(), sign.trigger_volume, waypoint_at, None)
        return points

    def _light_at(self, junction: int, source: str) -> str:
        maneuvers = self.plan.route.maneuvers
        if junction >= len(maneuvers):
            raise ScenarioError(source, [f"lights: the route meets {len(maneuvers)} junctions, no junction {junction}"])
        jid = maneuvers[junction].junction_id
        stop = next((st for st in self.plan.stops if st.junction_id == jid and st.light_id), None)
        if stop is None or stop.light_id is None:
            raise ScenarioError(source, [f"lights: junction {junction} of the route ({jid}) has no traffic light"])
        return stop.light_id

    def _group_of(self, light: str) -> tuple[str, ...]:
        actor = self.lights[light]
        return tuple(light_id(o) for o in actor.get_group_traffic_lights() if o.id != actor.id)

    # ---- state ------------------------------------------------------------------------------------------------
    def _read_ego(self) -> None:
        ego = self._require().ego
        tf, box = ego.get_transform(), ego.bounding_box
        x, y = box_centre(tf, box.location)
        yaw = pose_from_transform(tf)[3]
        self.ego = EgoState(
            x=x,
            y=y,
            yaw=yaw,
            speed=along_heading(from_vector(ego.get_velocity()), yaw),
            accel=along_heading(from_vector(ego.get_acceleration()), yaw),
            yaw_rate=yaw_rate_from_carla(ego.get_angular_velocity()),
            steer_angle=-self.control.steer * self.max_steer,  # CARLA steers right for positive steer
            length=2 * float(box.extent.x),
            width=2 * float(box.extent.y),
        )
        prefer = tuple(self.plan.lane_set)
        hit = self.graph.nearest(x, y, yaw, max_dist=0.0, prefer=prefer)
        self.lane, self.lane_s = (hit.lane, hit.s) if hit is not None else (-1, 0.0)
        self.route_s, self.route_d = self.plan.route.project(x, y, s_hint=self.route_s, window=10.0)

    def _lane_of(self, x: float, y: float, yaw: float) -> str | None:
        hit = self.graph.nearest(x, y, yaw, max_dist=1.0)
        return self.graph.ids[hit.lane] if hit is not None else None

    def _extras(self) -> dict[str, Any]:
        stop = self.plan.next_stop(self.route_s - 0.5)
        stop_info = None
        if stop is not None:
            color = color_of(self.lights[stop.light_id].state).value if stop.light_id in self.lights else None
            stop_info = stop.describe(self.route_s, color)
        return {
            "lane_s": self.lane_s,
            "route_d": self.route_d,
            "route_completion": min(1.0, max(0.0, self.route_s / self.plan.route.length)),
            "outside_route_m": self.infractions.monitor.outside_route_m,
            "outside_route_lanes": self.infractions.monitor.outside_route_lanes,
            "stop_ahead": stop_info,
            "distance_to_junction_m": self.plan.distance_to_junction(self.route_s),
            "lane_invasions": dict(self.infractions.lane_invasions),
            "frame": self.frame,
        }

    def _require(self) -> CarlaSession:
        if self._session is None:
            raise RuntimeError("CarlaBackend: call load(scenario, seed) first")
        return self._session

    def __enter__(self) -> CarlaBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_scenario(scenario: Any) -> Any:
    if isinstance(scenario, str | Path):
        from scenarios import load_scenario

        return load_scenario(scenario)
    if isinstance(scenario, dict):
        from scenarios import scenario_from_dict

        return scenario_from_dict(scenario)
    return scenario

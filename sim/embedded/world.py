"""The embedded driving world: town, route, ego, NPC traffic, pedestrians, props, lights and infractions.

`World` owns the state and the tick order (ego -> lights -> triggers -> traffic -> pedestrians -> infractions).
The map and the route come from the scenario's own seed (so waypoints and placements stay valid); everything
random that moves (traffic, pedestrians, light offsets) comes from the run seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scenarios import check_placements
from sim.core import (
    ActorKind,
    ActorState,
    EgoState,
    Infraction,
    LightColor,
    TrafficLightState,
    VehicleControl,
    WorldState,
)
from sim.disturbance import ControlDisturbance
from sim.embedded.actor_table import ActorTable
from sim.embedded.flows import Flows
from sim.embedded.infractions import InfractionConfig, InfractionMonitor
from sim.embedded.lights import CODE_COLOR, LightController, LightTiming
from sim.embedded.pedestrians import PedestrianConfig, Pedestrians
from sim.embedded.placement import place_actors
from sim.embedded.props import Props
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.scenario_map import build_scenario_map, light_stop
from sim.embedded.traffic import Approach, Obstacles, Traffic, TrafficConfig
from sim.embedded.vehicle import KinematicBicycle, VehicleParams
from sim.emergency import EmergencyPose, EmergencyVehicles

WRONG_WAY_ROOM_M = 4.0  # traffic facing the ego in its own lane stops this much further back, leaving it room to go


@dataclass(frozen=True)
class WorldConfig:
    dt: float = 0.05
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    pedestrians: PedestrianConfig = field(default_factory=PedestrianConfig)
    infractions: InfractionConfig | None = None  # None: from the scenario's criteria
    nav_horizon_m: float = 150.0


@dataclass
class Trigger:
    """Fires `action` once, when the ego comes within `ego_within_m` of the actor or at `time_s`."""

    action: Any  # () -> None
    position: Any  # () -> (x, y)
    ego_within_m: float | None = None
    time_s: float | None = None
    fired: bool = False


@dataclass
class EgoTrack:
    lane: int = -1
    lane_s: float = 0.0
    route_s: float = 0.0
    route_d: float = 0.0


@dataclass
class World:
    scenario: Any
    seed: int
    config: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        sc, cfg = self.scenario, self.config
        built = build_scenario_map(sc)
        self.network, self.graph, self.plan = built.network, built.graph, built.plan
        self.road_map = EmbeddedRoadMap(self.graph)
        self.route = self.plan.route
        check_placements(sc, self.route, str(getattr(sc, "name", "scenario")))
        rng = np.random.default_rng(self.seed)
        traffic_spec = getattr(sc, "traffic", None)
        cycle = tuple(getattr(traffic_spec, "light_cycle_s", (15.0, 3.0, 15.0)))
        self.lights = LightController(self.network, LightTiming(*cycle), rng)
        self._light_cache: tuple[bytes, tuple[TrafficLightState, ...]] = (b"", ())
        self.time = 0.0
        x, y, yaw = self.route.to_world(0.0)
        ego_spec = getattr(sc, "ego", None)
        self.ego_model = KinematicBicycle.at_centre(cfg.vehicle, x, y, yaw, float(getattr(ego_spec, "speed", 0.0)))
        self.ego = self.ego_model.ego_state()
        self.track = EgoTrack()
        self._track_ego()
        self.traffic = Traffic(self.graph, cfg.traffic, rng)
        self.pedestrians = Pedestrians(self.network, cfg.pedestrians, rng)
        self.props = Props()
        self.emergency = EmergencyVehicles()
        self.triggers: list[Trigger] = []
        self.actor_heights: dict[int, float] = {}
        next_id = place_actors(self, list(getattr(sc, "actors", [])))
        n_vehicles = int(getattr(traffic_spec, "vehicles", 0))
        n_pedestrians = int(getattr(traffic_spec, "pedestrians", 0))
        self.traffic.spawn_random(n_vehicles, next_id, keep_clear=self._ego_clearance())
        self.pedestrians.spawn_random(n_pedestrians, next_id + n_vehicles)
        self._next_id = next_id + n_vehicles + n_pedestrians
        for i, override in enumerate(getattr(sc, "lights", [])):
            self._force_light(override, f"lights[{i}].junction")
        # flows and disturbances draw from their own streams, so adding one leaves the rest of a world unchanged
        self.flows = Flows(self, list(getattr(sc, "flows", [])), np.random.default_rng([self.seed, 0xF10]))
        for i, flow in enumerate(self.flows.flows):
            trig = flow.spec.trigger
            if trig is None:
                self.flows.start(i)
            else:
                xy = self.graph.pose1(flow.lane, flow.s)[:2]
                start = lambda i=i: self.flows.start(i)  # noqa: E731
                self.triggers.append(Trigger(start, lambda xy=xy: xy, trig.ego_within_m, trig.time_s))
        stretches = list(getattr(sc, "disturbances", []))
        self.disturbance = ControlDisturbance(stretches, np.random.default_rng([self.seed, 0xD15]))
        criteria = getattr(sc, "criteria", None)
        icfg = cfg.infractions or InfractionConfig(
            blocked_s=float(getattr(criteria, "blocked_s", 60.0)),
            oncoming_lane_ok=bool(getattr(criteria, "oncoming_lane_ok", False)),
        )
        self.monitor = InfractionMonitor(self.graph, self.plan.lane_set, icfg)
        self._refresh_actor_arrays()
        self._actor_cache: tuple[float, Sequence[ActorState]] = (-1.0, ())

    # ---- setup helpers ----------------------------------------------------------------------------------------
    def _ego_clearance(self) -> list[tuple[int, float]]:
        """Lane positions random traffic must not spawn on: the first 40 m of the route."""
        out = []
        for s in np.arange(-10.0, 40.0, 5.0):
            x, y, _ = self.route.to_world(float(s))
            for hit in self.graph.lanes_near(x, y, 0.5):
                out.append((hit.lane, hit.s))
        return out

    def new_actor_id(self) -> int:
        """A fresh id for an actor that enters the world after it was built (flows)."""
        self._next_id += 1
        return self._next_id - 1

    def _force_light(self, override: Any, field: str) -> None:
        stop = light_stop(self.plan, int(override.junction), field, str(getattr(self.scenario, "name", "scenario")))
        light_id = stop.light_id
        approach = getattr(override, "approach", "route")
        if approach != "route":
            jid = self.route.maneuvers[int(override.junction)].junction_id
            light_id = self._light_of_approach(jid, stop.light_id, approach)
        duration = getattr(override, "duration_s", None)
        self.lights.force(light_id, LightColor(override.state), self.time, duration, alone=approach != "route")

    def _light_of_approach(self, jid: str, own: str, approach: str) -> str:
        """The light at junction `jid` facing traffic that comes from our left, right or the opposite side."""
        heads = self.network.lights
        travel = heads[own].yaw + math.pi  # heads face the traffic they control
        wanted = {"opposite": math.pi, "left": -math.pi / 2, "right": math.pi / 2}[approach]
        for hid in self.network.junctions[jid].light_ids:
            other = heads[hid].yaw + math.pi
            if abs(math.remainder(other - travel - wanted, 2 * math.pi)) < 0.5:
                return hid
        raise ValueError(f"lights: junction {jid} has no approach from the {approach}")

    # ---- the tick ---------------------------------------------------------------------------------------------
    def step(self, control: VehicleControl) -> None:
        dt = self.config.dt
        before = self.ego
        control = self.disturbance.apply(control, self.track.route_s, dt)
        self.ego_model.step(control, dt)
        self.ego = self.ego_model.ego_state()
        self.time = round(self.time + dt, 9)
        self.lights.update(self.time)
        self._track_ego()
        self._fire_triggers()
        ext, approach, ego_conn = self._npc_inputs()
        self.traffic.step(dt, self.lights.codes, ext, approach, ego_conn)
        self.flows.step(dt)
        self._emergency_vehicles(dt)
        e = self.ego
        ego_box = np.array([[e.x, e.y, e.yaw, e.length, e.width]])
        self.pedestrians.step(dt, self.lights, np.concatenate([ego_box, self.traffic.boxes()]))
        self._refresh_actor_arrays()
        moved = math.hypot(self.ego.x - before.x, self.ego.y - before.y)
        self.monitor.update(
            self.time,
            self.ego,
            self.track.lane,
            self.track.route_d,
            self._boxes,
            self._ids,
            self._kinds,
            self.lights.codes,
            moved,
        )

    def _track_ego(self) -> None:
        g, e, tr = self.graph, self.ego, self.track
        tr.route_s, tr.route_d = self.route.project(e.x, e.y, s_hint=tr.route_s, window=10.0)
        if tr.lane >= 0:
            for lane in [tr.lane, *sorted(g.succ[tr.lane], key=lambda c: c not in self.plan.lane_set)]:
                hit = g.project(lane, e.x, e.y, s_hint=tr.lane_s if lane == tr.lane else 0.0, window=5.0)
                lane_yaw = g.yaw[g.offset[lane] + min(int(max(hit.s, 0.0) / g.step[lane]), g.count[lane] - 1)]
                aligned = abs(math.remainder(e.yaw - lane_yaw, 2 * math.pi)) < 1.0
                if 0.0 <= hit.s <= g.length[lane] and abs(hit.d) <= g.width[lane] / 2 and aligned:
                    tr.lane, tr.lane_s = lane, hit.s
                    return
        prefer = tuple(self.plan.lane_set)
        hit = g.nearest(e.x, e.y, e.yaw, max_dist=0.0, prefer=prefer)
        tr.lane, tr.lane_s = (hit.lane, hit.s) if hit is not None else (-1, 0.0)

    def _fire_triggers(self) -> None:
        for trig in self.triggers:
            if trig.fired:
                continue
            due = trig.time_s is not None and self.time >= trig.time_s
            if trig.ego_within_m is not None:
                x, y = trig.position()
                due = due or math.hypot(x - self.ego.x, y - self.ego.y) <= trig.ego_within_m
            if due:
                trig.fired = True
                trig.action()

    def _emergency_vehicles(self, dt: float) -> None:
        """Emergency vehicles keep their margin over the ego's speed; the yield rule judges, finished ones leave."""
        tr = self.traffic
        poses = {}
        for ev in self.emergency.active:
            k = tr.index_of(ev.actor_id)
            tr.v_des[k] = self.emergency.wanted_speed(self.ego, ev.actor_id)
            poses[ev.actor_id] = EmergencyPose(float(tr.x[k]), float(tr.y[k]), float(tr.yaw[k]), float(tr.v[k]))
        events, done = self.emergency.step(self.time, dt, self.ego, poses)
        self.monitor.events.extend(events)
        for actor_id in done:
            tr.remove(tr.index_of(actor_id))

    def _npc_inputs(self) -> tuple[Obstacles, Approach | None, int]:
        """What NPC vehicles must respect besides each other: the ego, props and pedestrians on the road."""
        g, tr, e = self.graph, self.track, self.ego
        lanes, ss, vs, halves = [], [], [], []
        approach, ego_conn = None, -1
        if tr.lane >= 0:
            hit = g.project(tr.lane, e.x, e.y, s_hint=tr.lane_s, window=3.0)
            lanes.append(tr.lane)
            ss.append(tr.lane_s)
            lane_yaw = g.pose1(tr.lane, tr.lane_s)[2]
            wrong_way = math.cos(e.yaw - lane_yaw) < 0.0  # passing in the oncoming lane: traffic there stops for it
            vs.append(0.0 if wrong_way else max(e.speed, 0.0))
            halves.append(e.length / 2 + (WRONG_WAY_ROOM_M if wrong_way else 0.0))
            side = g.left[tr.lane] if hit.d > 0 else g.right[tr.lane]
            across = g.opposite[tr.lane] if hit.d > 0 and side < 0 else -1  # half over the centre line
            if max(side, across) >= 0 and abs(hit.d) + e.width / 2 > g.width[tr.lane] / 2 + 0.2:  # straddling
                other = int(max(side, across))
                on_other = g.project(other, e.x, e.y)
                lanes.append(other)
                ss.append(on_other.s if across >= 0 else g.map_s(tr.lane, tr.lane_s, other))
                vs.append(0.0 if across >= 0 else max(e.speed, 0.0))
                halves.append(e.length / 2 + (WRONG_WAY_ROOM_M if across >= 0 else 0.0))
            if g.is_connector[tr.lane]:
                ego_conn = tr.lane
                for hit in g.lanes_near(e.x, e.y, e.width / 2):  # in a junction: in the way of whatever crosses here
                    if hit.lane != tr.lane and g.is_connector[hit.lane]:
                        lanes.append(hit.lane)
                        ss.append(hit.s)
                        vs.append(0.0)
                        halves.append(e.length / 2)
            else:
                conn = next((c for c in g.succ[tr.lane] if c in self.plan.lane_set), -1)
                if conn >= 0:
                    approach = Approach(conn, float(g.length[tr.lane] - tr.lane_s - e.length / 2), max(e.speed, 0.0))
        peds = self.pedestrians
        on_road = peds.on_road_candidates()
        _, ped_lane, ped_s, _ = g.lanes_near_many(peds.x[on_road], peds.y[on_road], 0.8)
        props = self.props.obstacles
        ext = Obstacles(
            np.concatenate([np.asarray(lanes, dtype=np.int64), ped_lane, props.lane]),
            np.concatenate([np.asarray(ss, dtype=float), ped_s, props.s]),
            np.concatenate([np.asarray(vs, dtype=float), np.zeros(len(ped_lane)), props.v]),
            np.concatenate([np.asarray(halves, dtype=float), np.full(len(ped_lane), 0.4), props.half_length]),
        )
        return ext, approach, ego_conn

    def _refresh_actor_arrays(self) -> None:
        tr, pd, pr = self.traffic, self.pedestrians, self.props
        parts = [tr.boxes() if tr.ids else np.zeros((0, 5)), pd.boxes() if pd.ids else np.zeros((0, 5)), pr.boxes]
        self._boxes = np.concatenate(parts)
        self._ids = tr.ids + pd.ids + pr.ids
        self._kinds = tr.kinds + [ActorKind.PEDESTRIAN] * len(pd.ids) + pr.kinds
        if pd.kinds_override:
            for k, kind in pd.kinds_override.items():
                self._kinds[len(tr.ids) + k] = kind

    # ---- read-out ---------------------------------------------------------------------------------------------
    def events(self) -> list[Infraction]:
        return self.monitor.drain()

    def actor_states(self) -> Sequence[ActorState]:
        """Every actor but the ego, as of now: one table per tick, shared by the camera and the ground truth and
        turned into ActorState objects on first read (actor_table.py)."""
        if self._actor_cache[0] != self.time:
            self._actor_cache = (self.time, ActorTable(self.traffic, self.pedestrians, self.props, self.graph.ids))
        return self._actor_cache[1]

    def light_states(self) -> tuple[TrafficLightState, ...]:
        """Every head's state, rebuilt only when a light changed (they change a few times per cycle)."""
        key = self.lights.codes.tobytes()
        if self._light_cache[0] == key:
            return self._light_cache[1]
        out = []
        for hid, code in zip(self.lights.ids, self.lights.codes.tolist(), strict=True):
            head = self.network.lights[hid]
            out.append(TrafficLightState(hid, CODE_COLOR[code], head.position, head.stop_line, tuple(head.lane_ids)))
        self._light_cache = (key, tuple(out))
        return self._light_cache[1]

    def ego_state(self) -> EgoState:
        return self.ego

    def ground_truth(self) -> WorldState:
        g, tr = self.graph, self.track
        lane_id = g.ids[tr.lane] if tr.lane >= 0 else None
        limit = float(g.speed_limit[tr.lane]) if tr.lane >= 0 else float(g.speed_limit.max())
        stop = self.plan.next_stop(tr.route_s - 0.5)
        stop_info = None
        if stop is not None:
            color = None
            if stop.light_id is not None:
                color = self.lights.color(self.lights.ids.index(stop.light_id)).value
            stop_info = stop.describe(tr.route_s, color)
        extras = {
            "lane_s": tr.lane_s,
            "route_d": tr.route_d,
            "route_completion": min(1.0, max(0.0, tr.route_s / self.route.length)),
            "outside_route_m": self.monitor.outside_route_m,
            "outside_route_lanes": self.monitor.outside_route_lanes,
            "stop_ahead": stop_info,
            "distance_to_junction_m": self.plan.distance_to_junction(tr.route_s),
        }
        return WorldState(
            self.time,
            self.ego,
            self.actor_states(),
            self.light_states(),
            self.route,
            tr.route_s,
            lane_id,
            limit,
            extras,
        )

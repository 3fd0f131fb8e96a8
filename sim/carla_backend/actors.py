"""Scenario actors and background traffic on a CARLA server: spawning, scripted behaviours, triggers, read-out.

Behaviours (scenario `behavior.type`) map onto CARLA as follows; a behaviour with a trigger waits for it:
- follow_lane: Traffic Manager autopilot (desired speed, the asked turn at the next junction; walkers wander with
  their AI controller).
- stopped: hand brake (props have physics off).
- brake: autopilot, then off and braking at the scenario's deceleration when triggered.
- cut_in: autopilot, then a forced lane change towards the ego's route when triggered.
- run_red_light: autopilot ignoring lights and signs (held still until triggered when it has a trigger).
- cross: a walker (walker control) or bicycle (constant velocity) crosses the route when triggered.
- open_door: the parked vehicle opens its door on the side facing the route when triggered.
- invade: autopilot with a lane offset to its left (the Traffic Manager's vehicle_lane_offset).
- emergency: autopilot ignoring lights, special lights on, the speed sim/emergency.py asks for every tick; the
  yield rule judges the ego and the vehicle is destroyed when its scenario ends.
`hold_until_trigger` keeps a vehicle on its hand brake until its trigger fires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import carla
import numpy as np

from sim.carla_backend.blueprints import (
    BACKGROUND_VEHICLES,
    BACKGROUND_WALKERS,
    CARGO_CONE,
    CARGO_OFFSETS,
    EMERGENCY_VEHICLES,
    WALKER_CONTROLLER,
    blueprint_for,
    pick,
)
from sim.carla_backend.frames import box_centre, from_vector, pose_from_transform
from sim.carla_backend.placement import SpawnPlan, cargo_transforms, crossing_distance
from sim.core import ActorKind, ActorState, EgoState, Infraction, Route
from sim.emergency import EmergencyPose, EmergencyVehicles

_WALK_SPEED = {ActorKind.PEDESTRIAN: 1.4, ActorKind.BICYCLE: 4.0}
_BRAKE_PER_MS2 = 1.0 / 8.0  # brake pedal per m/s^2 of wanted deceleration (full brake ~ 8 m/s^2)
HAZARD = carla.VehicleLightState(carla.VehicleLightState.LeftBlinker | carla.VehicleLightState.RightBlinker)
SPECIAL = carla.VehicleLightState(carla.VehicleLightState.Special1 | carla.VehicleLightState.Special2)


def kind_of(type_id: str, attributes: dict[str, str]) -> ActorKind:
    """Our actor kind of a CARLA actor from its blueprint id and attributes (background traffic)."""
    if type_id.startswith("walker."):
        return ActorKind.PEDESTRIAN
    if type_id.startswith("static."):
        return ActorKind.BARRIER if "barrier" in type_id or "warning" in type_id else ActorKind.CONE
    base = attributes.get("base_type", "").lower()
    if attributes.get("number_of_wheels") == "2" or base in ("bicycle", "motorcycle"):
        return ActorKind.BICYCLE
    return {"truck": ActorKind.TRUCK, "bus": ActorKind.BUS}.get(base, ActorKind.VEHICLE)


@dataclass
class Tracked:
    """One actor we spawned and must report and destroy."""

    actor: Any
    kind: ActorKind
    attributes: dict[str, Any] = field(default_factory=dict)
    plan: SpawnPlan | None = None  # scenario actors only
    controller: Any = None  # walker AI controller
    controller_started: bool = False
    started: bool = False  # behaviour running (trigger fired, or none)
    braking: float = 0.0  # brake pedal held once a brake behaviour fired
    stopped_at: float | None = None  # when a braking vehicle came to rest (for `resume_s`)
    cross_left_m: float = 0.0  # distance still to walk
    cross_dir: tuple[float, float] = (0.0, 0.0)  # our frame
    cross_speed: float = 0.0


class ActorDirector:
    """Owns every actor other than the ego and its sensors."""

    def __init__(self, client: Any, world: Any, tm: Any, route: Route) -> None:
        self.client, self.world, self.tm, self.route = client, world, tm, route
        self.library = world.get_blueprint_library()
        self.tracked: list[Tracked] = []
        self.extra: list[Any] = []  # attached cargo and walker controllers: destroyed, not reported
        self.emergency = EmergencyVehicles()

    # ---- scenario actors --------------------------------------------------------------------------------------
    def spawn_scenario(
        self, plans: Sequence[SpawnPlan], ground_z: Callable[[float, float], float], lift: float
    ) -> None:
        for plan in plans:
            bp = blueprint_for(self.library, plan.kind, f"scenario_{plan.index}")
            if plan.spec.behavior_type == "emergency":
                bp = pick(self.library, EMERGENCY_VEHICLES, "emergency vehicle")
            z = ground_z(plan.x, plan.y) + (lift if plan.kind != ActorKind.PEDESTRIAN else 1.0)
            actor = self.world.try_spawn_actor(bp, plan.transform(z))
            if actor is None:
                raise RuntimeError(
                    f"could not spawn actors[{plan.index}] ({plan.kind.value}) at ({plan.x:.1f}, {plan.y:.1f}): "
                    "the place is occupied or off the map"
                )
            attrs: dict[str, Any] = {"scenario_index": plan.index}
            if plan.spec.cargo:
                attrs["cargo"] = plan.spec.cargo
                self._load_cargo(actor)
            if plan.kind == ActorKind.BROKEN_VEHICLE:
                attrs["hazard_lights"] = True
                actor.set_light_state(HAZARD)
            if plan.spec.behavior_type == "emergency":
                attrs.update({"emergency": True, "siren": True})
                actor.set_light_state(SPECIAL)
                self.emergency.add(int(actor.id), float(plan.spec.behavior.speed_margin))
            self.tracked.append(Tracked(actor, plan.kind, attrs, plan))

    def _load_cargo(self, truck: Any) -> None:
        bp = pick(self.library, CARGO_CONE, "cargo cone")
        for tf in cargo_transforms(CARGO_OFFSETS):
            cone = self.world.try_spawn_actor(bp, tf, attach_to=truck, attachment_type=carla.AttachmentType.Rigid)
            if cone is not None:
                self.extra.append(cone)

    def prepare(self) -> None:
        """After the first tick: initial speeds, hand brakes, physics off for props, untriggered behaviours."""
        for t in self.tracked:
            plan = t.plan
            if plan is None:
                continue
            spec = plan.spec
            if plan.kind.is_static:
                if plan.kind in (ActorKind.CONE, ActorKind.BARRIER):
                    t.actor.set_simulate_physics(False)
                else:
                    t.actor.apply_control(carla.VehicleControl(hand_brake=True))
                if spec.behavior_type == "open_door" and spec.trigger is None:
                    self._start(t)
                continue
            if plan.kind.is_vehicle and spec.speed > 0:
                vx, vy = spec.speed * math.cos(plan.yaw), spec.speed * math.sin(plan.yaw)
                t.actor.set_target_velocity(carla.Vector3D(x=vx, y=-vy, z=0.0))
            held = spec.behavior is not None and spec.behavior.hold_until_trigger
            if spec.trigger is None:
                self._start(t)
            elif held:
                self._hold(t)
            elif plan.kind.is_vehicle and spec.behavior_type in ("follow_lane", "brake", "cut_in", "invade"):
                self._autopilot(t)  # drives until the trigger changes what it does
            else:
                self._hold(t)

    def _hold(self, t: Tracked) -> None:
        if t.kind.is_vehicle:
            t.actor.apply_control(carla.VehicleControl(hand_brake=True))

    def _autopilot(self, t: Tracked) -> None:
        spec, port = t.plan.spec, self.tm.get_port()  # type: ignore[union-attr]
        t.actor.set_autopilot(True, port)
        self.tm.auto_lane_change(t.actor, False)
        b = spec.behavior
        speed = (b.speed if b is not None and b.speed else None) or (spec.speed if spec.speed > 0 else None)
        if speed:
            self.tm.set_desired_speed(t.actor, float(speed) * 3.6)
        if b is not None and b.turn:
            self.tm.set_route(t.actor, [b.turn.capitalize()])
        if spec.behavior_type in ("run_red_light", "emergency"):
            self.tm.ignore_lights_percentage(t.actor, 100.0)
            self.tm.ignore_signs_percentage(t.actor, 100.0)
        if spec.behavior_type == "invade":  # the Traffic Manager offsets to the right for positive values
            self.tm.vehicle_lane_offset(t.actor, -float(b.offset_m))

    def _start(self, t: Tracked) -> None:
        t.started = True
        plan = t.plan
        assert plan is not None
        spec, btype = plan.spec, plan.spec.behavior_type
        if btype == "stopped":
            self._hold(t)
        elif btype == "open_door":
            x, y, _, _ = pose_from_transform(t.actor.get_transform())
            _, d = self.route.project(x, y)
            t.actor.open_door(carla.VehicleDoor.FR if d > 0 else carla.VehicleDoor.FL)  # the side facing the route
            t.attributes.update({"door_open": True, "door_side": "right" if d > 0 else "left"})
        elif btype == "cross":
            b = spec.behavior
            t.cross_speed = (b.speed if b is not None and b.speed else None) or spec.speed or _WALK_SPEED[plan.kind]
            t.cross_left_m = crossing_distance(spec)
            t.cross_dir = (math.cos(plan.yaw), math.sin(plan.yaw))
            if plan.kind.is_vehicle:
                t.actor.enable_constant_velocity(carla.Vector3D(x=t.cross_speed, y=0.0, z=0.0))
        elif plan.kind == ActorKind.PEDESTRIAN:
            self._wander(t, spec.speed or _WALK_SPEED[ActorKind.PEDESTRIAN])
        elif btype == "brake":
            t.actor.set_autopilot(False, self.tm.get_port())
            t.braking = min(1.0, spec.behavior.decel * _BRAKE_PER_MS2)
        elif btype == "cut_in":
            x, y, _, _ = pose_from_transform(t.actor.get_transform())
            _, d = self.route.project(x, y)
            self.tm.force_lane_change(t.actor, d < 0)  # True: to the left, towards a route on our left
        else:  # follow_lane, run_red_light
            self._autopilot(t)

    def _wander(self, t: Tracked, speed: float) -> None:
        """An AI controller for the walker; it is started on the next update (controllers need a tick first)."""
        bp = self.library.find(WALKER_CONTROLLER)
        controller = self.world.spawn_actor(bp, carla.Transform(), attach_to=t.actor)
        self.extra.append(controller)
        t.controller = controller
        t.attributes["wander_speed"] = float(speed)

    def _start_controller(self, t: Tracked) -> None:
        t.controller_started = True
        t.controller.start()
        target = self.world.get_random_location_from_navigation()
        if target is not None:
            t.controller.go_to_location(target)
        t.controller.set_max_speed(t.attributes.get("wander_speed", 1.4))

    def update(self, time_s: float, ego_xy: tuple[float, float], dt: float, ego: EgoState | None = None) -> None:
        """Fire due triggers and advance scripted motions (called before each tick)."""
        if ego is not None:
            for ev in self.emergency.active:
                actor = next(t.actor for t in self.tracked if int(t.actor.id) == ev.actor_id)
                self.tm.set_desired_speed(actor, self.emergency.wanted_speed(ego, ev.actor_id) * 3.6)
        for t in self.tracked:
            plan = t.plan
            if plan is None:
                continue
            trig = plan.spec.trigger
            if t.controller is not None and not t.controller_started:
                self._start_controller(t)
            if not t.started and trig is not None and self._due(t, trig, time_s, ego_xy):
                self._start(t)
            if t.braking > 0 and self._resumes(t, time_s):
                t.braking = 0.0
                self._autopilot(t)
            if t.braking > 0:
                t.actor.apply_control(carla.VehicleControl(brake=t.braking))
            if t.cross_left_m > 0:
                self._cross_step(t, dt)

    @staticmethod
    def _resumes(t: Tracked, time_s: float) -> bool:
        """A braked vehicle with `behavior.resume_s` drives on once it has stood that long."""
        behavior = t.plan.spec.behavior if t.plan is not None else None
        resume = getattr(behavior, "resume_s", None)
        if resume is None:
            return False
        v = t.actor.get_velocity()
        if math.hypot(v.x, v.y) > 0.1:
            return False
        t.stopped_at = time_s if t.stopped_at is None else t.stopped_at
        return time_s - t.stopped_at >= resume

    @staticmethod
    def _due(t: Tracked, trig: Any, time_s: float, ego_xy: tuple[float, float]) -> bool:
        if trig.time_s is not None and time_s >= trig.time_s:
            return True
        if trig.ego_within_m is not None:
            x, y, _, _ = pose_from_transform(t.actor.get_transform())
            return math.hypot(x - ego_xy[0], y - ego_xy[1]) <= trig.ego_within_m
        return False

    def _cross_step(self, t: Tracked, dt: float) -> None:
        t.cross_left_m -= t.cross_speed * dt
        done = t.cross_left_m <= 0
        if t.kind == ActorKind.PEDESTRIAN:
            dx, dy = t.cross_dir
            direction = carla.Vector3D(x=dx, y=-dy, z=0.0)
            t.actor.apply_control(carla.WalkerControl(direction=direction, speed=0.0 if done else t.cross_speed))
        elif done:
            t.actor.disable_constant_velocity()
            t.actor.apply_control(carla.VehicleControl(brake=1.0))
        if done:
            t.cross_left_m = 0.0

    def judge_emergency(self, time_s: float, dt: float, ego: EgoState) -> list[Infraction]:
        """The yield-to-emergency-vehicle rule after a tick; emergency vehicles whose scenario ended are destroyed."""
        poses = {}
        for t in self.tracked:
            if any(ev.actor_id == int(t.actor.id) for ev in self.emergency.active):
                x, y = box_centre(t.actor.get_transform(), t.actor.bounding_box.location)
                yaw = pose_from_transform(t.actor.get_transform())[3]
                vx, vy, _ = from_vector(t.actor.get_velocity())
                poses[int(t.actor.id)] = EmergencyPose(x, y, yaw, math.hypot(vx, vy))
        events, done = self.emergency.step(time_s, dt, ego, poses)
        for t in [t for t in self.tracked if int(t.actor.id) in done]:
            self.tracked.remove(t)
            t.actor.destroy()
        return events

    # ---- background traffic -----------------------------------------------------------------------------------
    def spawn_background(
        self, vehicles: int, walkers: int, rng: np.random.Generator, keep_clear: Sequence[tuple[float, float]]
    ) -> None:
        if vehicles > 0:
            self._background_vehicles(vehicles, rng, keep_clear)
        if walkers > 0:
            self._background_walkers(walkers, rng)

    def _background_vehicles(self, n: int, rng: np.random.Generator, keep_clear: Sequence[tuple[float, float]]) -> None:
        points = list(self.world.get_map().get_spawn_points())
        clear = np.asarray(keep_clear, dtype=np.float64).reshape(-1, 2)
        free = []
        for tf in points:
            x, y, _, _ = pose_from_transform(tf)
            if not len(clear) or np.min(np.hypot(clear[:, 0] - x, clear[:, 1] - y)) > 25.0:
                free.append(tf)
        blueprints = [bp for bp in self.library.filter(BACKGROUND_VEHICLES) if _four_wheels(bp)]
        port = self.tm.get_port()
        batch = []
        for i in rng.permutation(len(free))[:n]:
            bp = blueprints[int(rng.integers(len(blueprints)))]
            if bp.has_attribute("role_name"):
                bp.set_attribute("role_name", "background")
            spawn = carla.command.SpawnActor(bp, free[int(i)])
            batch.append(spawn.then(carla.command.SetAutopilot(carla.command.FutureActor, True, port)))
        for t in self._track_batch(batch):
            t.attributes["role_name"] = "background"  # the traffic the minimum-speed criterion compares with

    def _background_walkers(self, n: int, rng: np.random.Generator) -> None:
        blueprints = list(self.library.filter(BACKGROUND_WALKERS))
        batch = []
        for _ in range(n):
            loc = self.world.get_random_location_from_navigation()
            if loc is None:
                continue
            bp = blueprints[int(rng.integers(len(blueprints)))]
            if bp.has_attribute("is_invincible"):
                bp.set_attribute("is_invincible", "false")
            batch.append(carla.command.SpawnActor(bp, carla.Transform(loc)))
        walkers = self._track_batch(batch)
        ctrl = self.library.find(WALKER_CONTROLLER)
        for t in walkers:
            controller = self.world.spawn_actor(ctrl, carla.Transform(), attach_to=t.actor)
            self.extra.append(controller)
            t.controller = controller
            t.attributes["wander_speed"] = float(1.0 + 0.5 * rng.random())

    def start_walkers(self) -> None:
        """Walker AI controllers need one tick after spawning before they can be started."""
        for t in self.tracked:
            if t.plan is None and t.controller is not None and not t.controller_started:
                self._start_controller(t)

    def _track_batch(self, batch: list[Any]) -> list[Tracked]:
        if not batch:
            return []
        ids = [r.actor_id for r in self.client.apply_batch_sync(batch, False) if not r.error]
        out = []
        for actor in self.world.get_actors(ids):
            t = Tracked(actor, kind_of(actor.type_id, dict(actor.attributes)))
            self.tracked.append(t)
            out.append(t)
        return out

    # ---- read-out and cleanup ---------------------------------------------------------------------------------
    def states(self, lane_of: Callable[[float, float, float], str | None]) -> tuple[ActorState, ...]:
        out = []
        for t in self.tracked:
            actor = t.actor
            tf = actor.get_transform()
            box = actor.bounding_box
            x, y = box_centre(tf, box.location)
            yaw = pose_from_transform(tf)[3]
            vx, vy, _ = from_vector(actor.get_velocity())
            speed = vx * math.cos(yaw) + vy * math.sin(yaw)
            lane = lane_of(x, y, yaw) if t.kind.is_vehicle else None
            length, width, height = 2 * box.extent.x, 2 * box.extent.y, 2 * box.extent.z
            attrs = dict(t.attributes)
            if t.braking > 0:
                attrs["braking"] = True
            out.append(ActorState(int(actor.id), t.kind, x, y, yaw, speed, length, width, height, lane, attrs))
        return tuple(out)

    def actor_ids(self) -> list[int]:
        """Every actor to destroy: controllers and cargo first (they are attached to the others)."""
        return [int(a.id) for a in self.extra] + [int(t.actor.id) for t in self.tracked]

    def stop_controllers(self) -> None:
        for t in self.tracked:
            if t.controller is not None and t.controller_started:
                t.controller.stop()


def _four_wheels(bp: Any) -> bool:
    return not bp.has_attribute("number_of_wheels") or bp.get_attribute("number_of_wheels").as_int() == 4

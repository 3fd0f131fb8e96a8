"""Emergency vehicles behind the ego and the yield-to-emergency-vehicle rule (leaderboard 2.0's
YieldToEmergencyVehicle scenario with its YieldToEmergencyVehicleTest), for every backend.

The emergency vehicle follows the route `speed_margin` m/s faster than the ego is driving (running lights, above the
speed limit), slowing behind whatever is in its lane; the backend drives it at the speed this module asks for. Its
scenario ends either `IDLE_S` after it first came within `TRIGGER_M` of the ego, or once it is in front of the ego
and has driven `END_M` further. At that moment the ego has failed to yield when it is still in front of the
emergency vehicle (ahead along its heading): one `yield_emergency_vehicle_infractions` event. Then the emergency
vehicle leaves the map (the backend removes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core import EgoState, Infraction, InfractionType

TRIGGER_M = 50.0
IDLE_S = 10.0
END_M = 50.0
MIN_SPEED = 8.0  # m/s the emergency vehicle drives at least, ego standing or not


@dataclass
class _Emergency:
    actor_id: int
    margin: float
    near_since: float | None = None
    in_front_at: float | None = None  # metres it had driven when it got in front of the ego
    driven: float = 0.0


@dataclass(frozen=True)
class EmergencyPose:
    x: float
    y: float
    yaw: float
    speed: float


class EmergencyVehicles:
    def __init__(self) -> None:
        self.active: list[_Emergency] = []

    def add(self, actor_id: int, speed_margin: float) -> None:
        self.active.append(_Emergency(actor_id, speed_margin))

    def wanted_speed(self, ego: EgoState, actor_id: int) -> float:
        ev = next(e for e in self.active if e.actor_id == actor_id)
        return max(MIN_SPEED, ego.speed + ev.margin)

    def step(
        self, time: float, dt: float, ego: EgoState, poses: dict[int, EmergencyPose]
    ) -> tuple[list[Infraction], list[int]]:
        """Judge the ego where a scenario ends; returns the events and the ids of emergency vehicles to remove."""
        events, done = [], []
        for ev in list(self.active):
            pose = poses.get(ev.actor_id)
            if pose is None:  # gone already
                self.active.remove(ev)
                continue
            ev.driven += max(pose.speed, 0.0) * dt
            ego_ahead = (ego.x - pose.x) * math.cos(pose.yaw) + (ego.y - pose.y) * math.sin(pose.yaw) > 0.0
            if ev.near_since is None and math.hypot(ego.x - pose.x, ego.y - pose.y) <= TRIGGER_M:
                ev.near_since = time
            if ev.in_front_at is None and not ego_ahead:
                ev.in_front_at = ev.driven
            idle_over = ev.near_since is not None and time - ev.near_since >= IDLE_S
            passed = ev.in_front_at is not None and ev.driven - ev.in_front_at >= END_M
            if not (idle_over or passed):
                continue
            if ego_ahead:
                distance = round(math.hypot(ego.x - pose.x, ego.y - pose.y), 1)
                events.append(
                    Infraction(
                        InfractionType.YIELD_EMERGENCY_VEHICLE,
                        time,
                        (ego.x, ego.y),
                        f"vehicle:{ev.actor_id}",
                        {"distance_m": distance},
                    )
                )
            done.append(ev.actor_id)
            self.active.remove(ev)
        return events, done

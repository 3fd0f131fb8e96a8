"""Emergency vehicles behind the ego and the yield-to-emergency-vehicle rule (leaderboard 2.0's
YieldToEmergencyVehicle scenario with its YieldToEmergencyVehicleTest).

The emergency vehicle follows the route lanes `speed_margin` m/s faster than the ego is driving (running lights,
above the speed limit), slowing behind whatever is in its lane. Its scenario ends either `idle_s` after it first came
within `trigger_m` of the ego, or once it is in front of the ego and has driven `end_m` further. At that moment the
ego has failed to yield when it is still in front of the emergency vehicle (ahead along its heading): one
`yield_emergency_vehicle_infractions` event. Then the emergency vehicle leaves the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.core import EgoState, Infraction, InfractionType

if TYPE_CHECKING:
    from sim.embedded.traffic import Traffic

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


class EmergencyVehicles:
    def __init__(self) -> None:
        self.active: list[_Emergency] = []

    def add(self, actor_id: int, speed_margin: float) -> None:
        self.active.append(_Emergency(actor_id, speed_margin))

    def step(self, time: float, dt: float, ego: EgoState, traffic: Traffic) -> list[Infraction]:
        """Adapt each emergency vehicle's speed to the ego's, and judge the ego when its scenario ends."""
        events = []
        for ev in list(self.active):
            k = traffic.index_of(ev.actor_id)
            traffic.v_des[k] = max(MIN_SPEED, ego.speed + ev.margin)
            ev.driven += float(traffic.v[k]) * dt
            x, y, yaw = float(traffic.x[k]), float(traffic.y[k]), float(traffic.yaw[k])
            ego_ahead = (ego.x - x) * math.cos(yaw) + (ego.y - y) * math.sin(yaw) > 0.0
            if ev.near_since is None and math.hypot(ego.x - x, ego.y - y) <= TRIGGER_M:
                ev.near_since = time
            if ev.in_front_at is None and not ego_ahead:
                ev.in_front_at = ev.driven
            idle_over = ev.near_since is not None and time - ev.near_since >= IDLE_S
            passed = ev.in_front_at is not None and ev.driven - ev.in_front_at >= END_M
            if not (idle_over or passed):
                continue
            if ego_ahead:
                events.append(
                    Infraction(
                        InfractionType.YIELD_EMERGENCY_VEHICLE,
                        time,
                        (ego.x, ego.y),
                        f"vehicle:{ev.actor_id}",
                        {"distance_m": round(math.hypot(ego.x - x, ego.y - y), 1)},
                    )
                )
            traffic.remove(k)
            self.active.remove(ev)
        return events

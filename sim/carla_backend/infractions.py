"""Infraction bookkeeping on CARLA: collisions from the collision sensor, everything else from the shared monitor.

Collisions come from CARLA's physics (the collision sensor), one event per contact with one actor: repeated
reports of the same contact within `dedupe_s` count once. Red lights, stop signs, leaving the road, leaving the
route's lanes, being blocked and deviating are detected by the embedded simulator's `InfractionMonitor` on the
lane graph built from the town, whose stop lines come from the lights' and stop signs' trigger volumes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.carla_backend.sensors import CollisionRecord, LaneInvasionRecord
from sim.core import ActorKind, EgoState, Infraction, InfractionType, LightColor
from sim.embedded.infractions import COLLISION_TYPE, InfractionMonitor
from sim.embedded.lights import COLOR_CODE

_NO_BOXES = np.zeros((0, 5))
_NO_KINDS: list[ActorKind] = []


def collision_type(type_id: str) -> InfractionType:
    """Leaderboard collision class of the other party from its blueprint id."""
    if type_id.startswith("walker."):
        return InfractionType.COLLISION_PEDESTRIAN
    if type_id.startswith("vehicle."):
        return InfractionType.COLLISION_VEHICLE
    return InfractionType.COLLISION_STATIC  # props, poles, buildings, the static world


def light_codes(colors: Sequence[LightColor]) -> np.ndarray:
    """The monitor's light state codes, one per light of the lane graph (in `graph.light_ids` order)."""
    return np.array([COLOR_CODE[c] for c in colors], dtype=np.int64)


@dataclass
class CollisionBook:
    """Turns collision-sensor records into one infraction per contact. Actors whose kind we know (the ones we
    spawned) are classed as on the embedded simulator (a parked car is layout), others by their blueprint."""

    dedupe_s: float = 2.0
    known_kinds: dict[int, ActorKind] = field(default_factory=dict)  # actor id -> our kind
    last_contact: dict[int, float] = field(default_factory=dict)  # other actor id -> time of its latest report

    def add(self, record: CollisionRecord, t: float, ego: EgoState) -> Infraction | None:
        key = record.other_id
        previous = self.last_contact.get(key)
        self.last_contact[key] = t
        if previous is not None and t - previous < self.dedupe_s:
            return None
        other = f"{record.other_type or 'world'}:{record.other_id}"
        known = self.known_kinds.get(key)
        kind = COLLISION_TYPE[known] if known is not None else collision_type(record.other_type)
        details = {"speed": round(ego.speed, 2), "impulse": round(record.impulse, 1)}
        return Infraction(kind, t, (ego.x, ego.y), other, details)


@dataclass
class CarlaInfractions:
    monitor: InfractionMonitor
    collisions: CollisionBook = field(default_factory=CollisionBook)
    lane_invasions: Counter[str] = field(default_factory=Counter)  # crossed marking type -> count

    def update(
        self,
        t: float,
        ego: EgoState,
        ego_lane: int,
        route_d: float,
        codes: np.ndarray,
        moved: float,
        collisions: Iterable[CollisionRecord] = (),
        invasions: Iterable[LaneInvasionRecord] = (),
    ) -> None:
        for record in collisions:
            event = self.collisions.add(record, t, ego)
            if event is not None:
                self.monitor.events.append(event)
        for invasion in invasions:
            self.lane_invasions.update(invasion.markings)
        self.monitor.update(t, ego, ego_lane, route_d, _NO_BOXES, [], _NO_KINDS, codes, moved)

    def drain(self) -> list[Infraction]:
        return self.monitor.drain()

"""Static actors: cones, barriers, parked and broken-down vehicles. They never move; NPCs treat every lane a prop
blocks as obstructed at that point."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.core import ActorKind
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.traffic import Obstacles

# length, width, height (m); a barrier's length runs across the lane it closes
PROP_SIZE: dict[ActorKind, tuple[float, float, float]] = {
    ActorKind.CONE: (0.4, 0.4, 0.7),
    ActorKind.BARRIER: (0.5, 2.4, 1.0),
    ActorKind.PARKED_VEHICLE: (4.6, 1.9, 1.5),
    ActorKind.BROKEN_VEHICLE: (4.6, 1.9, 1.5),
}
PROP_ATTRIBUTES: dict[ActorKind, dict[str, object]] = {ActorKind.BROKEN_VEHICLE: {"hazard_lights": True}}


@dataclass
class Props:
    ids: list[int] = field(default_factory=list)
    kinds: list[ActorKind] = field(default_factory=list)
    attributes: list[dict[str, object]] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    heights: list[float] = field(default_factory=list)
    obstacles: Obstacles = field(default_factory=Obstacles.empty)

    def add(self, graph: LaneGraph, actor_id: int, kind: ActorKind, x: float, y: float, yaw: float) -> None:
        length, width, height = PROP_SIZE[kind]
        self.ids.append(actor_id)
        self.kinds.append(kind)
        self.attributes.append(dict(PROP_ATTRIBUTES.get(kind, {})))
        self.boxes = np.vstack([self.boxes, [x, y, yaw, length, width]])
        self.heights.append(height)
        hits = graph.lanes_near(x, y, margin=max(length, width) / 2 - 0.2)
        if hits:
            ob = self.obstacles
            self.obstacles = Obstacles(
                np.concatenate([ob.lane, [h.lane for h in hits]]).astype(np.int64),
                np.concatenate([ob.s, [h.s for h in hits]]),
                np.concatenate([ob.v, np.zeros(len(hits))]),
                np.concatenate([ob.half_length, np.full(len(hits), max(length, width) / 2)]),
            )

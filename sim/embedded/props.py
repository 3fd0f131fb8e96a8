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
DOOR_REACH_M = 1.0  # how far an open front door sticks out of a parked car's side


@dataclass
class Props:
    ids: list[int] = field(default_factory=list)
    kinds: list[ActorKind] = field(default_factory=list)
    attributes: list[dict[str, object]] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    heights: list[float] = field(default_factory=list)
    obstacles: Obstacles = field(default_factory=Obstacles.empty)

    def add(self, graph: LaneGraph, actor_id: int, kind: ActorKind, x: float, y: float, yaw: float) -> int:
        """Add a prop; returns its index."""
        length, width, height = PROP_SIZE[kind]
        self.ids.append(actor_id)
        self.kinds.append(kind)
        self.attributes.append(dict(PROP_ATTRIBUTES.get(kind, {})))
        self.boxes = np.vstack([self.boxes, [x, y, yaw, length, width]])
        self.heights.append(height)
        self._block(graph, x, y, yaw, length, width)
        return len(self.ids) - 1

    def _block(self, graph: LaneGraph, x: float, y: float, yaw: float, length: float, width: float) -> None:
        """Mark the lanes whose strip the footprint reaches (by more than 0.2 m) as blocked at that point."""
        hits = []
        for hit in graph.lanes_near(x, y, margin=max(length, width) / 2):
            rel = yaw - graph.pose1(hit.lane, hit.s)[2]
            across = abs(np.sin(rel)) * length / 2 + abs(np.cos(rel)) * width / 2
            if abs(hit.d) < graph.width[hit.lane] / 2 + across - 0.2:
                hits.append(hit)
        half = max(length, width) / 2
        if hits:
            ob = self.obstacles
            self.obstacles = Obstacles(
                np.concatenate([ob.lane, [h.lane for h in hits]]).astype(np.int64),
                np.concatenate([ob.s, [h.s for h in hits]]),
                np.concatenate([ob.v, np.zeros(len(hits))]),
                np.concatenate([ob.half_length, np.full(len(hits), half)]),
            )

    def open_door(self, graph: LaneGraph, k: int, side: float) -> None:
        """Open the front door of parked vehicle k on its left (`side` +1) or right (-1): the box grows by the
        door's reach on that side, so the door is an obstacle to collide with and to drive round."""
        x, y, yaw, length, width = self.boxes[k]
        shift = side * DOOR_REACH_M / 2
        cx, cy = x - shift * np.sin(yaw), y + shift * np.cos(yaw)
        self.boxes[k] = [cx, cy, yaw, length, width + DOOR_REACH_M]
        self.attributes[k].update({"door_open": True, "door_side": "left" if side > 0 else "right"})
        door_x = x + 0.6 * np.cos(yaw) - side * (width / 2 + DOOR_REACH_M / 2) * np.sin(yaw)
        door_y = y + 0.6 * np.sin(yaw) + side * (width / 2 + DOOR_REACH_M / 2) * np.cos(yaw)
        self._block(graph, float(door_x), float(door_y), float(yaw), 1.1, DOOR_REACH_M)

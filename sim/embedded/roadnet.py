"""The embedded simulator's road network: a lane graph plus the static scenery the renderers draw.

A `RoadNetwork` is plain data. Generators (towns, arterial) build it; the world, routing, traffic and both renderers
read it. Lanes are directed centre polylines; connectors are lanes inside a junction tagged with their turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from sim.core import Turn


class Marking(str, Enum):
    """Paint on one edge of a lane."""

    NONE = "none"
    DASHED_WHITE = "dashed_white"  # between lanes of the same direction
    SOLID_WHITE = "solid_white"  # road edge
    SOLID_YELLOW = "solid_yellow"  # centre line between opposite directions


@dataclass
class Lane:
    id: str
    centre: np.ndarray  # (N, 2) polyline in driving direction
    width: float
    speed_limit: float  # m/s
    road_id: str
    successors: list[str] = field(default_factory=list)
    predecessors: list[str] = field(default_factory=list)
    left: str | None = None  # same-direction neighbour to the left
    right: str | None = None  # same-direction neighbour to the right
    junction_id: str | None = None  # set on connectors (lanes inside a junction)
    turn: Turn | None = None  # set on connectors
    left_marking: Marking = Marking.NONE
    right_marking: Marking = Marking.NONE
    stop_line_s: float | None = None  # arc length of the stop line on this lane (at its end, before a junction)
    light_id: str | None = None  # traffic light controlling this lane's stop line
    stop_sign: bool = False  # unsignalised junction entry: stop, then go
    opposite: str | None = None  # the lane across the centre line, running the other way (two-way roads)
    parking: bool = False  # a parking lane at the kerb: parked cars stand here, traffic does not drive it


@dataclass
class Junction:
    id: str
    polygon: np.ndarray  # (K, 2) drivable area of the junction
    signalised: bool
    light_ids: list[str] = field(default_factory=list)


@dataclass
class Crosswalk:
    id: str
    polygon: np.ndarray  # (4, 2), corners in order
    junction_id: str | None = None
    light_id: str | None = None  # pedestrian signal follows this vehicle light being red


@dataclass
class Sidewalk:
    id: str
    centre: np.ndarray  # (N, 2)
    width: float


@dataclass
class TrafficLightHead:
    id: str
    junction_id: str
    position: tuple[float, float, float]  # centre of the lit head
    yaw: float  # direction the lamps face (towards approaching traffic)
    lane_ids: list[str]  # incoming lanes it controls
    stop_line: tuple[tuple[float, float], tuple[float, float]]
    phase: int  # phase group inside the junction's cycle


@dataclass
class Building:
    footprint: np.ndarray  # (K, 2)
    height: float


@dataclass
class RoadNetwork:
    name: str
    lanes: dict[str, Lane]
    junctions: dict[str, Junction] = field(default_factory=dict)
    crosswalks: list[Crosswalk] = field(default_factory=list)
    sidewalks: list[Sidewalk] = field(default_factory=list)
    lights: dict[str, TrafficLightHead] = field(default_factory=dict)
    buildings: list[Building] = field(default_factory=list)

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) over every lane centre."""
        pts = np.concatenate([lane.centre for lane in self.lanes.values()])
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())

"""The scenario file format: strict pydantic models mirroring the YAML in DESIGN.md.

Actors are placed relative to the ego's route: `s` metres along it, `d` metres to its left, `yaw_deg` relative to the
route direction at that point (180 = oncoming, 90 = crossing from right to left). A backend snaps a moving actor to
the nearest lane whose direction matches, so the same file works on every backend.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from sim.core import WEATHER_PRESETS, ActorKind, Route

Weather = Literal[WEATHER_PRESETS]  # type: ignore[valid-type]
ManeuverName = Literal["straight", "left", "right"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridMap(_Strict):
    """A procedural town: a grid of junctions joined by blocks of road."""

    name: Literal["grid"]
    rows: int = Field(3, ge=2, le=8)
    cols: int = Field(3, ge=2, le=8)
    lanes: int = Field(2, ge=1, le=3, description="lanes per direction")
    block_m: float = Field(90.0, ge=40.0, le=400.0)
    signalised: float = Field(0.75, ge=0.0, le=1.0, description="fraction of junctions with traffic lights")
    curved: float = Field(0.2, ge=0.0, le=1.0, description="fraction of blocks with a curved road")
    speed_limit_kmh: float = Field(50.0, gt=0.0, le=130.0)


class ArterialMap(_Strict):
    """A long multi-lane road crossed by side streets at signalised junctions."""

    name: Literal["arterial"]
    lanes: int = Field(3, ge=1, le=3)
    length_m: float = Field(600.0, ge=100.0, le=3000.0)
    junctions: int = Field(3, ge=0, le=12)
    speed_limit_kmh: float = Field(60.0, gt=0.0, le=130.0)


class CarlaMap(_Strict):
    """A CARLA town, loaded by the CARLA backend."""

    name: str = Field(pattern=r"^Town\d\d(HD)?(_Opt)?$")


def _map_kind(value: object) -> str:
    name = value.get("name") if isinstance(value, dict) else getattr(value, "name", None)
    return name if name in ("grid", "arterial") else "carla"


MapSpec = Annotated[
    Annotated[GridMap, Tag("grid")] | Annotated[ArterialMap, Tag("arterial")] | Annotated[CarlaMap, Tag("carla")],
    Discriminator(_map_kind),
]


class RouteSpec(_Strict):
    """Exactly one of: `waypoints`; `start` + `maneuvers`; `maneuvers` alone (start picked from the seed)."""

    waypoints: list[tuple[float, float]] | None = Field(None, min_length=2)
    start: tuple[float, float, float] | None = Field(None, description="x, y, yaw in degrees")
    maneuvers: list[ManeuverName] | None = None
    length_m: float | None = Field(None, gt=0.0, description="route length after the last maneuver")

    @model_validator(mode="after")
    def _one_form(self) -> RouteSpec:
        if self.waypoints is not None:
            if self.start is not None or self.maneuvers is not None:
                raise ValueError("give either waypoints, or start/maneuvers, not both")
        elif self.maneuvers is None:
            raise ValueError("a route needs waypoints or maneuvers (optionally with a start)")
        return self


class Placement(_Strict):
    """Where an actor starts. Without `junction`: `s` metres along the route from its start and `d` metres to its
    left. With `junction` (0 = the first junction on the route): a straight frame at that junction's entry, `s`
    metres ahead along the entry heading (negative: before it) and `d` metres to the left, so oncoming and crossing
    traffic can be placed whichever way the route turns. `yaw_deg` is relative to the frame's heading."""

    s: float = Field(description="metres ahead (from the route start, or from the junction entry)")
    d: float = Field(0.0, description="metres to the left")
    yaw_deg: float = Field(0.0, ge=-180.0, le=180.0, description="heading relative to the frame")
    junction: int | None = Field(None, ge=0, description="anchor the frame at this junction's entry")

    @model_validator(mode="after")
    def _s_from_start_is_positive(self) -> Placement:
        if self.junction is None and self.s < 0:
            raise ValueError("s must be >= 0 when measured from the route start (or give `junction`)")
        return self

    def frame_pose(self, route: Route) -> tuple[float, float, float]:
        """(x, y, frame heading) of this placement on a planned route; add `yaw_deg` for the actor's heading.

        Raises ValueError when the route has no such junction."""
        if self.junction is None:
            return route.to_world(self.s, self.d)
        if self.junction >= len(route.maneuvers):
            raise ValueError(f"junction {self.junction} does not exist: the route has {len(route.maneuvers)}")
        entry = route.maneuvers[self.junction].s_start
        ex, ey, _ = route.to_world(entry)
        heading = route.to_world(max(0.0, entry - 1.0))[2]  # the approach heading, not the turn's first segment
        c, sn = math.cos(heading), math.sin(heading)
        return ex + self.s * c - self.d * sn, ey + self.s * sn + self.d * c, heading


class Behavior(_Strict):
    type: Literal["follow_lane", "stopped", "cross", "cut_in", "brake", "run_red_light"] = "follow_lane"
    speed: float | None = Field(None, ge=0.0, description="m/s while the behaviour runs")
    turn: ManeuverName | None = Field(None, description="what a vehicle does at its next junction")
    side: Literal["left", "right"] | None = Field(None, description="cut_in: the side it comes from")
    decel: float = Field(6.0, gt=0.0, le=12.0, description="brake: deceleration, m/s^2")
    resume_s: float | None = Field(None, gt=0.0, description="brake: seconds it stands before driving on")
    distance_m: float | None = Field(None, gt=0.0, description="cross: how far to walk; cut_in: gap ahead of ego")


class Trigger(_Strict):
    ego_within_m: float | None = Field(None, gt=0.0)
    time_s: float | None = Field(None, ge=0.0)

    @model_validator(mode="after")
    def _something(self) -> Trigger:
        if self.ego_within_m is None and self.time_s is None:
            raise ValueError("a trigger needs ego_within_m or time_s")
        return self


_STATIC_KINDS = {k.value for k in ActorKind if k.is_static}


class ActorSpec(_Strict):
    kind: Literal[tuple(k.value for k in ActorKind)]  # type: ignore[valid-type]
    at: Placement
    speed: float = Field(0.0, ge=0.0, le=40.0)
    cargo: Literal["cones"] | None = None
    behavior: Behavior | None = None
    trigger: Trigger | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ActorSpec:
        if self.cargo is not None and self.kind != "truck":
            raise ValueError("only a truck can carry cargo")
        if self.kind in _STATIC_KINDS and self.behavior is not None and self.behavior.type != "stopped":
            raise ValueError(f"a {self.kind} cannot have behavior {self.behavior.type!r}")
        if self.behavior is not None and self.behavior.type == "cross" and self.kind not in ("pedestrian", "bicycle"):
            raise ValueError("behavior 'cross' is for pedestrians and bicycles")
        return self

    @property
    def behavior_type(self) -> str:
        if self.behavior is not None:
            return self.behavior.type
        return "stopped" if self.kind in _STATIC_KINDS else "follow_lane"


class LightOverride(_Strict):
    """Force the light the route meets at one junction (0 = the first junction on the route)."""

    junction: int = Field(ge=0)
    state: Literal["red", "yellow", "green"]
    duration_s: float | None = Field(None, gt=0.0, description="then resume cycling; None holds it for good")


class TrafficSpec(_Strict):
    vehicles: int = Field(0, ge=0, le=300)
    pedestrians: int = Field(0, ge=0, le=300)
    light_cycle_s: tuple[float, float, float] = Field(
        (15.0, 3.0, 15.0), description="green, yellow, red seconds as seen from one approach"
    )


class EgoSpec(_Strict):
    speed: float = Field(0.0, ge=0.0, le=40.0, description="initial speed, m/s")


class Criteria(_Strict):
    timeout_s: float = Field(120.0, gt=0.0)
    blocked_s: float = Field(60.0, gt=0.0, description="stationary this long counts as blocked")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    map: MapSpec
    seed: int = 0
    weather: Weather = "clear_noon"
    route: RouteSpec
    ego: EgoSpec = EgoSpec()
    actors: list[ActorSpec] = Field(default_factory=list)
    lights: list[LightOverride] = Field(default_factory=list)
    traffic: TrafficSpec = TrafficSpec()
    criteria: Criteria = Criteria()

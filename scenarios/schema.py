"""The scenario file format: strict pydantic models mirroring the YAML in DESIGN.md.

Actors are placed relative to the ego's route: `s` metres along it, `d` metres to its left, `yaw_deg` relative to the
route direction at that point (180 = oncoming, 90 = crossing from right to left). A backend snaps a moving actor to
the nearest lane whose direction matches, so the same file works on every backend.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

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
    parking: bool = Field(False, description="a parking lane at the kerb on both sides of every road")


class ArterialMap(_Strict):
    """A long multi-lane road crossed by side streets at signalised junctions."""

    name: Literal["arterial"]
    lanes: int = Field(3, ge=1, le=3)
    length_m: float = Field(600.0, ge=100.0, le=3000.0)
    junctions: int = Field(3, ge=0, le=12)
    speed_limit_kmh: float = Field(60.0, gt=0.0, le=130.0)
    parking: bool = Field(False, description="a parking lane at the kerb on both sides of every road")


class HighwayMap(_Strict):
    """A straight divided highway with an on-ramp (an acceleration lane that ends) and an off-ramp (a deceleration
    lane that leads off the road), positions measured along the eastbound carriageway from its start."""

    name: Literal["highway"]
    lanes: int = Field(3, ge=2, le=4, description="lanes per direction")
    length_m: float = Field(1200.0, ge=400.0, le=4000.0)
    on_ramp_m: float = Field(320.0, ge=280.0, description="where the acceleration lane begins")
    merge_length_m: float = Field(120.0, ge=40.0, le=400.0)
    off_ramp_m: float = Field(800.0, ge=300.0, description="where the deceleration lane begins")
    exit_length_m: float = Field(100.0, ge=40.0, le=400.0)
    speed_limit_kmh: float = Field(80.0, gt=0.0, le=130.0)
    ramp_speed_kmh: float = Field(60.0, gt=0.0, le=130.0)
    median_m: float = Field(4.0, ge=0.5, le=20.0)

    @model_validator(mode="after")
    def _ramps_in_order(self) -> HighwayMap:
        cuts = [0.0, self.on_ramp_m, self.on_ramp_m + self.merge_length_m, self.off_ramp_m]
        cuts += [self.off_ramp_m + self.exit_length_m, self.length_m]
        if any(b - a < 20.0 for a, b in itertools.pairwise(cuts)):
            raise ValueError(
                "on_ramp_m + merge_length_m < off_ramp_m < off_ramp_m + exit_length_m < length_m, 20 m apart"
            )
        return self


class CarlaMap(_Strict):
    """A CARLA town, loaded by the CARLA backend."""

    name: str = Field(pattern=r"^Town\d\d(HD)?(_Opt)?$")


def _map_kind(value: object) -> str:
    name = value.get("name") if isinstance(value, dict) else getattr(value, "name", None)
    return name if name in EMBEDDED_MAPS else "carla"


EMBEDDED_MAPS = ("grid", "arterial", "highway")
MapSpec = Annotated[
    Annotated[GridMap, Tag("grid")]
    | Annotated[ArterialMap, Tag("arterial")]
    | Annotated[HighwayMap, Tag("highway")]
    | Annotated[CarlaMap, Tag("carla")],
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
    traffic can be placed whichever way the route turns. `yaw_deg` is relative to the frame's heading. With `x` and
    `y` instead of `s`: that point of the map, `yaw_deg` then being the heading in the map frame (where a converted
    route file says where something is)."""

    s: float = Field(0.0, description="metres ahead (from the route start, or from the junction entry)")
    d: float = Field(0.0, description="metres to the left")
    yaw_deg: float = Field(0.0, ge=-180.0, le=180.0, description="heading relative to the frame")
    junction: int | None = Field(None, ge=0, description="anchor the frame at this junction's entry")
    x: float | None = Field(None, description="map x (with y, instead of s/d)")
    y: float | None = Field(None, description="map y")

    @model_validator(mode="after")
    def _s_from_start_is_positive(self) -> Placement:
        if self.junction is None and self.s < 0:
            raise ValueError("s must be >= 0 when measured from the route start (or give `junction`)")
        return self

    @model_validator(mode="after")
    def _absolute_or_relative(self) -> Placement:
        if (self.x is None) != (self.y is None):
            raise ValueError("give both x and y, or neither")
        if self.x is not None and (self.junction is not None or self.s or self.d):
            raise ValueError("a placement is either x/y on the map or s/d (and junction) along the route")
        return self

    @property
    def absolute(self) -> bool:
        return self.x is not None

    def frame_pose(self, route: Route) -> tuple[float, float, float]:
        """(x, y, frame heading) of this placement on a planned route; add `yaw_deg` for the actor's heading.

        Raises ValueError when the route has no such junction."""
        if self.x is not None and self.y is not None:
            return float(self.x), float(self.y), 0.0
        if self.junction is None:
            return route.to_world(self.s, self.d)
        if self.junction >= len(route.maneuvers):
            raise ValueError(f"junction {self.junction} does not exist: the route has {len(route.maneuvers)}")
        entry = route.maneuvers[self.junction].s_start
        ex, ey, _ = route.to_world(entry)
        heading = route.to_world(max(0.0, entry - 1.0))[2]  # the approach heading, not the turn's first segment
        c, sn = math.cos(heading), math.sin(heading)
        return ex + self.s * c - self.d * sn, ey + self.s * sn + self.d * c, heading


BehaviorType = Literal[
    "follow_lane", "stopped", "cross", "cut_in", "brake", "run_red_light", "open_door", "invade", "emergency"
]


class Behavior(_Strict):
    """What an actor does. `open_door` (a parked vehicle): its door on the traffic side opens when triggered.
    `invade` (a vehicle): drives its lane `offset_m` towards its left, into the lane of oncoming traffic.
    `emergency` (a vehicle): an emergency vehicle with lights and siren that follows the route `speed_margin` m/s
    faster than the ego; the ego has to make way for it (leaderboard 2.0's YieldToEmergencyVehicle)."""

    type: BehaviorType = "follow_lane"
    speed: float | None = Field(None, ge=0.0, description="m/s while the behaviour runs")
    turn: ManeuverName | None = Field(None, description="what a vehicle does at its next junction")
    side: Literal["left", "right"] | None = Field(None, description="cut_in: the side it comes from")
    decel: float = Field(6.0, gt=0.0, le=12.0, description="brake: deceleration, m/s^2")
    resume_s: float | None = Field(None, gt=0.0, description="brake: seconds it stands before driving on")
    distance_m: float | None = Field(None, gt=0.0, description="cross: how far to walk; cut_in: gap ahead of ego")
    hold_until_trigger: bool = Field(False, description="a vehicle stands still until its trigger fires")
    offset_m: float = Field(1.2, ge=0.0, le=3.5, description="invade: metres into the oncoming lane")
    speed_margin: float = Field(7.0, gt=0.0, le=20.0, description="emergency: m/s faster than the ego")


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
        btype = self.behavior.type if self.behavior is not None else None
        if btype == "open_door":
            if self.kind != "parked_vehicle":
                raise ValueError("behavior 'open_door' is for parked vehicles")
        elif self.kind in _STATIC_KINDS and btype not in (None, "stopped"):
            raise ValueError(f"a {self.kind} cannot have behavior {btype!r}")
        if btype == "cross" and self.kind not in ("pedestrian", "bicycle"):
            raise ValueError("behavior 'cross' is for pedestrians and bicycles")
        if btype in ("invade", "emergency") and self.kind not in ("vehicle", "truck", "bus"):
            raise ValueError(f"behavior {btype!r} is for vehicles, trucks and buses")
        return self

    @property
    def behavior_type(self) -> str:
        if self.behavior is not None:
            return self.behavior.type
        return "stopped" if self.kind in _STATIC_KINDS else "follow_lane"


class LightOverride(_Strict):
    """Force a light at a junction on the route (0 = the first): the one the route meets (`approach: route`) or the
    one facing traffic that comes from our left, our right or the opposite side."""

    junction: int = Field(ge=0)
    approach: Literal["route", "left", "right", "opposite"] = "route"
    state: Literal["red", "yellow", "green"]
    duration_s: float | None = Field(None, gt=0.0, description="then resume cycling; None holds it for good")


class TrafficSpec(_Strict):
    vehicles: int = Field(0, ge=0, le=300)
    pedestrians: int = Field(0, ge=0, le=300)
    light_cycle_s: tuple[float, float, float] = Field(
        (15.0, 3.0, 15.0), description="green, yellow, red seconds as seen from one approach"
    )


VehicleKindName = Literal["vehicle", "truck", "bus", "bicycle"]


class FlowSource(Placement):
    """Where a flow's vehicles enter: a placement that may also lie behind the route start (negative `s`), so a flow
    can come up behind the ego along its road."""

    s: float = Field(0.0, ge=-300.0, description="metres ahead (negative: behind the route start)")

    @model_validator(mode="after")
    def _s_from_start_is_positive(self) -> FlowSource:  # replaces the placement's check: behind the start is fine
        return self


class FlowSpec(_Strict):
    """A stream of vehicles: they enter at `source` (snapped to the lane under it that runs `yaw_deg` relative to the
    frame), drive `length_m` along their lanes and leave the map. Consecutive vehicles are `gap_m` apart (drawn per
    vehicle, bumper to bumper at the source: leaderboard 2.0's source_dist_interval)."""

    source: FlowSource
    kinds: list[VehicleKindName] = Field(default_factory=lambda: ["vehicle"], min_length=1)
    speed: float = Field(10.0, gt=0.0, le=40.0, description="m/s")
    gap_m: tuple[float, float] = Field((15.0, 30.0), description="metres between consecutive vehicles")
    length_m: float = Field(150.0, gt=10.0, le=2000.0, description="how far each vehicle drives before it leaves")
    turns: list[ManeuverName] = Field(default_factory=list, description="what its vehicles do at the next junctions")
    ignore_lights: bool = Field(False, description="the flow has right of way: it runs lights and never yields")
    prefill: bool = Field(True, description="the flow's lanes are already filled when the route starts")
    offset_m: float = Field(0.0, ge=0.0, le=3.5, description="its vehicles drive this far left of their lane centre")
    trigger: Trigger | None = None

    @model_validator(mode="after")
    def _gap(self) -> FlowSpec:
        if not 4.0 <= self.gap_m[0] <= self.gap_m[1]:
            raise ValueError("gap_m must be [low, high] with 4 <= low <= high")
        return self


class Disturbance(_Strict):
    """Loss of control (leaderboard 2.0's ControlLoss): from `at_s` metres along the route, for `length_m`, the
    ego's steering and throttle are disturbed (a constant offset plus seeded noise), whatever the driver commands."""

    at_s: float = Field(ge=0.0)
    length_m: float = Field(12.0, gt=0.0, le=200.0)
    steer: float = Field(0.0, ge=-1.0, le=1.0, description="steering offset, CARLA units (negative: left)")
    steer_noise: float = Field(0.05, ge=0.0, le=1.0, description="standard deviation of the steering noise")
    throttle: float = Field(0.0, ge=0.0, le=1.0, description="throttle added")


class EgoSpec(_Strict):
    speed: float = Field(0.0, ge=0.0, le=40.0, description="initial speed, m/s")


class Criteria(_Strict):
    timeout_s: float = Field(120.0, gt=0.0)
    blocked_s: float = Field(60.0, gt=0.0, description="stationary this long counts as blocked")
    oncoming_lane_ok: bool = Field(
        False,
        description="driving in the oncoming lane next to the route (passing an obstacle on a two-way road) is not "
        "outside the route lanes, as the leaderboard's two-way scenarios switch its wrong-direction test off",
    )


class Variation(_Strict):
    """One varied field of a scenario family. `path` (or several `paths`, which move together) names fields with dots
    and list indices (`actors.0.at.s`); exactly one of: `choice` (one of the values), `uniform` / `integer` (a value
    in the range), `shift` (the same amount added to every path), `scale` (every path multiplied by one factor)."""

    path: str | None = None
    paths: list[str] | None = Field(None, min_length=1)
    choice: list[Any] | None = Field(None, min_length=1)
    uniform: tuple[float, float] | None = None
    integer: tuple[int, int] | None = None
    shift: tuple[float, float] | None = None
    scale: tuple[float, float] | None = None
    digits: int = Field(1, ge=0, le=4, description="rounding of drawn numbers")

    @model_validator(mode="after")
    def _one_each(self) -> Variation:
        if (self.path is None) == (self.paths is None):
            raise ValueError("give either path or paths")
        ops = [k for k in ("choice", "uniform", "integer", "shift", "scale") if getattr(self, k) is not None]
        if len(ops) != 1:
            raise ValueError(f"give exactly one of choice, uniform, integer, shift, scale (got {ops or 'none'})")
        for k in ("uniform", "integer", "shift", "scale"):
            bounds = getattr(self, k)
            if bounds is not None and bounds[0] > bounds[1]:
                raise ValueError(f"{k}: low must not exceed high")
        return self

    @property
    def targets(self) -> list[str]:
        return list(self.paths) if self.paths is not None else [str(self.path)]


class TownOption(_Strict):
    """A place a family can be instantiated in: the map with a route on it (evaluation can hold towns out)."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    map: MapSpec
    route: RouteSpec
    seed: int | None = Field(None, description="the map seed, when it differs from the scenario's")


class FamilySpec(_Strict):
    """Seeded variants of a scenario (scenarios/families.py): a town is drawn first, then every variation."""

    towns: list[TownOption] = Field(default_factory=list)
    vary: list[Variation] = Field(default_factory=list)


class RouteOrigin(_Strict):
    """Where a converted scenario came from (scenarios/leaderboard_routes.py): the route file's own entries, kept so
    the file can be written back."""

    format: Literal["leaderboard-2.0"] = "leaderboard-2.0"
    route_id: str
    town: str
    heights: list[float] = Field(default_factory=list, description="z of each waypoint, CARLA frame")
    scenarios: list[dict[str, Any]] = Field(default_factory=list, description="name, type and elements as in the file")
    weathers: list[dict[str, str]] = Field(default_factory=list)


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
    flows: list[FlowSpec] = Field(default_factory=list)
    disturbances: list[Disturbance] = Field(default_factory=list)
    criteria: Criteria = Criteria()
    family: FamilySpec | None = Field(None, description="how seeded variants of this scenario are drawn")
    origin: RouteOrigin | None = Field(None, description="the leaderboard route this scenario was converted from")

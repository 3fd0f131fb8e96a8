"""Which CARLA blueprint plays each scenario actor kind: data tables, first available entry wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sim.core import ActorKind

# Candidates in order of preference; the last entry of each row is a wildcard filter as a fallback.
BLUEPRINTS: Mapping[ActorKind, Sequence[str]] = {
    ActorKind.VEHICLE: ("vehicle.lincoln.mkz_2020", "vehicle.audi.a2", "vehicle.tesla.model3", "vehicle.*"),
    ActorKind.TRUCK: ("vehicle.carlamotors.european_hgv", "vehicle.carlamotors.carlacola", "vehicle.tesla.cybertruck"),
    ActorKind.BUS: ("vehicle.mitsubishi.fusorosa", "vehicle.carlamotors.carlacola"),
    ActorKind.BICYCLE: ("vehicle.diamondback.century", "vehicle.gazelle.omafiets", "vehicle.bh.crossbike"),
    ActorKind.PEDESTRIAN: ("walker.pedestrian.0001", "walker.pedestrian.0005", "walker.pedestrian.*"),
    ActorKind.CONE: ("static.prop.trafficcone01", "static.prop.constructioncone"),
    ActorKind.BARRIER: ("static.prop.streetbarrier", "static.prop.chainbarrier", "static.prop.trafficwarning"),
    ActorKind.PARKED_VEHICLE: ("vehicle.audi.a2", "vehicle.nissan.micra", "vehicle.*"),
    ActorKind.BROKEN_VEHICLE: ("vehicle.tesla.model3", "vehicle.audi.tt", "vehicle.*"),
}
EMERGENCY_VEHICLES = ("vehicle.ford.ambulance", "vehicle.dodge.charger_police_2020", "vehicle.carlamotors.firetruck")
# (on a server without them any car plays the part, its special lights on)
CARGO_CONE = ("static.prop.constructioncone", "static.prop.trafficcone01")
# Cones on a truck's load bed, metres in the truck's frame (x forward from its box centre, y left, z above ground).
CARGO_OFFSETS: Sequence[tuple[float, float, float]] = ((-1.0, 0.5, 1.3), (-1.0, -0.5, 1.3), (-2.0, 0.0, 1.3))
WALKER_CONTROLLER = "controller.ai.walker"
BACKGROUND_VEHICLES = "vehicle.*"
BACKGROUND_WALKERS = "walker.pedestrian.*"


def pick(library: Any, candidates: Sequence[str], kind: str = "") -> Any:
    """The first candidate present in a carla.BlueprintLibrary (wildcards pick the first 4-wheeled match)."""
    for name in candidates:
        found = list(library.filter(name))
        if "*" in name and name.startswith("vehicle."):
            found = [bp for bp in found if _wheels(bp) == 4] or found
        if found:
            return found[0]
    raise LookupError(f"no blueprint for {kind or 'actor'} on this server; tried {', '.join(candidates)}")


def _wheels(blueprint: Any) -> int:
    if blueprint.has_attribute("number_of_wheels"):
        return int(blueprint.get_attribute("number_of_wheels").as_int())
    return 0


def blueprint_for(library: Any, kind: ActorKind, role_name: str) -> Any:
    bp = pick(library, BLUEPRINTS[kind], kind.value)
    if bp.has_attribute("role_name"):
        bp.set_attribute("role_name", role_name)
    if bp.has_attribute("is_invincible"):
        bp.set_attribute("is_invincible", "false")
    return bp

"""The town and the route a scenario asks for, built and checked before anything moves.

Every way a scenario can fail to fit its map (a route the map cannot offer, an actor beyond the route's end, a light
override at a junction without lights) is a `ScenarioError` naming the file and the field, so a runner can reject it
as bad input before simulating instead of reporting a crashed simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scenarios import ScenarioError, check_placements
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.routing import PlannedRoute, RouteError, RouteStop, plan_route
from sim.embedded.towns import build_network


@dataclass(frozen=True)
class ScenarioMap:
    network: RoadNetwork
    graph: LaneGraph
    plan: PlannedRoute


def build_scenario_map(scenario: Any, source: str | None = None) -> ScenarioMap:
    """Town and route from the scenario's own seed; raises ScenarioError (field `route`) when the route cannot be
    planned on that town."""
    source = source or str(getattr(scenario, "name", "scenario"))
    seed = int(getattr(scenario, "seed", 0))
    network = build_network(scenario.map, seed)
    graph = LaneGraph(network)
    try:
        plan = plan_route(graph, scenario.route, np.random.default_rng(seed))
    except RouteError as err:
        raise ScenarioError(source, [f"route: {err} ({_map_words(scenario.map)})"]) from None
    return ScenarioMap(network, graph, plan)


def light_stop(plan: PlannedRoute, junction: int, field: str, source: str) -> RouteStop:
    """The signalised stop of the route's `junction`-th junction, or a ScenarioError naming `field`."""
    maneuvers = plan.route.maneuvers
    if junction >= len(maneuvers):
        raise ScenarioError(source, [f"{field}: the route meets {len(maneuvers)} junctions, there is no junction "
                                     f"{junction} (counted from 0)"])  # fmt: skip
    jid = maneuvers[junction].junction_id
    stop = next((st for st in plan.stops if st.junction_id == jid and st.light_id), None)
    if stop is None or stop.light_id is None:
        raise ScenarioError(source, [f"{field}: junction {junction} of the route has no traffic light"])
    return stop


def check_scenario(scenario: Any, source: str | None = None) -> None:
    """Everything about the scenario that depends on its map, without building the world around it."""
    source = source or str(getattr(scenario, "name", "scenario"))
    built = build_scenario_map(scenario, source)
    check_placements(scenario, built.plan.route, source)
    for i, override in enumerate(getattr(scenario, "lights", []) or []):
        light_stop(built.plan, int(override.junction), f"lights[{i}].junction", source)


def _map_words(spec: Any) -> str:
    get = spec.get if isinstance(spec, dict) else lambda key, default=None: getattr(spec, key, default)
    name = get("name")
    if name == "grid":
        return f"map: a {get('rows')}x{get('cols')} grid with {get('block_m')} m blocks"
    return f"map: {name}"

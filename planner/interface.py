"""The planner seam: `plan(PlannerInput) -> Plan`, plus a wrapper that times every call."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from planner.actions import MetaAction
from sim.core import RoadMap, Route, WorldState


@dataclass(frozen=True)
class PlannerInput:
    image: np.ndarray  # (H, W, 3) uint8 front camera
    speed: float  # ego speed, m/s
    navigation: str  # navigation command text
    time: float  # simulation time, s
    world: WorldState | None = None  # privileged ground truth; only experts may read it


@dataclass(frozen=True)
class Plan:
    action: MetaAction
    reasoning: str | None = None
    raw_text: str | None = None  # the model's full output, when there is one
    fallback: bool = False  # True when the output could not be parsed and a safe action was used instead
    latency_ms: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)  # what an expert based its decision on


@dataclass(frozen=True)
class PlannerContext:
    """What a planner may learn once per route, before the first `plan` call (as nuPlan's initialisation)."""

    scenario: str
    route: Route
    road_map: RoadMap  # map knowledge; privileged experts use it, camera-only planners ignore it
    dt: float


@runtime_checkable
class Planner(Protocol):
    name: str

    def plan(self, planner_input: PlannerInput) -> Plan: ...


def uses_image(planner: Planner) -> bool:
    """Whether the planner reads `PlannerInput.image`. Planners that never look at it (the privileged expert, a
    constant policy) set a class attribute `uses_image = False`, so the runner can leave the camera off; planners that
    do not say are assumed to look."""
    return bool(getattr(planner, "uses_image", True))


def start_route(planner: Planner, context: PlannerContext) -> None:
    """Call the planner's optional `start_route(context)` hook (planners keeping per-route state define it)."""
    hook = getattr(planner, "start_route", None)
    if callable(hook):
        hook(context)


def end_route(planner: Planner) -> None:
    """Call the planner's optional `end_route()` hook when a route ends, however it ends (a planner serving several
    routes at once learns that this one no longer waits for plans)."""
    hook = getattr(planner, "end_route", None)
    if callable(hook):
        hook()


class TimedPlanner:
    """Wraps a planner and records the wall-clock latency of every call into the returned Plan."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.name = planner.name
        self.uses_image = uses_image(planner)
        self.latencies_ms: list[float] = []

    def start_route(self, context: PlannerContext) -> None:
        start_route(self.planner, context)

    def end_route(self) -> None:
        end_route(self.planner)

    def plan(self, planner_input: PlannerInput) -> Plan:
        start = time.perf_counter()
        result = self.planner.plan(planner_input)
        latency = (time.perf_counter() - start) * 1000.0
        self.latencies_ms.append(latency)
        return replace(result, latency_ms=latency)

"""Shared pieces of the closed-loop tests: small scenario files and a runner on the real embedded backend (camera
off unless asked), with planners and backend wrappers that fail in chosen ways."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.meta_action import MetaActionControllerConfig
from planner.actions import MetaAction
from planner.interface import Plan, PlannerInput
from sim.builders import controller_factory
from sim.core import Backend, Infraction, InfractionType, VehicleControl
from sim.embedded.backend import EmbeddedBackend
from sim.results import MetricsCollector, ResultsWriter
from sim.runner import ClosedLoopRunner, PlannerSetup, RunnerConfig

STRAIGHT_ROAD: dict[str, Any] = {
    "name": "straight_road",
    "description": "An empty straight road through a junction held green: a good driver simply follows it.",
    "map": {"name": "grid", "rows": 3, "cols": 3, "lanes": 1, "block_m": 60, "signalised": 1.0, "curved": 0.0},
    "seed": 3,
    "route": {"maneuvers": ["straight"], "length_m": 40},
    "ego": {"speed": 8.0},
    "lights": [{"junction": 0, "state": "green"}],
    "criteria": {"timeout_s": 30},
}


def write_scenario(directory: Path, **overrides: Any) -> Path:
    data = {**STRAIGHT_ROAD, **overrides}
    path = directory / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def missing_checkpoint_planner(config: Any) -> Any:
    """A planner builder whose model is not there (a `_target_` for run_route tests)."""
    raise FileNotFoundError("no checkpoint at /ckpt/step-100")


class ScriptedPlanner:
    """Answers a fixed action; optionally raises or sleeps on the n-th call; records what it was given."""

    def __init__(
        self,
        action: str = "KEEP, STRAIGHT",
        raise_on: int | None = None,
        error: BaseException | None = None,
        sleep_on: int | None = None,
        sleep_s: float = 0.0,
    ) -> None:
        self.name = "scripted"
        speed, path = (w.strip() for w in action.split(","))
        self.action = MetaAction(speed, path)
        self.raise_on, self.error = raise_on, error or RuntimeError("planner exploded")
        self.sleep_on, self.sleep_s = sleep_on, sleep_s
        self.inputs: list[PlannerInput] = []

    def plan(self, planner_input: PlannerInput) -> Plan:
        self.inputs.append(planner_input)
        n = len(self.inputs)
        if n == self.raise_on:
            raise self.error
        if n == self.sleep_on:
            time.sleep(self.sleep_s)
        return Plan(self.action, reasoning=f"call {n}")


class FaultyBackend:
    """The real embedded backend, with a crash in `step` or an extra event injected at a chosen tick."""

    def __init__(
        self, inner: EmbeddedBackend, crash_at: int | None = None, inject: InfractionType | None = None, at: int = 10
    ) -> None:
        self.inner, self.crash_at, self.inject, self.at = inner, crash_at, inject, at
        self.dt = inner.dt
        self.ticks = 0
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def load(self, scenario: Any, seed: int) -> None:
        self.inner.load(scenario, seed)

    def step(self, control: VehicleControl) -> None:
        if self.ticks == self.crash_at:
            raise RuntimeError("simulator lost its world")
        self.inner.step(control)
        self.ticks += 1

    def observe(self) -> Any:
        return self.inner.observe()

    def ground_truth(self) -> Any:
        return self.inner.ground_truth()

    def events(self) -> list[Infraction]:
        events = self.inner.events()
        if self.inject is not None and self.ticks == self.at:
            ego = self.inner.ground_truth().ego
            events.append(Infraction(self.inject, self.inner.ground_truth().time, (ego.x, ego.y)))
        return events

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def make_runner(
    planner: Any,
    out_dir: Path | None = None,
    backend_factory: Callable[[], Backend] | None = None,
    privileged: bool = False,
    callbacks: list[Any] | None = None,
    **runner_config: Any,
) -> tuple[ClosedLoopRunner, MetricsCollector]:
    collector = MetricsCollector()
    cbs: list[Any] = [collector, *(callbacks or [])]
    if out_dir is not None:
        cbs.append(ResultsWriter(collector, out_dir / "results.json", every_s=0.0))
    setup = planner if isinstance(planner, PlannerSetup) else PlannerSetup.of(planner)
    runner = ClosedLoopRunner(
        backend_factory or (lambda: EmbeddedBackend(render=False)),
        setup,
        controller_factory(MetaActionControllerConfig()),
        RunnerConfig(**runner_config),
        cbs,
        privileged=privileged,
        backend_name="embedded",
    )
    return runner, collector


class BabblingPlanner:
    """A model whose answers never parse: every decision falls back to the safe action (a `_target_` for tests)."""

    name = "babbling"

    def plan(self, planner_input: PlannerInput) -> Plan:
        return Plan(MetaAction("DECELERATE", "STRAIGHT"), raw_text="the road, the road, the road", fallback=True)


def babbling_planner(config: Any) -> BabblingPlanner:
    return BabblingPlanner()

"""What the closed-loop runner tells its observers (metrics, results files, video, progress bar), and when.

Order within a run: `on_start` once, then per tick `on_tick` (before the simulator steps, with the state the
decision was made on) and `on_step` (after it, with the events of that step), then `on_end` once, always, also
after a failure or an interruption.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner.interface import Plan
from sim.core import Infraction, Observation, VehicleControl, WorldState
from sim.protocols import DEFAULT_PROTOCOL, ScoringProtocol, get_protocol
from sim.status import Ending, Status


@dataclass(frozen=True)
class RunContext:
    scenario: Any  # scenarios.Scenario
    scenario_source: str  # file path or suite name
    seed: int
    dt: float
    plan_period: float
    timeout_s: float
    planner_name: str
    backend_name: str
    backend: Any = None  # set once loaded; a recorder may read optional extras such as `network`
    protocol: ScoringProtocol = field(default_factory=lambda: get_protocol(DEFAULT_PROTOCOL))  # how the run is scored


class LazyObservation:
    """The tick's observation, rendered on first use only (the camera is the expensive part of a tick)."""

    def __init__(self, observe: Callable[[], Observation]) -> None:
        self._observe = observe
        self._value: Observation | None = None

    def get(self) -> Observation:
        if self._value is None:
            self._value = self._observe()
        return self._value


@dataclass(frozen=True)
class TickInfo:
    tick: int
    world: WorldState  # ground truth the control was computed from
    observation: LazyObservation
    control: VehicleControl
    plan: Plan | None  # the latest plan (made this tick when `planned`)
    planned: bool
    progress_m: float


@dataclass(frozen=True)
class StepInfo:
    tick: int
    world: WorldState  # after the step
    events: Sequence[Infraction]
    progress_m: float


@dataclass(frozen=True)
class RunOutcome:
    ending: Ending
    status: Status
    ticks: int
    sim_time: float
    wall_time_s: float
    error: dict[str, str] | None = None  # kind, message, traceback
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. refused_lane_changes


class RunCallback:
    """No-op base: override what you need."""

    def on_start(self, context: RunContext) -> None: ...

    def on_loaded(self, context: RunContext, world: WorldState) -> None: ...

    def on_tick(self, info: TickInfo) -> None: ...

    def on_step(self, info: StepInfo) -> None: ...

    def on_end(self, outcome: RunOutcome) -> None: ...


class ProgressBar(RunCallback):
    """tqdm over simulated seconds, with speed, meta-action and route completion."""

    def __init__(self, position: int = 0, leave: bool = True) -> None:
        self.position, self.leave = position, leave
        self._bar: Any = None
        self._shown = 0.0
        self._action = "-"

    def on_start(self, context: RunContext) -> None:
        from tqdm import tqdm

        name = getattr(context.scenario, "name", context.scenario_source)
        self._bar = tqdm(
            total=round(context.timeout_s, 1),
            desc=name,
            unit="s",
            position=self.position,
            leave=self.leave,
            mininterval=0.5,  # wall seconds between redraws: readable in logs too
        )
        self._route_length = 0.0
        self._shown = 0.0

    def on_loaded(self, context: RunContext, world: WorldState) -> None:
        self._route_length = world.route.length

    def on_tick(self, info: TickInfo) -> None:
        if info.planned and info.plan is not None:
            self._action = str(info.plan.action)

    def on_step(self, info: StepInfo) -> None:
        if self._bar is None or info.world.time - self._shown < 0.5:
            return
        rc = 100.0 * info.progress_m / self._route_length if self._route_length else 0.0
        self._bar.set_postfix_str(f"{info.world.ego.speed * 3.6:5.1f} km/h | {self._action} | RC {rc:5.1f}%", False)
        self._bar.update(round(info.world.time - self._shown, 2))
        self._shown = info.world.time

    def on_end(self, outcome: RunOutcome) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(outcome.status.value)
            self._bar.close()
            self._bar = None

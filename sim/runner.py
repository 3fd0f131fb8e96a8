"""The closed-loop runner: it alone steps the simulator.

Each tick: ground truth -> (every plan period) observe + plan -> controller -> callbacks -> step -> events ->
termination checks. Planners and controllers only return decisions. Every way a run can end is named in
`sim.status` and reported through `RunOutcome`; the backend is always closed.

The camera is rendered only when someone needs it (the planner on planning ticks, a recorder on its frames), through
`LazyObservation`; the controller and the metrics use the privileged ego state from `ground_truth()`. When nobody
looks at frames at all (a planner with `uses_image = False` and no video), the route driver (sim/route_task.py) builds
the backend with its camera off.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.meta_action import MetaActionController
from planner.interface import Plan, Planner, PlannerContext, PlannerInput, TimedPlanner
from scenarios import ScenarioError, check_placements
from sim.callbacks import LazyObservation, RunCallback, RunContext, RunOutcome, StepInfo, TickInfo
from sim.core import Backend, Infraction, InfractionType, RoadMap, WorldState
from sim.metrics import route_complete, route_completion
from sim.protocols import DEFAULT_PROTOCOL, ScoringProtocol, get_protocol
from sim.status import ENDING_OF_EVENT, STATUS_OF, Ending
from sim.stop import StopRequest
from sim.watchdog import BoundedCaller, CallStopped, CallTimeout


@dataclass(frozen=True)
class RunnerConfig:
    plan_period: float = 0.5  # s of simulated time between planner calls
    planner_timeout_s: float | None = 30.0  # wall-clock bound of one plan() call; None disables the watchdog
    timeout_s: float | None = None  # route time budget; None: the scenario's criteria.timeout_s
    protocol: str = DEFAULT_PROTOCOL  # scoring protocol (sim/protocols.yaml): when a route is complete, the penalty

    def __post_init__(self) -> None:
        if not (math.isfinite(self.plan_period) and self.plan_period > 0):
            raise ValueError(f"plan_period must be a positive number of seconds, got {self.plan_period}")
        for name in ("planner_timeout_s", "timeout_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or null, got {value}")
        get_protocol(self.protocol)


class RunFailure(Exception):
    """Ends the loop with a named failure kind."""

    def __init__(self, ending: Ending, cause: BaseException | str) -> None:
        super().__init__(str(cause))
        self.ending = ending
        self.cause = cause


class PlannerSetup:
    """Builds the planner on first use, bounded by a timeout, and remembers the planner or the failure, so a suite
    loads a model once and reports a broken one on every route without retrying it."""

    def __init__(
        self,
        factory: Callable[[], Planner],
        timeout_s: float | None = None,
        name: str = "",
        stop: StopRequest | None = None,
    ) -> None:
        self.factory = factory
        self.timeout_s = timeout_s
        self.name = name
        self.caller = BoundedCaller("planner", stop)  # a stop request ends any wait for the planner
        self._planner: Planner | None = None
        self._failure: BaseException | None = None

    @classmethod
    def of(cls, planner: Planner) -> PlannerSetup:
        return cls(lambda: planner, name=planner.name)

    def get(self) -> Planner:
        if self._failure is not None:
            raise self._failure
        if self._planner is None:
            try:
                self._planner = self.caller.call(self.factory, self.timeout_s, "planner setup")
            except CallStopped:
                raise  # not the planner's fault: a later attempt may build it
            except Exception as err:
                self._failure = err
                raise
        return self._planner


def _error(ending: Ending, err: BaseException | str) -> dict[str, str]:
    if isinstance(err, str):
        return {"kind": ending.value, "message": err, "traceback": ""}
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return {"kind": ending.value, "message": f"{type(err).__name__}: {err}", "traceback": tb}


def _end_route(planner: TimedPlanner) -> None:
    try:
        planner.end_route()
    except Exception:  # the route's own result stands; a planner that fails to hear the end must not hide it
        traceback.print_exc()


class _Callbacks:
    def __init__(self, callbacks: Sequence[RunCallback]) -> None:
        self.items = list(callbacks)

    def __getattr__(self, name: str) -> Callable[..., None]:
        def fan_out(*args: Any) -> None:
            for cb in self.items:
                getattr(cb, name)(*args)

        return fan_out


class ClosedLoopRunner:
    """Runs one scenario on a backend with a planner and a meta-action controller built on the backend's map."""

    def __init__(
        self,
        backend_factory: Callable[[], Backend],
        planner: PlannerSetup,
        controller_factory: Callable[[RoadMap], MetaActionController],
        config: RunnerConfig | None = None,
        callbacks: Sequence[RunCallback] = (),
        privileged: bool = False,
        backend_name: str = "",
        stop: StopRequest | None = None,
    ) -> None:
        self.backend_factory = backend_factory  # a fresh backend per run: a crashed one is never reused
        self.planner = planner
        self.controller_factory = controller_factory
        self.config = config or RunnerConfig()
        self.callbacks = _Callbacks(callbacks)
        self.privileged = privileged  # pass ground truth to the planner (experts only)
        self.backend_name = backend_name
        self.stop = stop or StopRequest()  # checked between ticks: the run ends "Interrupted" with its files intact
        self.backend: Backend | None = None

    def run(self, scenario: Any, source: str = "", seed: int | None = None) -> RunOutcome:
        cfg = self.config
        started = time.perf_counter()
        self.ticks, self.sim_time, self.extras = 0, 0.0, {}
        created: BaseException | None = None
        try:
            self.backend = self.backend_factory()
        except Exception as err:
            self.backend, created = None, err
        context = RunContext(
            scenario=scenario,
            scenario_source=source or scenario.name,
            seed=int(scenario.seed if seed is None else seed),
            dt=float(getattr(self.backend, "dt", 0.0)),
            plan_period=cfg.plan_period,
            timeout_s=float(cfg.timeout_s if cfg.timeout_s is not None else scenario.criteria.timeout_s),
            planner_name=self.planner.name,
            backend_name=self.backend_name or type(self.backend).__name__,
            backend=self.backend,
            protocol=get_protocol(cfg.protocol),
        )
        try:
            self.callbacks.on_start(context)
            if created is not None:
                ending, error = Ending.BACKEND_LOAD, _error(Ending.BACKEND_LOAD, created)
            else:
                ending, error = self._run(context)
        except KeyboardInterrupt as err:
            self._close_backend()
            self._finish(context, Ending.INTERRUPTED, _error(Ending.INTERRUPTED, err), started)
            raise
        finally:
            self._close_backend()  # also when a callback fails: a harness bug must not leak a simulator
        return self._finish(context, ending, error, started)

    def _finish(self, context: RunContext, ending: Ending, error: dict | None, started: float) -> RunOutcome:
        outcome = RunOutcome(
            ending=ending,
            status=STATUS_OF[ending],
            ticks=self.ticks,
            sim_time=self.sim_time,
            wall_time_s=time.perf_counter() - started,
            error=error,
            extras=self.extras,
        )
        self.callbacks.on_end(outcome)
        return outcome

    def _close_backend(self) -> None:
        if self.backend is None:
            return
        backend, self.backend = self.backend, None
        try:
            backend.close()
        except Exception:  # close() must be safe; a failing one must not hide the run's own result
            traceback.print_exc()

    def _run(self, context: RunContext) -> tuple[Ending, dict[str, str] | None]:
        try:
            self._check_stop()
            world, controller, planner = self._setup(context)
            try:
                return self._loop(context, world, controller, planner), None
            finally:
                _end_route(planner)
        except RunFailure as failure:
            return failure.ending, _error(failure.ending, failure.cause)

    def _check_stop(self) -> None:
        if self.stop.requested:
            raise RunFailure(Ending.INTERRUPTED, self.stop.reason())

    def _setup(self, context: RunContext) -> tuple[WorldState, MetaActionController, TimedPlanner]:
        scenario, backend = context.scenario, context.backend
        try:
            backend.load(scenario, context.seed)
            world = backend.ground_truth()
        except ScenarioError as err:
            raise RunFailure(Ending.SCENARIO_INVALID, err) from err
        except Exception as err:
            raise RunFailure(Ending.BACKEND_LOAD, err) from err
        self._check_stop()
        try:
            check_placements(scenario, world.route, context.scenario_source)
        except ScenarioError as err:
            raise RunFailure(Ending.SCENARIO_INVALID, err) from err
        self.callbacks.on_loaded(context, world)
        road_map = getattr(backend, "road_map", None)
        if road_map is None:
            raise RunFailure(Ending.BACKEND_LOAD, f"backend {self.backend_name} offers no road_map for the controller")
        try:
            planner = TimedPlanner(self.planner.get())
            route_context = PlannerContext(scenario.name, world.route, road_map, context.dt)
            self.planner.caller.call(
                lambda: planner.start_route(route_context), self.planner.timeout_s, f"{planner.name}.start_route()"
            )
        except CallStopped as err:
            raise RunFailure(Ending.INTERRUPTED, err) from err
        except Exception as err:
            raise RunFailure(Ending.PLANNER_SETUP, err) from err
        try:
            controller = self.controller_factory(road_map)
            controller.reset(initial_speed=world.ego.speed)
        except Exception as err:
            raise RunFailure(Ending.PLANNER_SETUP, err) from err
        return world, controller, planner

    def _plan(self, planner: TimedPlanner, observation: LazyObservation, world: WorldState) -> Plan:
        try:
            obs = observation.get()
        except Exception as err:
            raise RunFailure(Ending.SIMULATOR_CRASH, err) from err
        planner_input = PlannerInput(
            image=obs.image,
            speed=obs.ego.speed,
            navigation=obs.navigation,
            time=obs.time,
            world=world if self.privileged else None,
        )
        try:
            plan = self.planner.caller.call(
                lambda: planner.plan(planner_input), self.config.planner_timeout_s, f"{planner.name}.plan()"
            )
        except CallTimeout as err:
            raise RunFailure(Ending.PLANNER_TIMEOUT, err) from err
        except CallStopped as err:
            raise RunFailure(Ending.INTERRUPTED, err) from err
        except Exception as err:
            raise RunFailure(Ending.PLANNER_RUNTIME, err) from err
        if not isinstance(plan, Plan):
            raise RunFailure(Ending.PLANNER_RUNTIME, f"{planner.name}.plan() returned {type(plan).__name__}, not Plan")
        return plan

    def _loop(
        self, context: RunContext, world: WorldState, controller: MetaActionController, planner: TimedPlanner
    ) -> Ending:
        try:
            return self._ticks(context, world, controller, planner)
        finally:
            self.extras["refused_lane_changes"] = controller.refused_lane_changes
            self.extras["controller"] = controller.report()

    def _ticks(
        self, context: RunContext, world: WorldState, controller: MetaActionController, planner: TimedPlanner
    ) -> Ending:
        backend, dt = context.backend, context.dt
        plan_every = max(1, round(self.config.plan_period / dt))
        progress = max(0.0, world.route_s)
        plan: Plan | None = None
        tick = 0
        while True:
            self._check_stop()
            observation = LazyObservation(backend.observe)
            planned = tick % plan_every == 0
            if planned:
                plan = self._plan(planner, observation, world)
            try:
                if planned and plan is not None:
                    controller.set_action(plan.action, world.ego)
                control = controller.control(world.ego, dt, world.route)
            except Exception as err:
                raise RunFailure(Ending.PLANNER_RUNTIME, err) from err
            self.callbacks.on_tick(TickInfo(tick, world, observation, control, plan, planned, progress))
            try:
                backend.step(control)
                events = list(backend.events())
                world = backend.ground_truth()
            except Exception as err:
                raise RunFailure(Ending.SIMULATOR_CRASH, err) from err
            tick += 1
            self.ticks, self.sim_time = tick, world.time
            progress = max(progress, world.route_s)
            ending = self._ending(events, progress, world, context, tick)
            if ending is Ending.ROUTE_COMPLETED:
                progress = world.route.length  # the protocol's completion rule counts it as the whole route
            if ending is Ending.ROUTE_TIMEOUT:
                where = (world.ego.x, world.ego.y)
                events.append(
                    Infraction(
                        InfractionType.ROUTE_TIMEOUT, world.time, where, details={"timeout_s": context.timeout_s}
                    )
                )
            self.callbacks.on_step(StepInfo(tick, world, events, progress))
            if ending is not None:
                return ending

    @staticmethod
    def _ending(
        events: Sequence[Infraction], progress: float, world: WorldState, context: RunContext, tick: int
    ) -> Ending | None:
        for event in events:
            if event.type in ENDING_OF_EVENT:
                return ENDING_OF_EVENT[event.type]
        protocol: ScoringProtocol = context.protocol
        route = world.route
        completion = route_completion(progress, route.length, protocol.route_point_spacing_m)
        to_end = math.hypot(world.ego.x - route.points[-1][0], world.ego.y - route.points[-1][1])
        if route_complete(completion, to_end, protocol):
            return Ending.ROUTE_COMPLETED
        if world.time >= context.timeout_s - 1e-9:
            return Ending.ROUTE_TIMEOUT
        if protocol.tick_budget is not None and tick > protocol.tick_budget:
            return Ending.TICK_BUDGET
        return None

"""Every way a closed-loop run can end, and the status each one gets in `results.json`, in the leaderboard's words
and meanings: "Failed - Agent timed out" is the route's time budget running out; a planner call that takes too
long is the agent failing at run time ("Failed - Agent crashed", as the leaderboard's agent watchdog reports it);
a completed route is "Perfect" without any infraction, else "Completed".

The mapping is a table so reports, the suite's resume logic and tests share one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from sim.core import InfractionType


class Status(str, Enum):
    RUNNING = "Running"  # a partial results.json written during the run
    INTERRUPTED = "Interrupted"  # Ctrl-C / SIGTERM: what happened so far
    PERFECT = "Perfect"  # completed without a single infraction
    COMPLETED = "Completed"
    INVALID_SCENARIO = "Failed - Invalid scenario"
    AGENT_SETUP = "Failed - Agent couldn't be set up"
    AGENT_CRASHED = "Failed - Agent crashed"
    AGENT_TIMED_OUT = "Failed - Agent timed out"
    SIMULATION_CRASHED = "Failed - Simulation crashed"
    TICK_RUNTIME = "Failed - TickRuntime"  # Bench2Drive: the route's tick budget ran out
    BLOCKED = "Failed - Agent got blocked"
    DEVIATED = "Failed - Agent deviated from the route"

    @property
    def failed(self) -> bool:
        return self.value.startswith("Failed")

    @property
    def completed(self) -> bool:
        return self in (Status.PERFECT, Status.COMPLETED)


class Ending(str, Enum):
    """Why the loop stopped: the named failure kinds plus the normal end."""

    ROUTE_COMPLETED = "route_completed"
    SCENARIO_INVALID = "scenario_invalid"  # the scenario does not fit the map (e.g. an actor beyond the route)
    BACKEND_LOAD = "backend_load"  # the simulator could not build the scenario
    PLANNER_SETUP = "planner_setup"  # building the planner raised or took longer than its setup timeout
    PLANNER_RUNTIME = "planner_runtime"  # plan() or the controller raised
    PLANNER_TIMEOUT = "planner_timeout"  # one plan() call took longer than planner_timeout_s
    TICK_BUDGET = "tick_budget"  # the protocol's tick budget ran out (Bench2Drive)
    SIMULATOR_CRASH = "simulator_crash"  # step / observe / ground_truth / events raised mid-run
    ROUTE_TIMEOUT = "route_timeout"  # the route's time budget ran out
    BLOCKED = "blocked"  # the backend reported the ego stuck
    ROUTE_DEVIATION = "route_deviation"  # the backend reported the ego far off its route
    INTERRUPTED = "interrupted"  # KeyboardInterrupt / SIGTERM
    WORKER_LOST = "worker_lost"  # the worker process (or machine) running the route died
    WORKER_ERROR = "worker_error"  # the harness raised in the worker outside the runner


STATUS_OF: Mapping[Ending, Status] = {
    Ending.ROUTE_COMPLETED: Status.COMPLETED,
    Ending.SCENARIO_INVALID: Status.INVALID_SCENARIO,
    Ending.BACKEND_LOAD: Status.SIMULATION_CRASHED,
    Ending.PLANNER_SETUP: Status.AGENT_SETUP,
    Ending.PLANNER_RUNTIME: Status.AGENT_CRASHED,
    Ending.PLANNER_TIMEOUT: Status.AGENT_CRASHED,
    Ending.TICK_BUDGET: Status.TICK_RUNTIME,
    Ending.SIMULATOR_CRASH: Status.SIMULATION_CRASHED,
    Ending.ROUTE_TIMEOUT: Status.AGENT_TIMED_OUT,
    Ending.BLOCKED: Status.BLOCKED,
    Ending.ROUTE_DEVIATION: Status.DEVIATED,
    Ending.INTERRUPTED: Status.INTERRUPTED,
    Ending.WORKER_LOST: Status.SIMULATION_CRASHED,
    Ending.WORKER_ERROR: Status.SIMULATION_CRASHED,
}


def final_status(status: Status, infractions: int) -> Status:
    """The leaderboard's verdict on a completed route: "Perfect" when it has no infraction at all."""
    return Status.PERFECT if status.completed and infractions == 0 else status


# Backend events that end the route where they happen.
ENDING_OF_EVENT: Mapping[InfractionType, Ending] = {
    InfractionType.BLOCKED: Ending.BLOCKED,
    InfractionType.ROUTE_DEVIATION: Ending.ROUTE_DEVIATION,
}

# Statuses a suite reruns on resume: the run did not reach a verdict about the driving.
RERUN_ON_RESUME: frozenset[Status] = frozenset({Status.RUNNING, Status.INTERRUPTED, Status.SIMULATION_CRASHED})

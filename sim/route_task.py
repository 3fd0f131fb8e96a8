"""One route of a run, driven in whichever process the fan-out puts it (this one, a local worker, a Ray worker).

`RouteDriver` holds what every route of a run shares: the planner is built on the first route and reused, so a
model loads once per process. Worker processes keep one driver per run configuration (`drive_route`), this process
makes its own. A route that ends "Failed - Simulation crashed" on CARLA because its server failed is retried once,
after the server is restarted (`sim.server_pool`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.config import ConfigError
from planner.interface import uses_image
from sim.builders import RunRouteConfig, backend_factory, controller_factory, planner_factory
from sim.callbacks import ProgressBar, RunCallback
from sim.results import RESULTS_FILE, MetricsCollector, ResultsWriter, write_json_atomic
from sim.runner import ClosedLoopRunner, PlannerSetup, RunnerConfig
from sim.server_pool import CarlaServer, restart, server_crashed, sim_for
from sim.stop import StopRequest
from sim.video import VideoRecorder

VIDEO_FILE = "review.mp4"
CONFIG_ERROR = "config_error"  # key of what a worker returns instead of results when the run's config is bad input


@dataclass(frozen=True)
class RouteJob:
    source: str  # what the user named: a suite name or a path
    scenario: Any  # the validated scenario
    out_dir: Path
    resumable: bool = True  # part of a suite or of repeats: a finished results.json there means done
    seed: int | None = None  # the run seed; None: the scenario's own
    label: str = ""  # how logs name the route: the scenario, with the seed when it runs under several

    @property
    def key(self) -> str:
        return str(self.out_dir)

    @property
    def name(self) -> str:
        return self.label or self.scenario.name


class RouteDriver:
    """Drives routes with one run configuration; the planner is built on first use and kept for the next routes."""

    def __init__(self, config: RunRouteConfig, planner_choice: str | None = None) -> None:
        self.config = config
        make_planner, self.privileged, name = planner_factory(config.planner, planner_choice)
        self.setup = PlannerSetup(make_planner, config.planner_setup_timeout_s, name)
        self.runner_config = RunnerConfig(
            plan_period=config.plan_period,
            planner_timeout_s=config.planner_timeout_s,
            timeout_s=config.timeout_s,
            protocol=config.protocol,
        )

    def drive(
        self, job: RouteJob, stop: StopRequest, sim: dict[str, Any] | None = None, progress: bool = False
    ) -> dict[str, Any]:
        """Drive `job` and return its results (also written to its results.json). ConfigError: bad planner config."""
        config = self.config
        self.setup.caller.stop = stop  # a stop ends any wait for the planner, also while it loads
        _fail_fast_on_config(self.setup)
        frames = config.video.enabled or self._planner_looks()  # the camera renders only for someone who looks
        make_backend, backend_name = backend_factory(sim or config.sim, frames=frames)
        collector = MetricsCollector(job.out_dir / VIDEO_FILE if config.video.enabled else None, config.video)
        callbacks: list[RunCallback] = [collector]
        if config.video.enabled:
            callbacks.append(VideoRecorder(job.out_dir / VIDEO_FILE, config.video))
        if progress:
            callbacks.append(ProgressBar(position=1, leave=False))
        callbacks.append(ResultsWriter(collector, job.out_dir / RESULTS_FILE, config.results_every_s))
        runner = ClosedLoopRunner(
            make_backend,
            self.setup,
            controller_factory(config.controller),
            self.runner_config,
            callbacks,
            privileged=self.privileged,
            backend_name=backend_name,
            stop=stop,
        )
        runner.run(job.scenario, job.source, job.seed)
        return collector.results()

    def _planner_looks(self) -> bool:
        try:
            return uses_image(self.setup.get())
        except Exception:  # not built (yet): keep the camera the config asks for
            return True

    def close(self) -> None:
        self.setup.caller.close()


def _fail_fast_on_config(setup: PlannerSetup) -> None:
    """A planner config with a typo is bad input (exit 2 before driving), not a route failure; other setup errors
    are remembered by `setup` and reported on every route as "Failed - Agent couldn't be set up"."""
    try:
        setup.get()
    except ConfigError:
        raise
    except Exception:  # includes a stop requested while the model loads: the route then ends "Interrupted"
        pass


def drive_route(
    job: RouteJob,
    config: RunRouteConfig,
    planner_choice: str | None,
    progress: bool = False,
    *,
    stop: StopRequest,
    slot: CarlaServer | None = None,
    driver: RouteDriver | None = None,
) -> dict[str, Any]:
    """The fan-out task: drive `job` on `slot` (a CARLA server of the pool, if any) and return its results, or
    `{CONFIG_ERROR: message}` when the planner's config is bad input."""
    driver = driver or _process_driver(config, planner_choice)
    sim = sim_for(config.sim, slot)
    try:
        results = driver.drive(job, stop, sim, progress)
        if server_crashed(results, sim) and not stop.requested:
            note = restart(sim)
            first = {"status": results["status"], "error": (results.get("error") or {}).get("message"), "then": note}
            results = driver.drive(job, stop, sim, progress)
            results["retried"] = first
            write_json_atomic(job.out_dir / RESULTS_FILE, results)
    except ConfigError as err:
        return {CONFIG_ERROR: str(err)}
    return results


_DRIVERS: dict[str, RouteDriver] = {}  # worker processes: the driver of the run they serve (one model per process)


def _process_driver(config: RunRouteConfig, planner_choice: str | None) -> RouteDriver:
    key = repr((config, planner_choice))
    if key not in _DRIVERS:
        for old in _DRIVERS.values():
            old.close()
        _DRIVERS.clear()
        _DRIVERS[key] = RouteDriver(config, planner_choice)
    return _DRIVERS[key]

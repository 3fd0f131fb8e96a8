"""Closed-loop evaluation: drive a planner through one scenario or the whole suite and report how it drove.

    python sim/run_route.py scenario=red_light_stop planner=expert
    python sim/run_route.py scenario=path/to/my.yaml planner=constant plan_period=0.5 video.enabled=false
    python sim/run_route.py scenario=suite planner=expert output_dir=outputs/suite_expert   # rerun to resume
    python sim/run_route.py -m scenario=red_light_stop,jaywalker planner=expert
    python sim/run_route.py scenario=suite repeats=3 workers=2                 # every route under 3 seeds, 2 cores
    python sim/run_route.py scenario=suite executor=ray ray.address=auto       # on a running Ray cluster

Exit codes: 0 every route reached a verdict; 1 a route could not be driven (planner setup or simulator failure);
2 bad scenario or configuration, reported before any simulation; 130 interrupted.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from planner.config import ConfigError
from scenarios import ScenarioError
from sim.builders import RunRouteConfig, load_run_config
from sim.cli import ensure_console_logging, hydra_entry, log_file
from sim.report import write_report_or_warn
from sim.stats import format_interval
from sim.status import Status
from sim.stop import StopRequest
from sim.suite import check_jobs, fallback_warning, is_suite, plan_jobs, run_jobs, write_summary

EXIT_OK, EXIT_NOT_DRIVEN, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
LOG_FILE = "run_route.log"
log = logging.getLogger("sim.run_route")
NOT_DRIVEN = {Status.AGENT_SETUP.value, Status.SIMULATION_CRASHED.value, Status.INVALID_SCENARIO.value}


def drive(cfg: DictConfig) -> int:
    ensure_console_logging()
    with StopRequest().installed() as stop:
        return _drive(cfg, stop)


def _drive(cfg: DictConfig, stop: StopRequest) -> int:
    try:
        config = load_run_config(cfg)
        hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
        out_root = Path(config.output_dir or (hydra_cfg.runtime.output_dir if hydra_cfg else "outputs/run_route"))
        out_root = out_root.absolute()  # workers may run elsewhere than this directory
        choice = hydra_cfg.runtime.choices.get("planner") if hydra_cfg else None
        jobs = plan_jobs(config.scenario, out_root, config.seed, config.repeats, config.seeds)
        check_jobs(jobs, config.sim)
    except (ScenarioError, ConfigError) as err:
        log.error("error: %s", err)
        return EXIT_BAD_INPUT
    in_hydra_dir = hydra_cfg is not None and out_root.resolve() == Path(hydra_cfg.runtime.output_dir).resolve()
    with nullcontext() if in_hydra_dir else log_file(out_root / LOG_FILE):
        return _drive_jobs(jobs, config, choice, out_root, stop)


def _drive_jobs(jobs: list, config: RunRouteConfig, choice: str | None, out_root: Path, stop: StopRequest) -> int:
    try:
        results = run_jobs(jobs, config, choice, log=log.info, stop=stop)
    except KeyboardInterrupt:
        stop.request()
    except ConfigError as err:
        log.error("error: %s", err)
        return EXIT_BAD_INPUT
    if stop.requested:
        log.warning("interrupted: partial results stay in %s", out_root)
        return EXIT_INTERRUPTED
    if is_suite(config.scenario) or len(jobs) > 1:
        summary = write_summary(out_root, results)
        overall = summary["stats"]["overall"]
        log.info(
            f"suite: {summary['routes']} routes, mean DS {format_interval(overall['driving_score'])} (95% CI), "
            f"RC {summary['route_completion']:.1f}, IS {summary['infraction_penalty']:.3f}, "
            f"success {100 * summary['success_rate']:.0f}% -> {out_root / 'summary.md'}"
        )
        warning = fallback_warning(summary["fallbacks"], summary["decisions"])
        if warning:
            log.warning("warning: %s", warning)
    else:
        write_report_or_warn(out_root, log.info)
    log.info(f"results and videos: {out_root}")
    if any(r.get("status") == Status.INVALID_SCENARIO.value for r in results):
        return EXIT_BAD_INPUT
    return EXIT_NOT_DRIVEN if any(r.get("status") in NOT_DRIVEN for r in results) else EXIT_OK


# `${stem:${scenario}}` names output directories after the scenario, also when it is given as a path.
if not OmegaConf.has_resolver("stem"):
    OmegaConf.register_new_resolver("stem", lambda value: Path(str(value)).stem)


def main() -> None:
    hydra_entry("run_route", drive)


if __name__ == "__main__":
    main()

"""Drive one scenario or a whole suite with one planner, write per-route results and videos, and a suite summary.

Layout: a single scenario writes `results.json` and `review.mp4` into the output directory; a suite (`suite`, or a
directory of scenario files) writes one sub-directory per scenario plus `summary.json` and `summary.md`. Each
finished route's results.json is its checkpoint: rerunning with the same output directory skips routes that already
hold a verdict (see `RERUN_ON_RESUME`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.config import ConfigError
from scenarios import ScenarioError, list_suite, load_scenario
from sim.builders import RunRouteConfig, backend_factory, controller_factory, planner_factory
from sim.callbacks import ProgressBar, RunCallback
from sim.metrics import per_ability, summarize
from sim.report import write_report_or_warn
from sim.results import RESULTS_FILE, MetricsCollector, ResultsWriter, read_results, write_json_atomic
from sim.runner import ClosedLoopRunner, PlannerSetup, RunnerConfig
from sim.status import RERUN_ON_RESUME, Ending, Status
from sim.stop import StopRequest
from sim.video import VideoRecorder

VIDEO_FILE = "review.mp4"
logger = logging.getLogger("sim.suite")
SUITE = "suite"


@dataclass(frozen=True)
class RouteJob:
    source: str  # what the user named: a suite name or a path
    scenario: Any  # the validated scenario
    out_dir: Path
    resumable: bool = True  # part of a suite: a finished results.json there means done


def is_suite(spec: str) -> bool:
    """True for `suite` (the bundled suite) and for a directory of scenario files (a suite of your own)."""
    return spec == SUITE or Path(spec).is_dir()


def plan_jobs(spec: str, out_root: Path) -> list[RouteJob]:
    """Validate every scenario before anything is simulated; raises ScenarioError naming file and field."""
    if spec == SUITE:
        return [RouteJob(n, load_scenario(n), out_root / n) for n in list_suite()]
    if Path(spec).is_dir():
        files = sorted(p for p in Path(spec).iterdir() if p.suffix in (".yaml", ".yml"))
        jobs = [RouteJob(str(f), load_scenario(f), out_root / f.stem) for f in files]
        if not jobs:
            raise ScenarioError(spec, ["<directory>: no scenario files (*.yaml) in it"])
        return jobs
    return [RouteJob(spec, load_scenario(spec), out_root, resumable=False)]


def check_jobs(jobs: Sequence[RouteJob], sim_config: Mapping[str, Any]) -> None:
    """Scenario problems that need the map (an unplannable route, an actor beyond the route, a light override
    without a light) are bad input: on the embedded simulator they are found here, before any route is driven.
    CARLA towns need a server, so that backend reports them when it loads the route."""
    if str(sim_config.get("name", "embedded")) != "embedded":
        return
    from sim.embedded.scenario_map import check_scenario

    for job in jobs:
        check_scenario(job.scenario, job.source)


def finished_results(out_dir: Path) -> dict[str, Any] | None:
    """The route's results when they hold a final verdict, else None (missing, partial, interrupted, crashed)."""
    results = read_results(out_dir / RESULTS_FILE)
    if results is None:
        return None
    try:
        status = Status(results.get("status"))
    except ValueError:
        return None
    return None if status in RERUN_ON_RESUME else results


def run_jobs(
    jobs: Sequence[RouteJob],
    config: RunRouteConfig,
    planner_choice: str | None = None,
    log: Any = None,
    stop: StopRequest | None = None,
) -> list[dict[str, Any]]:
    """Drive every job (skipping finished ones when `config.resume`); returns each route's results in job order.

    A requested stop ends the current route as "Interrupted" (its results and video written) and skips the rest."""
    stop = stop or StopRequest()
    log = log or logger.info
    make_planner, privileged, planner_name = planner_factory(config.planner, planner_choice)
    setup = PlannerSetup(make_planner, config.planner_setup_timeout_s, planner_name, stop)
    make_backend, backend_name = backend_factory(config.sim)
    runner_config = RunnerConfig(
        plan_period=config.plan_period,
        planner_timeout_s=config.planner_timeout_s,
        timeout_s=config.timeout_s,
        protocol=config.protocol,
    )
    all_results: list[dict[str, Any]] = []
    for job in jobs:
        done = finished_results(job.out_dir) if config.resume and job.resumable else None
        if done is not None:
            log(f"[skip] {job.scenario.name}: already finished ({done['status']}) in {job.out_dir}")
            all_results.append(done)
            continue
        _fail_fast_on_config(setup)
        collector = MetricsCollector(job.out_dir / VIDEO_FILE if config.video.enabled else None, config.video)
        callbacks: list[RunCallback] = [collector]
        if config.video.enabled:
            video = VideoRecorder(job.out_dir / VIDEO_FILE, config.video)
            callbacks.append(video)
        if config.progress:
            callbacks.append(ProgressBar())
        callbacks.append(ResultsWriter(collector, job.out_dir / RESULTS_FILE, config.results_every_s))
        runner = ClosedLoopRunner(
            make_backend,
            setup,
            controller_factory(config.controller),
            runner_config,
            callbacks,
            privileged=privileged,
            backend_name=backend_name,
            stop=stop,
        )
        outcome = runner.run(job.scenario, job.source, config.seed)
        results = collector.results()
        log(
            f"[{results['status']}] {job.scenario.name}: DS {results['driving_score']:.1f} "
            f"RC {results['route_completion']:.1f} IS {results['infraction_penalty']:.3f} -> {job.out_dir}"
        )
        if outcome.error:
            log(f"    {outcome.error['kind']}: {outcome.error['message']}")
        warning = fallback_warning(results["fallbacks"], results["planner_latency_ms"]["count"])
        if warning:
            log(f"    warning: {warning}")
        all_results.append(results)
        if outcome.ending is Ending.INTERRUPTED:
            break
    setup.caller.close()
    return all_results


def fallback_warning(fallbacks: int, decisions: int) -> str | None:
    """A warning when most decisions fell back to the safe action: the model's answers did not parse."""
    if decisions and fallbacks > decisions / 2:
        return (
            f"{fallbacks} of {decisions} decisions fell back to the safe action (the model's output did not parse); "
            "its text is under `raw` in each results.json's meta_actions"
        )
    return None


def _fail_fast_on_config(setup: PlannerSetup) -> None:
    """A planner config with a typo is bad input (exit 2 before driving), not a route failure; other setup errors
    are remembered by `setup` and reported on every route as "Failed - Agent couldn't be set up"."""
    try:
        setup.get()
    except ConfigError:
        raise
    except Exception:  # includes a stop requested while the model loads: the route then ends "Interrupted"
        pass


def write_summary(out_root: Path, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summary = summarize(results)
    summary["abilities"] = per_ability(results)
    summary["routes_detail"] = [
        {
            k: r.get(k)
            for k in ("scenario", "status", "driving_score", "route_completion", "infraction_penalty", "collisions")
        }
        for r in results
    ]
    write_json_atomic(out_root / "summary.json", summary)
    (out_root / "summary.md").write_text(summary_markdown(results, summary), encoding="utf-8")
    write_report_or_warn(out_root, logger.info)
    return summary


def summary_markdown(results: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    rows = [
        "| scenario | status | DS | RC | IS | collisions | infractions |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        counts = r.get("infraction_counts") or {}
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "-"
        rows.append(
            f"| {r['scenario']} | {r['status']} | {r['driving_score']:.1f} | {r['route_completion']:.1f} | "
            f"{r['infraction_penalty']:.3f} | {r.get('collisions', 0)} | {listed} |"
        )
    if results:
        rows.append(
            f"| **mean** ({summary['routes']} routes, {summary['protocol']}) | "
            f"success {100 * summary['success_rate']:.0f}% | "
            f"**{summary['driving_score']:.1f}** | {summary['route_completion']:.1f} | "
            f"{summary['infraction_penalty']:.3f} | {summary['collisions']} | |"
        )
    abilities = summary.get("abilities") or {}
    if abilities:
        rows += ["", "| ability (Bench2Drive) | routes | success | mean DS |", "|---|---:|---:|---:|"]
        for name, a in abilities.items():
            rows.append(f"| {name} | {a['routes']} | {100 * a['success_rate']:.0f}% | {a['driving_score']:.1f} |")
    return "\n".join(rows) + "\n"

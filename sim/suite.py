"""Drive one scenario or a whole suite with one planner, each route under one or several seeds, fanned out over local
worker processes or Ray (`sim.fanout`) and a pool of CARLA servers; write per-route results and a suite summary
with confidence intervals (`sim.stats`).

Layout: a single scenario writes `results.json` and `review.mp4` into the output directory; a suite (`suite`, or a
directory of scenario files) writes one sub-directory per scenario plus `summary.json` and `summary.md`. A route run
under several seeds (`repeats`, `seeds`) gets one sub-directory per seed, `seed_<n>`. Each finished route's
results.json is its checkpoint: rerunning with the same output directory skips routes that already hold a verdict
(see `RERUN_ON_RESUME`), whichever engine drove them.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from planner.config import ConfigError
from planner.server import PlannerServer, serve_planner
from scenarios import ScenarioError, list_suite, load_scenario
from sim.builders import RunRouteConfig, backend_factory, planner_batches, planner_factory
from sim.fanout import Done, Task, fan_out, in_process, local_workers
from sim.fanout.progress import FanOutProgress
from sim.metrics import per_ability, summarize
from sim.report import write_report_or_warn
from sim.results import RESULTS_FILE, read_results, write_json_atomic
from sim.route_task import CONFIG_ERROR, VIDEO_FILE, RouteDriver, RouteJob, drive_route
from sim.server_pool import parse_servers
from sim.stats import format_interval, suite_stats
from sim.status import RERUN_ON_RESUME, Ending, Status
from sim.stop import StopRequest

__all__ = ["SUITE", "VIDEO_FILE", "RouteJob", "check_jobs", "is_suite", "plan_jobs", "run_jobs", "write_summary"]

logger = logging.getLogger("sim.suite")
SUITE = "suite"


def is_suite(spec: str) -> bool:
    """True for `suite` (the bundled suite) and for a directory of scenario files (a suite of your own)."""
    return spec == SUITE or Path(spec).is_dir()


def run_seeds(scenario: Any, seed: int | None = None, repeats: int = 1, seeds: Sequence[int] = ()) -> list[int | None]:
    """The seeds a route runs under: `seeds`, else `repeats` seeds counting up from `seed` (or the scenario's own;
    one repeat keeps None, "the scenario's own seed")."""
    if seeds:
        return list(seeds)
    if repeats == 1:
        return [seed]
    base = int(scenario.seed if seed is None else seed)
    return [base + k for k in range(repeats)]


def plan_jobs(
    spec: str, out_root: Path, seed: int | None = None, repeats: int = 1, seeds: Sequence[int] = ()
) -> list[RouteJob]:
    """Validate every scenario before anything is simulated (ScenarioError naming file and field); one job per
    route and seed."""
    if spec == SUITE:
        found = [(n, load_scenario(n), out_root / n) for n in list_suite()]
    elif Path(spec).is_dir():
        files = sorted(p for p in Path(spec).iterdir() if p.suffix in (".yaml", ".yml"))
        found = [(str(f), load_scenario(f), out_root / f.stem) for f in files]
        if not found:
            raise ScenarioError(spec, ["<directory>: no scenario files (*.yaml) in it"])
    else:
        found = [(spec, load_scenario(spec), out_root)]
    jobs = []
    for source, scenario, out_dir in found:
        route_seeds = run_seeds(scenario, seed, repeats, seeds)
        if len(route_seeds) == 1:
            jobs.append(RouteJob(source, scenario, out_dir, is_suite(spec), route_seeds[0], scenario.name))
            continue
        for s in route_seeds:
            jobs.append(RouteJob(source, scenario, out_dir / f"seed_{s}", True, s, f"{scenario.name} seed {s}"))
    return jobs


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
    log: Callable[[str], Any] | None = None,
    stop: StopRequest | None = None,
) -> list[dict[str, Any]]:
    """Drive every job (skipping finished ones when `config.resume`) on the configured engine; returns the routes'
    results in job order. A requested stop ends the running routes as "Interrupted" and starts no other; a worker
    that dies fails its route ("Failed - Simulation crashed", with the reason) and the others go on."""
    stop = stop or StopRequest()
    log = log or logger.info
    planner_factory(config.planner, planner_choice)  # unknown planner names and simulator keys are bad input ...
    backend_factory(config.sim)  # ... reported before any route starts
    servers = parse_servers(config.servers, config.sim) or None
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        done = finished_results(job.out_dir) if config.resume and job.resumable else None
        if done is None:
            todo.append(job)
            continue
        log(f"[skip] {job.name}: already finished ({done['status']}) in {job.out_dir}")
        results[job.key] = done
    workers = config.workers or (len(servers) if servers else None)
    planner_server = _start_planner_server(config, planner_choice, workers, len(todo), log)
    if planner_server is not None:  # the workers drive routes, the model lives here and batches their decisions
        workers = workers or planner_server.max_batch
        config = dataclasses.replace(config, planner=planner_server.client_config())
        planner_choice = None
    here = in_process(config.executor, workers, len(todo))
    progress = FanOutProgress(len(jobs), len(jobs) - len(todo), enabled=config.progress and len(jobs) > 1)
    say = log
    driver = RouteDriver(config, planner_choice) if here else None
    bad_config: list[str] = []

    def on_done(done: Done) -> None:
        job = by_key[done.key]
        if done.ok and CONFIG_ERROR in done.value:
            bad_config.append(done.value[CONFIG_ERROR])
            stop.request()
            return
        if not done.ok:
            if stop.requested:  # ended with the run: a rerun drives it again
                _mark_interrupted(job, done.error or "stopped")
                return
            done = Done(done.key, _mark_failed(job, config, done), None)
        results[job.key] = done.value
        _log_route(say, job, done.value)
        progress.finished(failed=str(done.value.get("status", "")).startswith("Failed"))

    by_key = {job.key: job for job in todo}
    task = functools.partial(drive_route, driver=driver) if driver else drive_route
    show_route_bar = here and config.progress
    tasks = [Task(job.key, (job, config, planner_choice, show_route_bar)) for job in todo]
    try:
        killed = fan_out(
            task,
            tasks,
            on_done,
            executor=config.executor,  # type: ignore[arg-type]
            workers=workers,
            ray=config.ray,
            stop=stop,
            slots=servers,
            pass_stop=True,
        )
        for key in killed:
            _mark_interrupted(by_key[key], "its worker was killed when the run stopped")
    finally:
        progress.close()
        if driver is not None:
            driver.close()
        if planner_server is not None:
            planner_server.close()
            log(f"planner server: {_describe(planner_server)}")
    if bad_config:
        raise ConfigError(bad_config[0])
    return [results[job.key] for job in jobs if job.key in results]


def _start_planner_server(
    config: RunRouteConfig, choice: str | None, workers: int | None, tasks: int, log: Callable[[str], Any]
) -> PlannerServer | None:
    """A planner server when `planner_server` asks for one, or (null) when the planner batches and routes run in
    parallel local workers. A planner that fails to build is left to the routes, which report it each."""
    wanted = config.planner_server
    max_batch = int(dict(config.planner).get("batch_size") or 8)
    if wanted is False or config.executor != "local" or tasks == 0:
        return None
    if wanted is None and not (
        planner_batches(config.planner, choice) and local_workers(workers or max_batch, tasks) > 1
    ):
        return None
    make_planner, privileged, name = planner_factory(config.planner, choice)
    if privileged:
        raise ConfigError(f"planner_server: {name} reads the ground truth (privileged); serve camera planners only")
    try:
        server = serve_planner(make_planner, max_batch)
    except ConfigError:
        raise
    except Exception as err:
        log(f"planner server: {name} could not be built ({type(err).__name__}: {err}); each route reports it")
        return None
    log(f"planner server: {name} serves up to {max_batch} routes in one batch")
    return server


def _describe(server: PlannerServer) -> str:
    stats = server.stats.as_dict()
    return (
        f"{stats['decisions']} decisions in {stats['rounds']} batches (mean width {stats['mean_batch']}), "
        f"{stats['planning_s']:.1f} s in the planner"
    )


def _log_route(say: Callable[[str], Any], job: RouteJob, results: dict[str, Any]) -> None:
    say(
        f"[{results['status']}] {job.name}: DS {results['driving_score']:.1f} "
        f"RC {results['route_completion']:.1f} IS {results['infraction_penalty']:.3f} -> {job.out_dir}"
    )
    error = results.get("error")
    if error:
        say(f"    {error['kind']}: {error['message']}")
    warning = fallback_warning(results.get("fallbacks", 0), (results.get("planner_latency_ms") or {}).get("count", 0))
    if warning:
        say(f"    warning: {warning}")
    retried = results.get("retried")
    if retried:
        say(f"    retried once after {retried['status']} ({retried['then']}): {retried['error']}")


def fallback_warning(fallbacks: int, decisions: int) -> str | None:
    """A warning when most decisions fell back to the safe action: the model's answers did not parse."""
    if decisions and fallbacks > decisions / 2:
        return (
            f"{fallbacks} of {decisions} decisions fell back to the safe action (the model's output did not parse); "
            "its text is under `raw` in each results.json's meta_actions"
        )
    return None


def _mark_interrupted(job: RouteJob, why: str) -> None:
    """A route the stop ended without its own verdict: partial results say "Interrupted" (a rerun drives it)."""
    results = read_results(job.out_dir / RESULTS_FILE)
    if results is None or results.get("status") != Status.RUNNING.value:
        return
    results.update(status=Status.INTERRUPTED.value, finished=False)
    results["error"] = {"kind": Ending.INTERRUPTED.value, "message": f"interrupted: {why}", "traceback": ""}
    write_json_atomic(job.out_dir / RESULTS_FILE, results)


def _mark_failed(job: RouteJob, config: RunRouteConfig, done: Done) -> dict[str, Any]:
    """Results for a route whose worker died or raised: what it had written so far, failed with the reason."""
    ending = Ending.WORKER_LOST if done.lost else Ending.WORKER_ERROR
    message = f"the route's {done.error}" if done.lost else f"the route's worker raised: {done.error}"
    message = message.strip()
    results = read_results(job.out_dir / RESULTS_FILE) or {
        "scenario": job.scenario.name,
        "scenario_source": job.source,
        "description": job.scenario.description,
        "tags": list(job.scenario.tags or []),
        "protocol": config.protocol,
        "route_completion": 0.0,
        "infraction_penalty": 1.0,
        "driving_score": 0.0,
        "collisions": 0,
        "infractions": [],
        "infraction_counts": {},
        "seed": job.seed if job.seed is not None else job.scenario.seed,
        "planner_latency_ms": {"count": 0},
    }
    results.update(status=Status.SIMULATION_CRASHED.value, finished=True, success=False)
    results["error"] = {"kind": ending.value, "message": message, "traceback": ""}
    write_json_atomic(job.out_dir / RESULTS_FILE, results)
    return results


def write_summary(out_root: Path, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summary = summarize(results)
    summary["scenarios"] = len({r.get("scenario") for r in results})
    summary["stats"] = suite_stats(results)
    summary["abilities"] = per_ability(results)
    summary["routes_detail"] = [
        {
            k: r.get(k)
            for k in (
                "scenario",
                "seed",
                "status",
                "driving_score",
                "route_completion",
                "infraction_penalty",
                "collisions",
            )
        }
        for r in results
    ]
    write_json_atomic(out_root / "summary.json", summary)
    (out_root / "summary.md").write_text(summary_markdown(results, summary), encoding="utf-8")
    write_report_or_warn(out_root, logger.info)
    return summary


def summary_markdown(results: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    rows = [
        "| scenario | seed | status | DS | RC | IS | collisions | infractions |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        counts = r.get("infraction_counts") or {}
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "-"
        rows.append(
            f"| {r['scenario']} | {r.get('seed', '-')} | {r['status']} | {r['driving_score']:.1f} | "
            f"{r['route_completion']:.1f} | {r['infraction_penalty']:.3f} | {r.get('collisions', 0)} | {listed} |"
        )
    if not results:
        return "\n".join(rows) + "\n"
    rows.append(
        f"| **mean** ({summary['routes']} routes, {summary['protocol']}) | | "
        f"success {100 * summary['success_rate']:.0f}% | "
        f"**{summary['driving_score']:.1f}** | {summary['route_completion']:.1f} | "
        f"{summary['infraction_penalty']:.3f} | {summary['collisions']} | |"
    )
    stats = summary.get("stats") or {}
    groups = [("all routes", stats.get("overall") or {})]
    if any(s["driving_score"]["n"] > 1 for s in (stats.get("per_scenario") or {}).values()):
        groups += sorted((stats.get("per_scenario") or {}).items())
    rows += [
        "",
        f"Mean [95% CI] ({stats.get('method', 'bootstrap')}):",
        "",
        "| | runs | DS | RC | IS | success (%) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in groups:
        if not s:
            continue
        rows.append(
            f"| {name} | {s['driving_score']['n']} | {format_interval(s['driving_score'])} | "
            f"{format_interval(s['route_completion'])} | {format_interval(s['infraction_penalty'], 3)} | "
            f"{format_interval(s['success_rate'], 0, 100.0)} |"
        )
    abilities = summary.get("abilities") or {}
    if abilities:
        rows += ["", "| ability (Bench2Drive) | routes | success | mean DS |", "|---|---:|---:|---:|"]
        for name, a in abilities.items():
            rows.append(f"| {name} | {a['routes']} | {100 * a['success_rate']:.0f}% | {a['driving_score']:.1f} |")
    return "\n".join(rows) + "\n"

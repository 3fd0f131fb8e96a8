"""Pieces the fan-out tests hand to worker processes (spawned pool workers and Ray workers import them by name):
task functions for the engine, and a planner builder (a `_target_` for run_route) that logs every build and can
kill its own process once, mid-route, as an out-of-memory kill would."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from planner.expert import build_expert_planner
from planner.interface import Plan, PlannerContext, PlannerInput, start_route
from sim.stop import StopRequest

INITIALISED: list[int] = []  # per worker process: how often `initialise` ran in it


def initialise(log: str) -> None:
    INITIALISED.append(os.getpid())
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")


def report(key: str, *, stop: StopRequest) -> dict[str, Any]:
    """Who ran the task, and how often its process was initialised."""
    return {"key": key, "pid": os.getpid(), "initialised": len(INITIALISED)}


def die_on(key: str, doomed: str, *, stop: StopRequest) -> dict[str, Any]:
    """Kills its own process for the `doomed` key (after a moment, so other tasks are under way)."""
    if key == doomed:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    return {"key": key, "pid": os.getpid()}


def raise_on(key: str, doomed: str, *, stop: StopRequest) -> str:
    if key == doomed:
        raise RuntimeError(f"task {key} exploded")
    return key


def hold(key: str, log: str, seconds: float, *, slot: Any, stop: StopRequest) -> str:
    """Holds `slot` for `seconds` (or until stopped), logging when it took and released it."""
    started = time.time()
    stop.wait(seconds)
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps({"key": key, "slot": slot, "start": started, "end": time.time()}) + "\n")
    return key


def until_stopped(key: str, log: str, *, stop: StopRequest) -> dict[str, Any]:
    """Runs until its stop request arrives (at most 60 s), looking at it between steps of work as the closed-loop
    runner does between ticks; says whether it came. (A Ray cancel raises no EINTR: a wait blocked in the kernel
    would see it only when it returned.)"""
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{key}\n")
    deadline = time.monotonic() + 60.0
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = stop.requested
    return {"key": key, "stopped": stopped, "reason": stop.reason() if stopped else None}


def ignore_stop(key: str, *, stop: StopRequest) -> str:
    """Does not honour its stop request: the driver must kill it after the grace period."""
    time.sleep(60.0)
    return key


class Instrumented:
    """Wraps a planner: sleeps `slow_s` per decision (a slow model, without loading the CPU), and on the
    `kill_at`-th decision of route `die_on` SIGKILLs its own process, once (a marker file remembers it, so a rerun
    drives that route normally); that route's decisions take 0.1 s, so its partial results are on disk by then."""

    def __init__(self, planner: Any, marker: Path, die_on: str | None = None, slow_s: float = 0.0) -> None:
        self.planner, self.name = planner, planner.name
        self.marker, self.die_on, self.slow_s = marker, die_on, slow_s
        self.kill_at = 6
        self.route, self.calls = "", 0

    def start_route(self, context: PlannerContext) -> None:
        self.route, self.calls = context.scenario, 0
        start_route(self.planner, context)

    def plan(self, planner_input: PlannerInput) -> Plan:
        self.calls += 1
        doomed = self.route == self.die_on and not self.marker.exists()
        if doomed and self.calls == self.kill_at:
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.1 if doomed else self.slow_s)
        return self.planner.plan(planner_input)


def build_logged_expert(config: dict[str, Any]) -> Any:
    """The expert, every build logged (its pid) to `log`, wrapped in `Instrumented` (`die_on`, `slow_s`)."""
    values = dict(config)
    log = Path(values.pop("log"))
    die_on, slow_s = values.pop("die_on", None), float(values.pop("slow_s", 0.0))
    with log.open("a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    return Instrumented(build_expert_planner(values), log.with_suffix(".killed"), die_on, slow_s)


# ---- the driver's side: a small suite through run_route, a worker killed mid-route, an interrupt, a resume -----

REPO = Path(__file__).resolve().parents[2]
FAST = ["progress=false", "video.enabled=false", "sim.render=false", "results_every_s=0.2"]
ROUTES = ("road_a", "road_b", "road_c")


def write_suite(folder: Path, length_m: float = 40.0) -> Path:
    from closed_loop_helpers import write_scenario

    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(ROUTES):
        route = {"maneuvers": ["straight"], "length_m": length_m}
        write_scenario(folder, name=name, seed=3 + i, route=route, criteria={"timeout_s": 10 + length_m / 2})
    return folder


def planner_overrides(log: Path, die_on: str | None = None, slow_s: float = 0.0) -> list[str]:
    out = ["+planner._target_=fanout_helpers:build_logged_expert", "+planner._privileged_=true", f"+planner.log={log}"]
    if die_on:
        out.append(f"+planner.die_on={die_on}")
    if slow_s:
        out.append(f"+planner.slow_s={slow_s}")
    return out


def run_route(*overrides: str) -> int:
    from hydra import compose, initialize_config_dir

    from sim.run_route import drive

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run_route", overrides=[*FAST, *overrides])
    return drive(cfg)


def all_results(out: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.relative_to(out).as_posix(): json.loads(p.read_text()) for p in out.glob("**/results.json")}


def check_kill_then_resume(tmp_path: Path, capsys: Any, *engine: str) -> dict[str, Any]:
    """Three routes x two seeds; the worker driving road_b's first seed is SIGKILLed on its 4th decision. That
    route alone fails, with the reason; the rest drive; the summary carries intervals over routes and seeds; every
    process that drove built the planner once. The rerun drives only the killed route. Returns what it saw."""
    from sim.run_route import EXIT_NOT_DRIVEN, EXIT_OK

    suite, out, log = write_suite(tmp_path / "suite"), tmp_path / "out", tmp_path / "builds.log"
    args = [f"scenario={suite}", "repeats=2", f"output_dir={out}", *planner_overrides(log, die_on="road_b"), *engine]
    assert run_route(*args) == EXIT_NOT_DRIVEN, capsys.readouterr()
    results = all_results(out)
    assert sorted(results) == [f"{r}/seed_{s}" for i, r in enumerate(ROUTES) for s in (3 + i, 4 + i)]
    crashed = {k: r for k, r in results.items() if r["status"] != "Perfect"}
    assert list(crashed) in (["road_b/seed_4"], ["road_b/seed_5"]), crashed
    killed = next(iter(crashed.values()))
    assert killed["status"] == "Failed - Simulation crashed" and killed["error"]["kind"] == "worker_lost"
    assert len(killed["meta_actions"]) >= 2 and killed["duration_s"] > 0  # killed mid-route: what it had written
    builds = log.read_text().split()
    assert len(builds) == len(set(builds)) >= 2  # one planner per worker process, a fresh one after the kill
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["stats"]["overall"]["driving_score"]
    assert summary["routes"] == 6 and summary["scenarios"] == 3 and overall["n"] == 6
    assert overall["ci95"][0] < overall["mean"] < overall["ci95"][1] == 100.0
    assert summary["stats"]["per_scenario"]["road_a"]["driving_score"] == {
        "mean": 100.0, "std": 0.0, "ci95": [100.0, 100.0], "n": 2,
    }  # fmt: skip
    capsys.readouterr()

    assert run_route(*args) == EXIT_OK
    log_text = capsys.readouterr().out
    assert log_text.count("[skip]") == 5 and "[Perfect] road_b seed" in log_text
    again = all_results(out)
    assert all(r["status"] == "Perfect" for r in again.values())
    assert {k: v for k, v in again.items() if k not in crashed} == {
        k: v for k, v in results.items() if k not in crashed
    }
    return {"killed": killed, "builds": builds}


def check_interrupt_then_resume(processes: Any, tmp_path: Path, *engine: str, limit_s: float = 30.0) -> float:
    """A slowed suite, Ctrl-C'd (SIGINT to its whole process group, as a terminal sends it) once two routes are
    under way: it exits 130 within `limit_s`, those routes say "Interrupted" (nothing else started), no process of
    it is left, and a rerun (on local workers) drives exactly what was not finished. Returns the seconds from SIGINT
    to exit."""
    import subprocess
    import sys

    suite, out, log = write_suite(tmp_path / "suite", length_m=120.0), tmp_path / "out", tmp_path / "builds.log"
    cmd = [sys.executable, "sim/run_route.py", f"scenario={suite}", f"output_dir={out}", "workers=2", *FAST, *engine,
           f"hydra.run.dir={tmp_path / 'hydra'}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # the planner builder below, for every worker
    proc = processes.start([*cmd, *planner_overrides(log, slow_s=0.05)], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env)  # fmt: skip
    deadline = time.monotonic() + 120
    while sum(r["status"] == "Running" and r["duration_s"] >= 2.0 for r in all_results(out).values()) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"two routes never ran at once: {output[-3000:]}")
        time.sleep(0.05)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        code = proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"no exit within {limit_s} s of SIGINT") from None
    elapsed = time.monotonic() - sent
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert code == 130, output[-3000:]
    statuses = {k: r["status"] for k, r in all_results(out).items()}
    assert sorted(statuses.values()) == ["Interrupted", "Interrupted"], statuses
    deadline = time.monotonic() + 15
    while _group_alive(proc.pid):
        assert time.monotonic() < deadline, "processes of the interrupted run are still alive"
        time.sleep(0.2)
    rerun = [c for c in cmd if c not in engine] + ["executor=local"]  # a resume needs no particular engine
    done = processes.run(rerun + planner_overrides(log), timeout=300, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[skip]" not in done.stdout  # nothing had finished: every route is driven now
    assert sorted(r["status"] for r in all_results(out).values()) == ["Perfect"] * 3
    return elapsed


def _group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is left in the process group."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False

"""Our agent and our driving score against the real evaluator code, when a checkout is named:

    LEADERBOARD_ROOT=<leaderboard checkout>  SCENARIO_RUNNER_ROOT=<scenario_runner checkout, same branch>
    BENCH2DRIVE_ROOT=<Bench2Drive checkout>  (it carries its own leaderboard/ and scenario_runner/)
    CARLA_ROOT=<CARLA>                       (their code imports CARLA's PythonAPI `agents` package)

Their packages come from their requirements, e.g.
    uv run --with py_trees==0.8.3 --with dictor --with six --with pexpect --with transforms3d --with requests \\
        --with networkx pytest -m leaderboard tests/sim/conformance

Each check runs in a process of its own (tests/sim/conformance/evaluator_harness.py) and is killed at its timeout.
Without a checkout, or without their packages, the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.core import Infraction, InfractionType
from sim.metrics import RouteScore
from sim.protocols import get_protocol
from sim.status import Status, final_status

pytestmark = pytest.mark.leaderboard
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))
from evaluator_harness import CASES  # noqa: E402

sys.path.insert(0, str(HERE.parent / "carla_backend"))
from xodr_town import t_junction_xodr  # noqa: E402

THEIR_TYPES = {
    "COLLISION_VEHICLE": InfractionType.COLLISION_VEHICLE,
    "COLLISION_PEDESTRIAN": InfractionType.COLLISION_PEDESTRIAN,
    "COLLISION_STATIC": InfractionType.COLLISION_STATIC,
    "TRAFFIC_LIGHT_INFRACTION": InfractionType.RED_LIGHT,
    "STOP_INFRACTION": InfractionType.STOP_SIGN,
    "SCENARIO_TIMEOUT": InfractionType.SCENARIO_TIMEOUT,
    "OUTSIDE_ROUTE_LANES_INFRACTION": InfractionType.OUTSIDE_ROUTE_LANES,
    "MIN_SPEED_INFRACTION": InfractionType.MIN_SPEED,
    "YIELD_TO_EMERGENCY_VEHICLE": InfractionType.YIELD_EMERGENCY_VEHICLE,
    "VEHICLE_BLOCKED": InfractionType.BLOCKED,
}
# How each constructed route ended in our runner's words (their status follows from the events and the timeout).
OUR_STATUS = {
    "clean": Status.COMPLETED,
    "collisions": Status.COMPLETED,
    "route timeout": Status.AGENT_TIMED_OUT,
    "outside lanes 22 m of 200": Status.COMPLETED,
    "min speed 50 %": Status.COMPLETED,
    "yield to emergency vehicle": Status.COMPLETED,
    "blocked": Status.BLOCKED,
}


def checkout(kind: str) -> list[str]:
    """The Python path for a checkout, or a skip naming the variable to set."""
    if kind == "leaderboard":
        lb, sr = os.environ.get("LEADERBOARD_ROOT"), os.environ.get("SCENARIO_RUNNER_ROOT")
        if not lb or not sr:
            pytest.skip("set LEADERBOARD_ROOT and SCENARIO_RUNNER_ROOT to leaderboard / scenario_runner checkouts")
        paths = [lb, sr]
    else:
        root = os.environ.get("BENCH2DRIVE_ROOT")
        if not root:
            pytest.skip("set BENCH2DRIVE_ROOT to a Bench2Drive checkout")
        paths = [str(Path(root) / "leaderboard"), str(Path(root) / "scenario_runner")]
    missing = [p for p in paths if not Path(p).is_dir()]
    if missing:
        pytest.skip(f"checkout folder(s) not found: {missing}")
    carla_root = os.environ.get("CARLA_ROOT")
    if carla_root:
        paths.append(str(Path(carla_root) / "PythonAPI" / "carla"))
    return paths


def run_harness(paths: list[str], args: dict[str, Any], timeout_s: float = 300.0) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(REPO)])}
    if "save_path" in args:
        env["SAVE_PATH"] = args["save_path"]
    proc = subprocess.run(  # killed at the timeout
        [sys.executable, str(HERE / "evaluator_harness.py"), json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        cwd=str(REPO),
    )
    if "ModuleNotFoundError" in proc.stderr:
        line = next(ln for ln in proc.stderr.splitlines() if "ModuleNotFoundError" in ln)
        hint = "CARLA_ROOT (PythonAPI agents)" if "'agents'" in line else "their requirements (see this file's header)"
        pytest.skip(f"{line.strip()}: install or point to {hint}")
    results = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and results, proc.stderr[-4000:]
    return json.loads(results[-1][len("RESULT ") :])


@pytest.mark.parametrize("kind", ["leaderboard", "bench2drive"])
def test_driving_score_matches_their_statistics_manager(kind: str) -> None:
    theirs = run_harness(checkout(kind), {"mode": "statistics"})
    protocol = get_protocol(kind if kind == "bench2drive" else theirs.pop("_protocol", "leaderboard-2.0"))
    theirs.pop("_protocol", None)
    assert set(theirs) == set(CASES)
    for name, case in CASES.items():
        events = [Infraction(THEIR_TYPES[t], 1.0, (0.0, 0.0), details=dict(d)) for t, d in case["events"]]
        if case.get("timeout"):
            events.append(Infraction(InfractionType.ROUTE_TIMEOUT, 1.0, (0.0, 0.0)))
        ours = RouteScore.compute(case["route"] * 100.0, 10_000.0, events, protocol)  # a 10 km route
        their = theirs[name]
        assert ours.route_completion == pytest.approx(their["score_route"]), name
        assert ours.infraction_penalty == pytest.approx(their["score_penalty"], abs=1e-6), name
        assert ours.driving_score == pytest.approx(their["score_composed"], abs=1e-4), name
        if name in OUR_STATUS:
            assert final_status(OUR_STATUS[name], len(events)).value == their["status"], name


def agent_config(tmp_path: Path, track: str) -> str:
    path = tmp_path / "agent.yaml"
    planner = {"name": "constant", "speed": "ACCELERATE", "path": "STRAIGHT"}
    path.write_text(yaml.safe_dump({"planner": planner, "track": track}), encoding="utf-8")
    return str(path)


RUNS = {
    "leaderboard-SENSORS": ("leaderboard", "SENSORS", "leaderboard"),
    "leaderboard-MAP": ("leaderboard", "MAP", "leaderboard"),
    "leaderboard-SENSORS-gnss-0.9.16": ("leaderboard", "SENSORS", "carla-0.9.16"),
    "bench2drive-SENSORS": ("bench2drive", "SENSORS", "leaderboard"),
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_agent_drives_inside_their_evaluator_code(run: str, tmp_path: Path) -> None:
    kind, track, gnss = RUNS[run]
    xodr = tmp_path / "town.xodr"
    xodr.write_text(t_junction_xodr(), encoding="utf-8")
    args: dict[str, Any] = {
        "mode": "agent",
        "agent": str(REPO / "sim" / "leaderboard_agent.py"),
        "agent_config": agent_config(tmp_path, track),
        "track": track,
        "gnss": gnss,
        "xodr": str(xodr),
        "ticks": 160,
    }
    if kind == "bench2drive":
        args |= {"save_name": "RouteScenario_0_rep0_Town_T_0_route", "save_path": str(tmp_path / "eval")}
    result = run_harness(checkout(kind), args)
    assert result["track"] == track and "sensor.speedometer" in result["sensors"]
    assert result["full_brakes"] == 0, result
    assert result["nearest_route_index"] > 20 and result["speed"] > 3.0, result  # it drove along the route
    # the route runs 1.75 m off the equator line (y = 0), where both readings lie near it: the nearer one is used
    assert result["gnss_convention"] == ("flipped_latitude" if gnss == "carla-0.9.16" else "leaderboard")
    if track == "MAP":
        assert result["map_built"], "the OpenDRIVE map never reached the agent"
    if kind == "bench2drive":
        metric = json.loads((tmp_path / "eval" / args["save_name"] / "metric_info.json").read_text())
        assert len(metric) == args["ticks"] and set(metric["0"]) == {
            "acceleration", "angular_velocity", "forward_vector", "right_vector", "location", "rotation"
        }  # fmt: skip

"""run_route.py: bad input stops before any simulation with a clear message, suites summarise and resume, planners
are found by registry or `_target_`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from closed_loop_helpers import write_scenario
from hydra import compose, initialize_config_dir
from process_helpers import Processes

from planner.config import ConfigError
from sim.builders import PLANNERS, load_run_config, planner_factory
from sim.run_route import EXIT_BAD_INPUT, EXIT_NOT_DRIVEN, EXIT_OK, drive

REPO = Path(__file__).resolve().parents[2]
FAST = ["progress=false", "video.enabled=false", "sim.render=false", "results_every_s=0.5"]


def run(*overrides: str) -> int:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run_route", overrides=[*FAST, *overrides])
    return drive(cfg)


def test_invalid_scenario_file_exits_2_before_simulating(processes: Processes, tmp_path: Path) -> None:
    bad = write_scenario(tmp_path, actors=[{"kind": "spaceship", "at": {"s": 10}}])
    out = tmp_path / "out"
    done = processes.run(
        [sys.executable, "sim/run_route.py", f"scenario={bad}", f"output_dir={out}", f"hydra.run.dir={tmp_path / 'h'}"],
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert str(bad) in done.stderr and "actors[0].kind" in done.stderr
    assert not out.exists()  # nothing was simulated or written


def test_missing_route_and_actor_beyond_route_are_rejected_with_their_fields(tmp_path: Path, capsys) -> None:
    no_route = write_scenario(tmp_path, name="no_route")
    text = no_route.read_text().replace("route:", "old_route:")
    no_route.write_text(text)
    assert run(f"scenario={no_route}", f"output_dir={tmp_path / 'a'}") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(no_route) in err and "route" in err and not (tmp_path / "a").exists()

    beyond = write_scenario(tmp_path, name="beyond", actors=[{"kind": "cone", "at": {"s": 500}}])
    assert run(f"scenario={beyond}", f"output_dir={tmp_path / 'b'}") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{beyond}: actors[0].at.s: must be within the route length" in err
    assert not (tmp_path / "b").exists()  # found before anything was simulated


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"maneuvers": ["straight", "straight"]}, "no junction on this map lets a route go straight through it"),
        ({"maneuvers": ["left", "left", "left", "right", "right"]}, "fits at most"),
        ({"start": [45.0, -1.75, 0.0], "maneuvers": ["straight"]}, "no straight turn at the junction near"),
    ],
)
def test_an_unplannable_route_is_bad_input_naming_file_field_and_why(
    processes: Processes, tmp_path: Path, route: dict, expected: str
) -> None:
    two_by_two = {"name": "grid", "rows": 2, "cols": 2, "lanes": 1, "block_m": 90}  # corners only: no straight on
    bad = write_scenario(tmp_path, name="two_by_two", map=two_by_two, route=route)
    out = tmp_path / "out"
    done = processes.run(
        [sys.executable, "sim/run_route.py", f"scenario={bad}", f"output_dir={out}", f"hydra.run.dir={tmp_path / 'h'}"],
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: route: ") and expected in lines[0], lines
    assert "Traceback" not in done.stderr and not out.exists()


def test_unknown_config_keys_are_rejected(tmp_path: Path, capsys) -> None:
    scenario, out = write_scenario(tmp_path), f"output_dir={tmp_path / 'out'}"
    assert run(f"scenario={scenario}", out, "+video.fsp=3") == EXIT_BAD_INPUT
    assert "fsp" in capsys.readouterr().err
    assert run(f"scenario={scenario}", out, "planner=constant", "+planner.sped=STOP") == EXIT_BAD_INPUT
    assert "sped" in capsys.readouterr().err
    assert run(f"scenario={scenario}", out, "+sim.dtt=0.1") == EXIT_BAD_INPUT
    capsys.readouterr()
    assert run(f"scenario={scenario}", out, "protocol=leaderboard-3.0") == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "protocol must be one of" in err and "leaderboard-3.0" in err
    assert not (tmp_path / "out").exists()


def test_single_run_writes_results_and_video(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    out = tmp_path / "out"
    assert (
        run(f"scenario={scenario}", "planner=expert", f"output_dir={out}", "video.enabled=true", "progress=true")
        == EXIT_OK
    )
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "Perfect" and results["planner"] == "expert" and results["video"] == "review.mp4"
    assert results["protocol"] == "leaderboard-2.0"
    assert (out / "review.mp4").stat().st_size > 0


def test_suite_summarises_and_resumes_without_redoing_finished_routes(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    write_scenario(suite, name="road_a")
    write_scenario(suite, name="road_b", seed=4)
    out = tmp_path / "out"
    assert run(f"scenario={suite}", "planner=expert", f"output_dir={out}") == EXIT_OK
    summary = json.loads((out / "summary.json").read_text())
    assert summary["routes"] == 2 and summary["success_rate"] == 1.0 and summary["driving_score"] == 100.0
    table = (out / "summary.md").read_text()
    assert "| road_a | 3 | Perfect | 100.0 |" in table and "**mean** (2 routes, leaderboard-2.0)" in table
    assert summary["protocol"] == "leaderboard-2.0"

    # road_b was interrupted last time: only it runs again
    finished_a = (out / "road_a" / "results.json").read_text()
    b = json.loads((out / "road_b" / "results.json").read_text())
    b["status"] = "Interrupted"
    (out / "road_b" / "results.json").write_text(json.dumps(b))
    capsys.readouterr()
    assert run(f"scenario={suite}", "planner=expert", f"output_dir={out}") == EXIT_OK
    log = capsys.readouterr().out
    assert "[skip] road_a" in log and "[Perfect] road_b" in log
    assert (out / "road_a" / "results.json").read_text() == finished_a
    assert json.loads((out / "road_b" / "results.json").read_text())["status"] == "Perfect"


def test_a_planner_that_cannot_be_built_is_not_driven(tmp_path: Path, capsys) -> None:
    scenario = write_scenario(tmp_path)
    target = "+planner._target_=closed_loop_helpers:missing_checkpoint_planner"
    assert run(f"scenario={scenario}", "planner=constant", target, f"output_dir={tmp_path}") == EXIT_NOT_DRIVEN
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "Failed - Agent couldn't be set up" and "/ckpt/step-100" in results["error"]["message"]
    # a builder that cannot even be found is a configuration error
    nowhere = "+planner._target_=planner.nowhere:build"
    assert run(f"scenario={scenario}", "planner=constant", nowhere, f"output_dir={tmp_path / 'x'}") == EXIT_BAD_INPUT
    assert "planner.nowhere" in capsys.readouterr().err


def test_planners_come_from_the_registry_or_a_target() -> None:
    assert {"expert", "constant", "vlm"} <= set(PLANNERS)
    factory, privileged, name = planner_factory({"name": "vlm", "model": "x"}, "vlm")
    assert (privileged, name) == (False, "vlm")
    factory, privileged, name = planner_factory({"name": "expert"}, None)
    assert privileged and factory().name == "expert"
    factory, privileged, name = planner_factory(
        {"_target_": "planner.constant.build_constant_planner", "name": "always_stop", "speed": "STOP"}
    )
    planner = factory()
    assert (name, planner.name, str(planner.action), privileged) == (
        "always_stop",
        "always_stop",
        "STOP, STRAIGHT",
        False,
    )
    with pytest.raises(ConfigError, match="no registered planner"):
        planner_factory({"name": "mystery"})


def test_run_config_is_typed() -> None:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = load_run_config(compose("run_route", overrides=["planner=constant", "video.every_n_ticks=4"]))
    assert cfg.video.every_n_ticks == 4 and cfg.controller.lateral == "pure_pursuit" and cfg.sim["name"] == "embedded"


@pytest.mark.slow
def test_hydra_multirun_runs_each_scenario(processes: Processes, tmp_path: Path) -> None:
    a, b = write_scenario(tmp_path, name="road_a"), write_scenario(tmp_path, name="road_b")
    done = processes.run(
        [sys.executable, "sim/run_route.py", "-m", f"scenario={a},{b}", "planner=expert", *FAST,
         f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    statuses = sorted(json.loads(p.read_text())["scenario"] for p in (tmp_path / "sweep").glob("*/results.json"))
    assert statuses == ["road_a", "road_b"]


def test_fallbacks_keep_the_model_text_are_counted_and_warned_about(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    write_scenario(suite, name="road_a", criteria={"timeout_s": 3})
    target = "+planner._target_=closed_loop_helpers:babbling_planner"
    out = tmp_path / "out"
    assert run(f"scenario={suite}", "planner=constant", target, f"output_dir={out}") == EXIT_OK
    err = capsys.readouterr().err
    assert "warning: 6 of 6 decisions fell back to the safe action" in err and "`raw`" in err
    timeline = json.loads((out / "road_a" / "results.json").read_text())["meta_actions"]
    assert timeline and all(e["raw"] == "the road, the road, the road" and e["fallback"] for e in timeline)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fallbacks"] == summary["decisions"] == 6

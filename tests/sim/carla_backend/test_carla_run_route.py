"""run_route.py with sim=carla and no server: a clear failure naming host and port, within the timeout; suites go
on past an unreachable server and rerun those routes on resume; maps of the embedded generator are bad input."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from process_helpers import Processes

from sim.run_route import EXIT_BAD_INPUT, EXIT_NOT_DRIVEN, drive

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "town03_straight.yaml"
FAST = ["progress=false", "video.enabled=false", "planner=constant", "sim=carla", "sim.host=127.0.0.1"]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*overrides: str) -> int:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run_route", overrides=[*FAST, *overrides])
    return drive(cfg)


def test_no_server_exits_nonzero_within_the_timeout_naming_host_and_port(processes: Processes, tmp_path: Path) -> None:
    port, timeout_s = unused_port(), 2.0
    out = tmp_path / "out"
    started = time.monotonic()
    done = processes.run(
        [
            sys.executable,
            "sim/run_route.py",
            *FAST,
            f"scenario={SCENARIO}",
            f"sim.port={port}",
            f"sim.timeout_s={timeout_s}",
            f"output_dir={out}",
            f"hydra.run.dir={tmp_path / 'h'}",
        ],
        cwd=REPO,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    text = done.stdout + done.stderr
    assert done.returncode == EXIT_NOT_DRIVEN, text
    # Two attempts (a crashed server's route is retried once) plus start-up, far below the 2 x 20 s the default
    # timeout would take: the configured timeout is what bounds the wait.
    assert elapsed < 2 * timeout_s + 20.0, f"took {elapsed:.1f} s"
    assert f"127.0.0.1:{port}" in text and "no CARLA server answered" in text
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "Failed - Simulation crashed" and results["ticks"] == 0
    assert f"127.0.0.1:{port}" in results["error"]["message"]


def test_a_suite_goes_on_past_an_unreachable_server_and_reruns_those_routes(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    for name in ("first_route", "second_route"):
        text = SCENARIO.read_text().replace("name: town03_straight", f"name: {name}")
        (suite / f"{name}.yaml").write_text(text)
    args = [f"scenario={suite}", f"sim.port={unused_port()}", "sim.timeout_s=1", f"output_dir={tmp_path / 'o'}"]
    assert run(*args) == EXIT_NOT_DRIVEN
    log = capsys.readouterr().out
    assert log.count("[Failed - Simulation crashed]") == 2 and "no CARLA server answered" in log
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["routes"] == 2
    assert run(*args) == EXIT_NOT_DRIVEN  # resume: crashed routes are driven again, not skipped
    assert "[skip]" not in capsys.readouterr().out


def test_a_generated_map_on_carla_is_bad_input_before_connecting(tmp_path: Path, capsys) -> None:
    grid = shutil.copy(REPO / "scenarios" / "suite" / "red_light_stop.yaml", tmp_path / "red_light_stop.yaml")
    started = time.monotonic()
    assert run(f"scenario={grid}", f"sim.port={unused_port()}", f"output_dir={tmp_path / 'o'}") == EXIT_BAD_INPUT
    assert time.monotonic() - started < 5.0  # no connection attempt
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["status"] == "Failed - Invalid scenario" and "CARLA town" in results["error"]["message"]


def test_a_config_typo_names_the_key(tmp_path: Path, capsys) -> None:
    # Bad input: exit 2 before any route starts, naming the key.
    assert run(f"scenario={SCENARIO}", "+sim.hots=10.0.0.1", f"output_dir={tmp_path / 'o'}") == 2
    assert "unknown key(s) ['hots']" in capsys.readouterr().err

"""Against a real CARLA 0.9.15/0.9.16 server: run with CARLA_HOST (and CARLA_PORT, CARLA_TM_PORT) set, e.g.

    CARLA_HOST=127.0.0.1 CARLA_PORT=2000 uv run pytest -m carla tests/sim/carla_backend

Skipped without CARLA_HOST (tests/conftest.py). Each test leaves the server asynchronous and free of our actors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import carla
import numpy as np
import pytest
from process_helpers import Processes

from sim.carla_backend.agent import AgentConfig, sensor_specs
from sim.carla_backend.backend import CarlaBackend
from sim.carla_backend.blueprints import BLUEPRINTS
from sim.carla_backend.session import town_name
from sim.carla_backend.weather import WEATHER_TABLE, weather_parameters
from sim.core import VehicleControl

pytestmark = pytest.mark.carla
REPO = Path(__file__).resolve().parents[3]
SCENARIO = Path(__file__).resolve().parent / "town03_straight.yaml"


def server() -> dict:
    return {
        "host": os.environ.get("CARLA_HOST", "127.0.0.1"),
        "port": int(os.environ.get("CARLA_PORT", "2000")),
        "tm_port": int(os.environ.get("CARLA_TM_PORT", "8000")),
        "timeout_s": 60.0,
    }


def client() -> carla.Client:
    cfg = server()
    c = carla.Client(cfg["host"], cfg["port"])
    c.set_timeout(cfg["timeout_s"])
    return c


def assert_server_released() -> None:
    world = client().get_world()
    assert not world.get_settings().synchronous_mode
    roles = [a.attributes.get("role_name", "") for a in world.get_actors()]
    assert not [r for r in roles if r in ("hero", "background") or r.startswith("scenario_")]


def test_a_route_loads_steps_observes_and_gives_the_server_back() -> None:
    backend = CarlaBackend(**server(), camera={"width": 160, "height": 90})
    try:
        backend.load(SCENARIO, seed=0)
        assert town_name(backend.carla_world.get_map().name) == "Town03"
        assert backend.carla_world.get_settings().synchronous_mode
        for _ in range(20):
            backend.step(VehicleControl(brake=1.0))
        obs = backend.observe()
        assert obs.image.shape == (90, 160, 3) and obs.image.std() > 1.0
        world = backend.ground_truth()
        assert world.time == pytest.approx(1.0) and world.ego_lane_id is not None
        assert world.route.length > 40.0 and abs(world.ego.speed) < 0.5
        assert world.lights and backend.road_map.locate(world.ego.x, world.ego.y, world.ego.yaw) is not None
    finally:
        backend.close()
    assert_server_released()


def test_run_route_drives_a_town03_route_with_the_expert(processes: Processes, tmp_path: Path) -> None:
    cfg = server()
    done = processes.run(
        [
            sys.executable,
            "sim/run_route.py",
            "sim=carla",
            f"scenario={SCENARIO}",
            "planner=expert",
            f"sim.host={cfg['host']}",
            f"sim.port={cfg['port']}",
            f"sim.tm_port={cfg['tm_port']}",
            "sim.render=false",
            "video.enabled=false",
            "progress=false",
            f"output_dir={tmp_path / 'out'}",
            f"hydra.run.dir={tmp_path / 'h'}",
        ],
        cwd=REPO,
        timeout=600,
    )
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert results["status"] in ("Perfect", "Completed") and results["route_completion"] == pytest.approx(100.0)
    assert_server_released()


def test_weather_presets_and_blueprints_exist_on_the_server() -> None:
    world = client().get_world()
    before = world.get_weather()
    try:
        for name in WEATHER_TABLE:
            world.set_weather(weather_parameters(name))
            assert world.get_weather().cloudiness == pytest.approx(weather_parameters(name).cloudiness, abs=1e-3)
    finally:
        world.set_weather(before)
    library = world.get_blueprint_library()
    for kind, candidates in BLUEPRINTS.items():
        assert any(list(library.filter(c)) for c in candidates), kind
    for spec in sensor_specs(AgentConfig()):
        if spec["type"].startswith("sensor.other") or spec["type"] == "sensor.camera.rgb":
            assert list(library.filter(spec["type"])), spec["type"]
    assert np.isfinite(before.sun_altitude_angle)

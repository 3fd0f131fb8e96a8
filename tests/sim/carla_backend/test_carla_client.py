"""CARLA config, connection faults, version checks and cleanup bookkeeping, without a server."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from planner.config import ConfigError
from sim.carla_backend.backend import CarlaBackend
from sim.carla_backend.client import (
    CarlaConnectionError,
    CarlaServerLost,
    CarlaVersionError,
    check_versions,
    connect,
    release,
    server_calls,
)
from sim.carla_backend.config import CarlaConfig, carla_config
from sim.carla_backend.session import CarlaSession, leftover_ids, town_name

REPO = Path(__file__).resolve().parents[3]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_hydra_file_is_exactly_the_typed_config() -> None:
    data = yaml.safe_load((REPO / "conf" / "sim" / "carla.yaml").read_text())
    assert data.pop("name") == "carla"
    config = carla_config(data)
    assert config.camera.width == 480 and config.dt == 0.05 and config.address == "127.0.0.1:2000"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hots": "x"}, "unknown key"),
        ({"port": 0}, "TCP port"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"dt": 0.5}, "dt"),
        ({"weather": "snow"}, "weather"),
        ({"no_rendering_mode": True}, "render: false"),
        ({"camera": {"fov_deg": 200}}, "fov_deg"),
        ({"version_check": "maybe"}, "strict, warn or off"),
    ],
)
def test_bad_config_is_rejected_with_the_field(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        carla_config(values)


def test_backend_construction_only_validates() -> None:
    backend = CarlaBackend(port=unused_port(), timeout_s=1.0, camera={"width": 64, "height": 48})
    assert backend.dt == 0.05 and backend.camera.width == 64
    backend.close()  # safe before load
    assert backend.events() == []
    with pytest.raises(RuntimeError, match="load"):
        backend.observe()
    with pytest.raises(ConfigError, match="valid keys"):
        CarlaBackend(hots="x")


def test_unreachable_server_fails_within_the_timeout_naming_host_and_port() -> None:
    port = unused_port()
    config = CarlaConfig(port=port, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(CarlaConnectionError) as info:
        connect(config)
    assert time.monotonic() - started < 4.0
    assert f"127.0.0.1:{port}" in str(info.value) and "carla-rpc-port" in str(info.value)


def test_a_failed_restart_says_so() -> None:
    config = CarlaConfig(port=unused_port(), timeout_s=0.5, restart_command="true", restart_wait_s=0.5)
    with pytest.raises(CarlaConnectionError, match="after a restart"):
        connect(config)


def test_backend_load_connects_and_fails_cleanly(tmp_path: Path) -> None:
    port = unused_port()
    backend = CarlaBackend(port=port, timeout_s=1.0)
    with pytest.raises(CarlaConnectionError, match=f"127.0.0.1:{port}"):
        backend.load(REPO / "tests" / "sim" / "carla_backend" / "town03_straight.yaml", 0)
    backend.close()


@pytest.mark.parametrize(
    ("server", "mode", "outcome"),
    [
        ("0.9.16", "strict", None),
        ("0.9.15", "strict", "client 0.9.16 talks to server 0.9.15"),
        ("0.9.15-dirty", "strict", "talks to server"),
        ("0.9.13", "strict", CarlaVersionError),
        ("0.9.13", "warn", "supports 0.9.15, 0.9.16"),
        ("0.9.13", "off", None),
    ],
)
def test_version_check(server: str, mode: str, outcome: object) -> None:
    if outcome is CarlaVersionError:
        with pytest.raises(CarlaVersionError, match=r"host:2000.*0\.9\.13"):
            check_versions("0.9.16", server, mode, "host:2000")
        return
    result = check_versions("0.9.16", server, mode, "host:2000")
    assert result is None if outcome is None else outcome in result


def test_release_and_town_names() -> None:
    assert release("0.9.16-2-gabc123") == "0.9.16" and release("0.9.15") == "0.9.15"
    assert town_name("Carla/Maps/Town03") == "Town03" and town_name("/Game/Carla/Maps/Town10HD_Opt") == "Town10HD_Opt"


def test_server_calls_turn_client_errors_into_server_lost() -> None:
    lost = pytest.raises(CarlaServerLost, match=r"host:2000 stopped answering during a simulation tick: time-out")
    with lost, server_calls("host:2000", "a simulation tick"):
        raise RuntimeError("time-out of 2000ms while waiting for the simulator")
    with pytest.raises(KeyError), server_calls("host:2000", "x"):  # other errors are not the server's
        raise KeyError("k")


def test_cleanup_runs_every_step_newest_first_and_stops_calling_a_lost_server(capsys) -> None:
    session = CarlaSession(client=None, config=CarlaConfig(timeout_s=1.0))
    done: list[str] = []

    def step(name: str, error: BaseException | None = None):
        def fn() -> None:
            done.append(name)
            if error is not None:
                raise error

        return fn

    session.cleanups += [("settings", step("settings")), ("tm", step("tm")), ("actors", step("actors", KeyError()))]
    session.close()
    assert done == ["actors", "tm", "settings"]  # a failing step does not stop the others
    done.clear()
    session.cleanups += [("settings", step("settings")), ("actors", step("actors", RuntimeError("time-out")))]
    session.close()
    assert done == ["actors"] and session.lost  # the server is gone: no more calls that would each time out
    assert "stopped answering" in capsys.readouterr().err
    session.close()  # idempotent


def test_leftovers_of_an_earlier_run_are_ours_only_children_first() -> None:
    def actor(i: int, role: str | None = None, parent: object = None) -> SimpleNamespace:
        return SimpleNamespace(id=i, attributes={"role_name": role} if role is not None else {}, parent=parent)

    hero, scenario, background, other = actor(1, "hero"), actor(2, "scenario_0"), actor(3, "background"), actor(4, "x")
    camera, walker_ai, their_sensor = actor(5, parent=hero), actor(6, parent=scenario), actor(7, parent=other)
    light = actor(8)
    ids = leftover_ids([hero, scenario, background, other, camera, walker_ai, their_sensor, light])
    assert ids == [5, 6, 1, 2, 3]

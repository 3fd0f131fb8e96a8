"""A suite spread over a pool of CARLA servers (the scripted stand-in in each worker process, real `carla` types):
each route holds one server at a time, a server that dies mid-route is restarted by its own restart command and
the route retried once; on Ray, a node-local server offered as a custom resource serves one route at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from pool_stand_in import holds, never_shared

from planner.config import ConfigError
from sim.fanout import RayConfig
from sim.run_route import EXIT_BAD_INPUT, EXIT_OK, drive
from sim.server_pool import parse_servers, server_crashed, sim_for

REPO = Path(__file__).resolve().parents[3]
ROUTE = {"start": [10.0, -1.75, 0.0], "maneuvers": ["straight"], "length_m": 60}


def write_suite(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        scenario = {
            "name": name,
            "description": "Straight on through the T-junction of the stand-in town.",
            "map": {"name": "Town03"},
            "seed": i,
            "route": ROUTE,
            "ego": {"speed": 6.0},
            "criteria": {"timeout_s": 40},
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return folder


def run(tmp_path: Path, *overrides: str, die_port: int | None = None) -> int:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    planner = ["+planner._target_=pool_stand_in:build_planner", "+planner._privileged_=true", f"+planner.state={state}"]
    if die_port is not None:
        planner.append(f"+planner.die_port={die_port}")
    fast = ["progress=false", "video.enabled=false", "sim=carla", "sim.render=false", "sim.timeout_s=2"]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run_route", overrides=[*fast, *planner, *overrides])
    return drive(cfg)


def test_routes_share_the_pool_one_per_server_and_a_crashed_server_is_restarted_and_its_route_retried(
    tmp_path: Path, capsys
) -> None:
    suite = write_suite(tmp_path / "suite", ["r0", "r1", "r2", "r3"])
    restart = f'sim.restart_command="touch {tmp_path / "state"}/restarted-{{port}}"'
    out = tmp_path / "out"
    code = run(tmp_path, f"scenario={suite}", f"output_dir={out}", "servers=[127.0.0.1:2000,127.0.0.1:2002]",
               restart, "sim.restart_wait_s=10", die_port=2002)  # fmt: skip
    assert code == EXIT_OK, capsys.readouterr().out
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    assert sorted(results) == ["r0", "r1", "r2", "r3"]
    assert all(r["status"] in ("Perfect", "Completed") for r in results.values())
    retried = [r for r in results.values() if r.get("retried")]
    assert len(retried) == 1  # the first route on 2002; it died there, 2002 came back, the route drove again
    first = retried[0]["retried"]
    assert first["status"] == "Failed - Simulation crashed" and "127.0.0.1:2002 stopped answering" in first["error"]
    assert "127.0.0.1:2002 restarted with 'touch" in first["then"]
    assert (tmp_path / "state" / "restarted-2002").exists() and not (tmp_path / "state" / "restarted-2000").exists()
    spans = holds(tmp_path / "state")
    assert set(spans) == {2000, 2002} and sum(map(len, spans.values())) == 5  # four routes, one of them twice
    assert all(never_shared(s) for s in spans.values())
    assert "retried once after Failed - Simulation crashed" in capsys.readouterr().out


def test_server_lists_are_checked_and_filled_in() -> None:
    sim = {"name": "carla", "tm_port": 8000, "restart_command": "ssh {host} restart-carla {port} {tm_port}"}
    servers = parse_servers(["gpu1:2000", "gpu1:2002", "gpu2:2000:9000"], sim)
    assert [(s.address, s.tm_port) for s in servers] == [("gpu1:2000", 8000), ("gpu1:2002", 8001), ("gpu2:2000", 9000)]
    assert sim_for(sim, servers[1])["restart_command"] == "ssh gpu1 restart-carla 2002 8001"
    assert sim_for({"name": "embedded"}, None) == {"name": "embedded"}
    for bad, match in ((["gpu1"], r"servers\[0\]"), (["gpu1:2000", "gpu1:2000"], "share"), (["a:99999"], "servers")):
        with pytest.raises(ConfigError, match=match):
            parse_servers(bad, sim)
    with pytest.raises(ConfigError, match="needs sim=carla"):
        parse_servers(["gpu1:2000"], {"name": "embedded"})
    crashed = {"status": "Failed - Simulation crashed", "error": {"kind": "simulator_crash"}}
    assert server_crashed(crashed, sim) and not server_crashed(crashed, {"name": "embedded"})
    assert not server_crashed({**crashed, "error": {"kind": "worker_lost"}}, sim)


def test_a_bad_server_entry_is_bad_input(tmp_path: Path, capsys) -> None:
    suite = write_suite(tmp_path / "suite", ["r0"])
    assert run(tmp_path, f"scenario={suite}", "servers=[nohost]", f"output_dir={tmp_path / 'o'}") == EXIT_BAD_INPUT
    assert "servers[0]: expected host:port" in capsys.readouterr().err


@pytest.mark.slow
def test_on_ray_a_node_local_server_held_as_a_resource_serves_one_route_at_a_time(tmp_path: Path) -> None:
    from sim.fanout.ray_tasks import local_ray

    suite = write_suite(tmp_path / "suite", ["r0", "r1", "r2"])
    with local_ray(RayConfig(num_cpus=2, node_resources={"carla_server": 1}, object_store_mb=100)):
        code = run(tmp_path, f"scenario={suite}", f"output_dir={tmp_path / 'out'}", "executor=ray",
                   "+ray.resources_per_task.carla_server=1")  # fmt: skip
    assert code == EXIT_OK
    spans = holds(tmp_path / "state")
    assert list(spans) == [2000] and len(spans[2000]) == 3 and never_shared(spans[2000])  # two cores, one server

"""A pool of CARLA servers that a suite's routes share: each route holds one server while it runs, so N servers
drive N routes at once; a route whose server crashed is retried once on it, after `sim.restart_command` has restarted
it.

Servers are named `host:port` (Traffic Manager port `sim.tm_port + i` for the i-th) or `host:port:tm_port`.
`{host}`, `{port}` and `{tm_port}` in `sim.restart_command` become the server's own, so one command restarts any
of them, e.g. `ssh {host} /opt/carla/restart.sh {port}`. On Ray, a node-local server instead: every node with a
CARLA server at `sim.host:sim.port` (127.0.0.1) offers a custom resource and each route asks for one unit of it
(`ray.resources_per_task={carla_server: 1}`), so Ray itself gives each server one route at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from planner.config import ConfigError
from sim.status import Ending, Status

CARLA = "carla"
CRASHES = frozenset({Ending.BACKEND_LOAD.value, Ending.SIMULATOR_CRASH.value})  # the server's fault, not the agent's


@dataclass(frozen=True)
class CarlaServer:
    host: str
    port: int
    tm_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_servers(entries: Sequence[str], sim: Mapping[str, Any]) -> list[CarlaServer]:
    """The pool named by `servers`; ConfigError naming the entry for anything else than distinct host:port[:tm]."""
    if not entries:
        return []
    if sim.get("name") != CARLA:
        raise ConfigError(f"servers: a server pool needs sim=carla, not sim={sim.get('name')!r}")
    base_tm = int(sim.get("tm_port", 8000))
    servers: list[CarlaServer] = []
    for i, entry in enumerate(entries):
        parts = str(entry).strip().split(":")
        try:
            if len(parts) not in (2, 3) or not parts[0]:
                raise ValueError
            ports = [int(p) for p in parts[1:]]
            if not all(0 < p < 65536 for p in ports):
                raise ValueError
        except ValueError:
            raise ConfigError(f"servers[{i}]: expected host:port or host:port:tm_port, got {entry!r}") from None
        servers.append(CarlaServer(parts[0], ports[0], ports[1] if len(ports) == 2 else base_tm + i))
    for field_name in ("address", "tm_port"):
        values = [(s.host, getattr(s, field_name)) for s in servers]
        if len(set(values)) != len(values):
            raise ConfigError(f"servers: two servers share a {field_name.replace('_', ' ')}: {list(entries)}")
    return servers


def sim_for(sim: Mapping[str, Any], server: CarlaServer | None) -> dict[str, Any]:
    """The `sim` config of a route on `server` (None: the configured host and port), its restart command filled in."""
    out = dict(sim)
    if out.get("name") != CARLA:
        return out
    if server is not None:
        out.update(host=server.host, port=server.port, tm_port=server.tm_port)
    command = out.get("restart_command")
    if command:
        values = {"host": out.get("host", "127.0.0.1"), "port": out.get("port", 2000), "tm_port": out.get("tm_port")}
        for name, value in values.items():
            command = command.replace("{" + name + "}", str(value))
        out["restart_command"] = command
    return out


def server_crashed(results: Mapping[str, Any], sim: Mapping[str, Any]) -> bool:
    """A CARLA route that failed because its server did (could not load the world, stopped answering)."""
    error = results.get("error") or {}
    return (
        sim.get("name") == CARLA
        and results.get("status") == Status.SIMULATION_CRASHED.value
        and error.get("kind") in CRASHES
    )


def restart(sim: Mapping[str, Any]) -> str:
    """Restart the route's server with its `restart_command` and wait until it answers; says what happened."""
    from sim.carla_backend.client import CarlaError, restart_server
    from sim.carla_backend.config import carla_config

    config = carla_config(sim)
    if not config.restart_command:
        return f"no sim.restart_command: retried on {config.address} as it was"
    try:
        restart_server(config)
    except CarlaError as err:
        return f"restart of {config.address} failed: {err}"
    return f"{config.address} restarted with {config.restart_command!r}"

"""Connecting to a CARLA server, checking its version, restarting it by a configured command, and naming failures.

Every failure says which server (host:port) it concerns. `CarlaConnectionError`: nothing answered within the timeout
(the route cannot start); `CarlaServerLost`: the server stopped answering mid-route (the runner reports the route
"Failed - Simulation crashed" and a suite goes on with a fresh connection).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import carla

from sim.carla_backend.config import COMPATIBLE_SERVERS, CarlaConfig

T = TypeVar("T")
_PROBE_TIMEOUT_S = 5.0  # one connection attempt while waiting for a restarted server


class CarlaError(RuntimeError):
    """A CARLA server problem, with the server's address in the message."""


class CarlaConnectionError(CarlaError):
    """No server answered at host:port within the timeout."""


class CarlaVersionError(CarlaError):
    """The server's version is not one this client supports."""


class CarlaServerLost(CarlaError):
    """The server stopped answering (crashed, killed or hung) while a route was running."""


def release(version: str) -> str:
    """ "0.9.15" from version strings such as "0.9.15", "0.9.15-dirty" or "0.9.16-2-gabc123"."""
    match = re.match(r"\s*(\d+)\.(\d+)\.(\d+)", version)
    return ".".join(match.groups()) if match else version.strip()


def check_versions(client_version: str, server_version: str, mode: str, address: str) -> str | None:
    """Raise CarlaVersionError (mode "strict") for a server outside COMPATIBLE_SERVERS; return a warning text when
    client and server releases differ but are compatible (or mode is "warn"); None when they match."""
    if mode == "off":
        return None
    client, server = release(client_version), release(server_version)
    if server not in COMPATIBLE_SERVERS:
        text = (
            f"CARLA server at {address} runs {server_version}; this backend supports {', '.join(COMPATIBLE_SERVERS)} "
            f"(client {client_version})"
        )
        if mode == "strict":
            raise CarlaVersionError(text + "; set sim.version_check=warn to try anyway")
        return text
    if client != server:
        return f"CARLA client {client_version} talks to server {server_version} at {address}"
    return None


def _unreachable(config: CarlaConfig, err: BaseException, restarted: bool = False) -> CarlaConnectionError:
    waited = f"{config.timeout_s:g} s" + (f" (and {config.restart_wait_s:g} s after a restart)" if restarted else "")
    return CarlaConnectionError(
        f"no CARLA server answered at {config.address} within {waited}: {err}. Start one (e.g. "
        f"./CarlaUE4.sh -RenderOffScreen -carla-rpc-port={config.port}) or point sim.host / sim.port at it"
    )


def _probe(config: CarlaConfig, timeout_s: float) -> tuple[carla.Client, str]:
    client = carla.Client(config.host, config.port)
    client.set_timeout(timeout_s)
    return client, client.get_server_version()


def restart_server(config: CarlaConfig, sleep: Callable[[float], None] = time.sleep) -> carla.Client:
    """Run `restart_command` (detached) and wait up to `restart_wait_s` for the server to answer."""
    assert config.restart_command
    subprocess.Popen(
        shlex.split(config.restart_command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + config.restart_wait_s
    last: BaseException = RuntimeError("no attempt")
    while time.monotonic() < deadline:
        try:
            client, _ = _probe(config, min(_PROBE_TIMEOUT_S, config.timeout_s))
            client.set_timeout(config.timeout_s)
            return client
        except RuntimeError as err:
            last = err
            sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    raise _unreachable(config, last, restarted=True)


def connect(config: CarlaConfig) -> carla.Client:
    """A client with the configured timeout, connected and version-checked; restarts the server when configured."""
    try:
        client, server_version = _probe(config, config.timeout_s)
    except RuntimeError as err:
        if not config.restart_command:
            raise _unreachable(config, err) from None
        client = restart_server(config)
        server_version = client.get_server_version()
    note = check_versions(client.get_client_version(), server_version, config.version_check, config.address)
    if note:
        warnings.warn(note, stacklevel=2)
    return client


@contextmanager
def server_calls(address: str, what: str) -> Iterator[None]:
    """Turn the client's RuntimeError (time-out, closed connection) into CarlaServerLost naming server and call."""
    try:
        yield
    except CarlaError:
        raise
    except RuntimeError as err:
        raise CarlaServerLost(f"CARLA server at {address} stopped answering during {what}: {err}") from err


def call(address: str, what: str, fn: Callable[..., T], *args: Any) -> T:
    with server_calls(address, what):
        return fn(*args)

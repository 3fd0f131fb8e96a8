"""Stand-in CARLA servers for the server-pool tests, in whichever process drives a route (a spawned pool worker, a
Ray worker): a planner builder (a `_target_` for run_route) puts them in place of the network connection before the
route connects. Servers are told apart by port. Every route's hold on a server is logged (taken at connect, given
back at close) so a test can check that no two routes shared one; the server on `die_port` stops answering
mid-route until its restart command has created `restarted-<port>` in the state folder, as a real restart would
bring a crashed server back."""

from __future__ import annotations

import json
import os
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from server_stand_in import TIMEOUT, StandInServer

from planner.expert import build_expert_planner

DIE_AFTER_TICKS = 40


def build_planner(config: dict[str, Any]) -> Any:
    values = dict(config)
    state = Path(values.pop("state"))
    die_port = values.pop("die_port", None)
    install(state, die_port)
    return build_expert_planner(values)


def restarted(state: Path, port: int) -> bool:
    return (state / f"restarted-{port}").exists()


def install(state: Path, die_port: int | None) -> None:
    import sim.carla_backend.backend as backend_module
    import sim.carla_backend.client as client_module

    if getattr(backend_module, "_pool_state", None) == state:
        return
    original_close = getattr(backend_module, "_original_close", backend_module.CarlaBackend.close)

    def connect(config: Any) -> StandInServer:
        dies = config.port == die_port and not restarted(state, config.port)
        server = StandInServer()
        if dies:
            server.die_at_frame = server.frame + DIE_AFTER_TICKS
        log(state, "take", config.port)
        return server

    def close(self: Any) -> None:
        if self._session is not None:
            log(state, "give", self.config.port)
        original_close(self)

    def probe(config: Any, timeout_s: float) -> tuple[StandInServer, str]:
        if not restarted(state, config.port):
            raise RuntimeError(TIMEOUT)
        return StandInServer(), "0.9.16"

    backend_module.connect = connect
    backend_module._original_close = original_close
    backend_module.CarlaBackend.close = close
    backend_module._pool_state = state
    client_module._probe = probe


def log(state: Path, event: str, port: int) -> None:
    with (state / "holds.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, "port": port, "pid": os.getpid(), "t": time.time()}) + "\n")


def holds(state: Path) -> dict[int, list[tuple[float, float]]]:
    """(taken, given back) per port, from the log; a hold never given back fails the test."""
    open_at: dict[tuple[int, int], float] = {}
    out: dict[int, list[tuple[float, float]]] = {}
    for line in (state / "holds.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "take":
            open_at[(e["port"], e["pid"])] = e["t"]
        else:
            out.setdefault(e["port"], []).append((open_at.pop((e["port"], e["pid"])), e["t"]))
    assert not open_at, f"holds never given back: {open_at}"
    return out


def never_shared(spans: list[tuple[float, float]]) -> bool:
    spans = sorted(spans)
    return all(end <= start for (_, end), (start, _) in pairwise(spans))

"""Our planner and meta-action controller as a CARLA leaderboard 2.0 / Bench2Drive agent.

    TEAM_AGENT=<repo>/sim/leaderboard_agent.py TEAM_CONFIG=<agent.yaml> (see the README)

The agent config (YAML, `sim.carla_backend.agent.AgentConfig`; an empty path gives the defaults): `planner` as in
conf/planner/<name>.yaml (a camera-only planner: the leaderboard gives no ground truth), `controller`, `camera`,
`track` (SENSORS, MAP, SENSORS_QUALIFIER or MAP_QUALIFIER), `plan_period_s`, ... Sensors: the shared front camera,
speedometer, GNSS and IMU (and the OpenDRIVE map on the MAP tracks), within the leaderboard's limits.

Bench2Drive passes `<agent config>+<save name>` to `setup()` (the save name names the route's output folder under
`$SAVE_PATH`); there the agent writes the ego's motion per step to `$SAVE_PATH/<save name>/metric_info.json`, the
file Bench2Drive's efficiency and smoothness tool reads. The logic lives in `sim.carla_backend.agent`, tested there;
this file only adapts it to the leaderboard's base class, which is optional so the module imports without it.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:  # the leaderboard imports this file by path: make the project importable
    sys.path.insert(0, _REPO)

import carla  # noqa: E402
import yaml  # noqa: E402

from planner.config import ConfigError, from_mapping  # noqa: E402
from sim.builders import planner_factory  # noqa: E402
from sim.carla_backend.agent import AgentConfig, LeaderboardDriver, readings_from_input, sensor_specs  # noqa: E402
from sim.carla_backend.frames import control_to_carla, pose_from_transform  # noqa: E402

try:
    from leaderboard.autoagents.autonomous_agent import AutonomousAgent, Track
except ImportError:  # outside the leaderboard: a stand-in with the same surface

    class Track(Enum):  # type: ignore[no-redef]
        SENSORS = "SENSORS"
        MAP = "MAP"
        SENSORS_QUALIFIER = "SENSORS_QUALIFIER"
        MAP_QUALIFIER = "MAP_QUALIFIER"

    class AutonomousAgent:  # type: ignore[no-redef]
        def __init__(self, carla_host: str, carla_port: int, debug: bool = False) -> None:
            self.track = Track.SENSORS
            self._global_plan: Any = None
            self._global_plan_world_coord: Any = None

        def set_global_plan(self, global_plan_gps: Any, global_plan_world_coord: Any) -> None:
            self._global_plan, self._global_plan_world_coord = global_plan_gps, global_plan_world_coord


def get_entry_point() -> str:
    return "MetaActionAgent"


def split_config_argument(argument: str | os.PathLike[str] | None) -> tuple[str, str | None]:
    """(config path, Bench2Drive save name) from what the evaluator passes to `setup()`.

    Bench2Drive appends `+<save name>` to the config path, once per route it has run (so the string grows); the
    path is the longest leading part that names a file (or nothing at all), the save name the text after the
    last `+`."""
    text = "" if argument is None else str(argument)
    if "+" not in text or Path(text).is_file():
        return text, None
    parts = text.split("+")
    save_name = parts[-1] or None
    for cut in range(len(parts) - 1, 0, -1):
        head = "+".join(parts[:cut])
        if Path(head).is_file():
            return head, save_name
    return parts[0], save_name


def load_agent_config(path: str | os.PathLike[str] | None) -> AgentConfig:
    """AgentConfig from a YAML file (unknown keys rejected); an empty path or "none" gives the defaults."""
    if not path or str(path).lower() == "none":
        return AgentConfig()
    if not Path(path).is_file():
        raise ConfigError(f"agent config {path}: no such file")
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return from_mapping(AgentConfig, data, f"agent config {path}")


class MetricLog:
    """Bench2Drive's per-route `metric_info.json`: {step: the base class's `get_metric_info()`}, rewritten now and
    then and when the route ends (the tool reads acceleration, angular velocity, forward/right vectors, location and
    rotation of each step)."""

    def __init__(self, folder: Path, every: int = 1, flush_every: int = 20) -> None:
        self.path = folder / "metric_info.json"
        self.every, self.flush_every = every, flush_every
        self.records: dict[str, Any] = {}
        self.step = 0

    def add(self, info: dict[str, Any]) -> None:
        if self.step % self.every == 0:
            self.records[str(self.step)] = info
            if len(self.records) % self.flush_every == 0:
                self.flush()
        self.step += 1

    def flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.records), encoding="utf-8")
        tmp.replace(self.path)


class MetaActionAgent(AutonomousAgent):
    """Leaderboard agent: front camera -> planner (every plan period) -> meta-action controller -> control."""

    def __init__(self, carla_host: str, carla_port: int, debug: bool = False) -> None:
        super().__init__(carla_host, carla_port, debug)
        self.config = AgentConfig()
        self.driver: LeaderboardDriver | None = None
        self._dense_plan: tuple[Any, Any] | None = None
        self.save_name: str | None = None
        self.metric_log: MetricLog | None = None

    def setup(self, path_to_conf_file: str) -> None:
        config_path, self.save_name = split_config_argument(path_to_conf_file)
        self.config = load_agent_config(config_path)
        self.track = Track[self.config.track]
        if self.save_name is not None and hasattr(self, "get_metric_info"):  # Bench2Drive's base class
            folder = Path(os.environ.get("SAVE_PATH") or ".") / self.save_name
            self.metric_log = MetricLog(folder, self.config.bench2drive_metric_every)
        make_planner, privileged, name = planner_factory(self.config.planner)
        if privileged:
            raise ConfigError(f"planner {name!r} needs privileged ground truth, which the leaderboard does not give")
        self.driver = LeaderboardDriver(self.config, make_planner())
        self._start_route()

    def set_global_plan(self, global_plan_gps: Any, global_plan_world_coord: Any) -> None:
        """Keep the dense route the leaderboard hands over (the base class keeps a downsampled copy)."""
        self._dense_plan = (global_plan_gps, global_plan_world_coord)
        super().set_global_plan(global_plan_gps, global_plan_world_coord)
        self._start_route()

    def _start_route(self) -> None:
        if self.driver is None or self._dense_plan is None:
            return  # the leaderboard may call set_global_plan before or after setup
        gps_plan, world_plan = self._dense_plan
        gps = [(float(p["lat"]), float(p["lon"])) for p, _ in gps_plan]
        world = [pose_from_transform(tf) for tf, _ in world_plan]
        self.driver.set_route(gps, [(x, y, yaw) for x, y, _, yaw in world], [opt for _, opt in world_plan])

    def sensors(self) -> list[dict[str, Any]]:
        return sensor_specs(self.config)

    def run_step(self, input_data: dict[str, Any], timestamp: float) -> carla.VehicleControl:
        if self.driver is None:
            return carla.VehicleControl(brake=1.0)
        control = self.driver.run_step(readings_from_input(input_data), float(timestamp))
        if self.metric_log is not None:
            self.metric_log.add(self.get_metric_info())  # type: ignore[attr-defined]
        return control_to_carla(control)

    def destroy(self) -> None:
        if self.metric_log is not None:
            self.metric_log.flush()
        self.driver = None

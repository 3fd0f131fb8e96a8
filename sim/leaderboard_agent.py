"""Our planner and meta-action controller as a CARLA leaderboard 2.0 / Bench2Drive agent.

    TEAM_AGENT=<repo>/sim/leaderboard_agent.py TEAM_CONFIG=<agent.yaml> (see the README)

The agent config (YAML, `sim.carla_backend.agent.AgentConfig`; an empty path gives the defaults): `planner` as in
conf/planner/<name>.yaml (a camera-only planner: the leaderboard gives no ground truth), `controller`, `camera`,
`track` (SENSORS or MAP), `plan_period_s`. Sensors: the shared front camera, speedometer, GNSS and IMU (and the
OpenDRIVE map on MAP), within the leaderboard's limits. The logic lives in `sim.carla_backend.agent`, tested there;
this file only adapts it to the leaderboard's base class, which is optional so the module imports without it.
"""

from __future__ import annotations

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

    class AutonomousAgent:  # type: ignore[no-redef]
        def __init__(self, carla_host: str, carla_port: int, debug: bool = False) -> None:
            self.track = Track.SENSORS
            self._global_plan: Any = None
            self._global_plan_world_coord: Any = None

        def set_global_plan(self, global_plan_gps: Any, global_plan_world_coord: Any) -> None:
            self._global_plan, self._global_plan_world_coord = global_plan_gps, global_plan_world_coord


def get_entry_point() -> str:
    return "MetaActionAgent"


def load_agent_config(path: str | os.PathLike[str] | None) -> AgentConfig:
    """AgentConfig from a YAML file (unknown keys rejected); an empty path or "none" gives the defaults."""
    if not path or str(path).lower() == "none":
        return AgentConfig()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return from_mapping(AgentConfig, data, f"agent config {path}")


class MetaActionAgent(AutonomousAgent):
    """Leaderboard agent: front camera -> planner (every plan period) -> meta-action controller -> control."""

    def __init__(self, carla_host: str, carla_port: int, debug: bool = False) -> None:
        super().__init__(carla_host, carla_port, debug)
        self.config = AgentConfig()
        self.driver: LeaderboardDriver | None = None
        self._dense_plan: tuple[Any, Any] | None = None

    def setup(self, path_to_conf_file: str) -> None:
        self.config = load_agent_config(path_to_conf_file)
        self.track = Track.MAP if self.config.track == "MAP" else Track.SENSORS
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
        return control_to_carla(control)

    def destroy(self) -> None:
        self.driver = None

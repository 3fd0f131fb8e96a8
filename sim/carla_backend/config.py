"""Typed configuration of the CARLA backend (`conf/sim/carla.yaml`); unknown keys are rejected with the valid ones."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.config import from_mapping
from sim.core import WEATHER_PRESETS, CameraConfig

COMPATIBLE_SERVERS = ("0.9.15", "0.9.16")


@dataclass(frozen=True)
class CarlaConfig:
    host: str = "127.0.0.1"
    port: int = 2000
    timeout_s: float = 20.0  # bound of every client call, connection included
    tm_port: int = 8000  # Traffic Manager
    hybrid_physics: bool = True  # TM: full physics only near the ego
    hybrid_physics_radius_m: float = 70.0
    dt: float = 0.05  # fixed tick, s
    render: bool = True  # false: no camera sensor; observations carry a black image
    no_rendering_mode: bool = False  # server-side: skip rendering entirely (only with render: false)
    weather: str | None = None  # null: the scenario's preset
    camera: CameraConfig = field(default_factory=CameraConfig)
    ego_blueprint: str = "vehicle.lincoln.mkz_2020"
    version_check: Literal["strict", "warn", "off"] = "strict"  # strict: refuse servers outside COMPATIBLE_SERVERS
    reload_map: bool = False  # reload the town even when it is already loaded (a clean world per route)
    clean_leftovers: bool = True  # destroy actors with our role names that a killed earlier run left behind
    restart_command: str | None = None  # shell command that (re)starts the server when it does not answer
    restart_wait_s: float = 60.0  # how long to wait for a restarted server to answer
    sensor_timeout_s: float = 10.0  # wait for the camera frame of the current tick
    lane_sampling_m: float = 1.0  # waypoint spacing when the lane graph is built from the map
    default_speed_limit_kmh: float = 30.0  # roads without a speed-limit sign (CARLA's town default)
    spawn_lift_m: float = 0.3  # actors spawn this far above the road to avoid ground contact at spawn
    blocked_speed: float = 0.1  # m/s below which the ego counts as stationary for `criteria.blocked_s`
    route_deviation_m: float = 30.0
    collision_dedupe_s: float = 2.0  # repeated contacts with the same actor within this time count once
    nav_horizon_m: float = 150.0  # navigation text announces turns this far ahead

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        for name in ("port", "tm_port"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 0 < value < 65536):
                raise ValueError(f"{name} must be a TCP port (1..65535), got {value!r}")
        for name in ("timeout_s", "dt", "sensor_timeout_s", "lane_sampling_m", "default_speed_limit_kmh"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.dt > 0.1:
            raise ValueError(f"dt must be <= 0.1 s for stable CARLA physics, got {self.dt}")
        if self.weather is not None and self.weather not in WEATHER_PRESETS:
            raise ValueError(f"weather must be one of {list(WEATHER_PRESETS)} or null, got {self.weather!r}")
        if self.no_rendering_mode and self.render:
            raise ValueError("no_rendering_mode needs render: false (the camera would see nothing)")
        if self.version_check not in ("strict", "warn", "off"):
            raise ValueError(f"version_check must be strict, warn or off, got {self.version_check!r}")
        if self.restart_wait_s < 0:
            raise ValueError(f"restart_wait_s must be >= 0, got {self.restart_wait_s}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def carla_config(values: Mapping[str, Any] | CarlaConfig | None = None, **overrides: Any) -> CarlaConfig:
    """A validated config from a mapping (the Hydra `sim` node; `name` is ignored) plus keyword overrides.

    Raises ConfigError naming an unknown key or a bad value."""
    if isinstance(values, CarlaConfig) and not overrides:
        return values
    data = dict(values.__dict__) if isinstance(values, CarlaConfig) else dict(values or {})
    data.update(overrides)
    data.pop("name", None)
    return from_mapping(CarlaConfig, data, "sim (carla)")

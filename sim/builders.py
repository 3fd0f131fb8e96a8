"""Typed configuration of a closed-loop run and the small builders that turn it into backend, planner and controller
factories. Hydra nodes come in; strict dataclasses (unknown keys rejected) go out.

Planners are found by a `_target_` entry in their config (`package.module:function` or `package.module.function`,
called with the rest of the config) or, without one, by the registry below keyed by the Hydra group choice
(`planner=vlm`) or the config's `name`. `_privileged_: true` gives a planner the ground truth.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.meta_action import MetaActionController, MetaActionControllerConfig
from planner.config import ConfigError, from_mapping, plain
from planner.interface import Planner
from sim.core import Backend, RoadMap
from sim.fanout import RayConfig, check_executor
from sim.protocols import DEFAULT_PROTOCOL
from sim.video import VideoConfig


@dataclass(frozen=True)
class PlannerEntry:
    target: str  # "package.module:function", called with the planner's config mapping
    privileged: bool = False
    batches: bool = False  # decides many inputs in one call (plan_batch): worth a planner server for parallel routes


PLANNERS: Mapping[str, PlannerEntry] = {
    "expert": PlannerEntry("planner.expert:build_expert_planner", privileged=True),
    "constant": PlannerEntry("planner.constant:build_constant_planner"),
    "vlm": PlannerEntry("planner.vlm:build_vlm_planner", batches=True),
}


@dataclass(frozen=True)
class RunRouteConfig:
    scenario: str = "red_light_stop"  # a suite name, a YAML path, or "suite" for every suite scenario
    seed: int | None = None  # None: the scenario's own seed
    plan_period: float = 0.5  # s between planner calls
    planner_timeout_s: float | None = 30.0  # one plan() call; null disables the watchdog
    planner_setup_timeout_s: float | None = 900.0  # building the planner and its per-route setup
    timeout_s: float | None = None  # route time budget; null: the scenario's criteria.timeout_s
    protocol: str = DEFAULT_PROTOCOL  # scoring protocol: leaderboard-2.0 | leaderboard-2.1 | bench2drive
    output_dir: str | None = None  # null: the Hydra run directory
    results_every_s: float = 2.0  # wall seconds between partial results.json writes
    progress: bool = True
    resume: bool = True  # suite: skip scenarios whose results.json holds a final verdict
    video: VideoConfig = field(default_factory=VideoConfig)
    sim: dict[str, Any] = field(default_factory=lambda: {"name": "embedded"})
    planner: dict[str, Any] = field(default_factory=lambda: {"name": "expert"})
    controller: MetaActionControllerConfig = field(default_factory=MetaActionControllerConfig)
    repeats: int = 1  # runs of every route, under seeds counting up from `seed` (or the scenario's own)
    seeds: tuple[int, ...] = ()  # or the exact seeds every route runs under
    executor: str = "local"  # local: this machine's cores | ray: Ray tasks (a local Ray, or ray.address)
    workers: int | None = None  # local: processes (null: one per core; 1: this process) | ray: routes in flight
    ray: RayConfig = field(default_factory=RayConfig)
    servers: tuple[str, ...] = ()  # CARLA servers "host:port[:tm_port]" the routes share, one route per server
    # One model for every route in flight, their decisions batched (planner/server.py); null: on for planners that
    # batch (the VLM) when routes run in parallel local worker processes
    planner_server: bool | None = None

    def __post_init__(self) -> None:
        from sim.runner import RunnerConfig

        RunnerConfig(self.plan_period, self.planner_timeout_s, self.timeout_s, self.protocol)  # the runner's rules
        check_executor(self.executor, self.workers)
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if self.seeds and (self.repeats != 1 or self.seed is not None):
            raise ValueError("give `seeds`, or `seed` and `repeats`, not both")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        if self.planner_server and self.executor != "local":
            raise ValueError("planner_server needs executor=local (its clients reach it through a local socket)")


def load_run_config(cfg: Any) -> RunRouteConfig:
    """From the composed Hydra config (the `hydra` node excluded); unknown keys raise ConfigError."""
    data = dict(plain(cfg))
    data.pop("hydra", None)
    return from_mapping(RunRouteConfig, data, "run_route")


def _resolve(target: str) -> Callable[..., Any]:
    module, sep, attr = target.partition(":")
    if not sep:
        module, _, attr = target.rpartition(".")
    if not module or not attr:
        raise ConfigError(f"_target_ must look like 'package.module:function', got {target!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"cannot load planner builder {target!r}: {err}") from err


def planner_factory(config: Mapping[str, Any], choice: str | None = None) -> tuple[Callable[[], Planner], bool, str]:
    """(factory, privileged, name) for a planner config. Nothing is imported or built until the factory runs."""
    config = dict(plain(config) or {})
    target = config.pop("_target_", None)
    privileged = config.pop("_privileged_", None)
    key = _registry_key(config, choice)
    if target is None:
        if key not in PLANNERS:
            raise ConfigError(
                f"planner: no _target_ and no registered planner named {key!r}; known: {sorted(PLANNERS)}"
            )
        target = PLANNERS[key].target
        privileged = PLANNERS[key].privileged if privileged is None else privileged
    name = str(config.get("name") or key or target)
    return (lambda: _resolve(target)(config)), bool(privileged), name


def _registry_key(config: Mapping[str, Any], choice: str | None) -> Any:
    """The registered planner a config names: the Hydra group choice, else its `name`."""
    return choice if choice in PLANNERS else config.get("name")


def planner_batches(config: Mapping[str, Any], choice: str | None = None) -> bool:
    """Whether the configured planner is one of the registered planners that decide inputs in batches."""
    config = dict(plain(config) or {})
    key = _registry_key(config, choice)
    return "_target_" not in config and key in PLANNERS and PLANNERS[key].batches


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def backend_factory(config: Mapping[str, Any], frames: bool = True) -> tuple[Callable[[], Backend], str]:
    """(factory, name) for `sim` config: `name` picks the backend; the other keys go to its constructor, mappings
    becoming the typed config dataclasses its signature names (e.g. `camera` -> CameraConfig).

    `frames=False` says nothing will look at the camera images (a planner that does not use them, no video): the
    camera is then left off (`render: false`, black images) whatever the config says; `render: false` in the config
    always wins."""
    from sim import make_backend

    config = dict(plain(config) or {})
    name = str(config.pop("name", "embedded"))
    if not frames:
        config["render"] = False
    if name == "embedded":
        from sim.embedded.backend import EmbeddedBackend

        hints = typing.get_type_hints(EmbeddedBackend.__init__)
        hints.pop("return", None)
        unknown = sorted(set(config) - set(hints))
        if unknown:
            raise ConfigError(f"sim ({name}): unknown key(s) {unknown}; valid keys are {sorted(hints)}")
        for key, value in list(config.items()):
            hint = _unwrap_optional(hints.get(key))
            if isinstance(value, Mapping) and isinstance(hint, type) and dataclasses.is_dataclass(hint):
                config[key] = from_mapping(hint, value, f"sim.{key}")
    elif name == "carla":
        from sim.carla_backend.config import carla_config

        carla_config(config)  # unknown keys and bad values fail here, before any route starts
    return (lambda: make_backend(name, **config)), name


def controller_factory(config: MetaActionControllerConfig) -> Callable[[RoadMap], MetaActionController]:
    return lambda road_map: MetaActionController(road_map, config)

"""A gymnasium environment over any simulator backend: one step is one planning period of meta-action control.

    import sim.env, gymnasium as gym
    env = gym.make("alphadrive/Drive-v0", config={"scenarios": ["red_light_stop"], "sim": {"render": False}})

Observation: the front image, the ego speed and the navigation text (what a deployed planner sees). Action:
`MultiDiscrete([4, 5])`, indices into `SPEED_ACTIONS` and `PATH_ACTIONS`. The privileged expert labels every state:
`info["expert"]` is its meta-action for the observation returned alongside it, and the next step's planning reward
scores the chosen action against that label with `planner.rewards` (the same code as GRPO). Closed-loop terms
(progress, infraction penalties, completion) are added and all terms are reported in `info["reward_terms"]`.
`info["trajectory"]` holds the ego's per-tick poses of the step, for motion-based labelling.
"""

from __future__ import annotations

import math
import pickle
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from inspect import signature
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from controller.meta_action import MetaActionController, MetaActionControllerConfig
from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, MetaAction, format_answer
from planner.config import ConfigError, from_mapping, plain
from planner.expert import build_expert_planner
from planner.interface import Plan, PlannerContext, PlannerInput
from planner.rewards import RewardConfig, path_reward, speed_reward
from scenarios import check_placements, list_suite, load_scenario, scenario_from_dict
from sim.builders import backend_factory
from sim.core import Backend, CameraConfig, InfractionType, RoadMap, WorldState

ENV_ID = "alphadrive/Drive-v0"
NAV_CHARSET = string.ascii_letters + string.digits + " .,;:-()/'%"
_INFRACTIONS = {t.value for t in InfractionType}


def _default_penalties() -> dict[str, float]:
    return {
        "collisions_pedestrian": 5.0,
        "collisions_vehicle": 3.0,
        "collisions_layout": 2.0,
        "red_light": 2.0,
        "stop_infraction": 1.0,
        "off_road": 1.0,
        "outside_route_lanes": 0.2,
        "vehicle_blocked": 1.0,
        "route_dev": 2.0,
    }


@dataclass(frozen=True)
class EnvRewardConfig:
    planning_scale: float = 1.0  # x (speed reward + path reward) against the expert's label
    progress_per_m: float = 0.02  # per metre of new route progress
    completion_bonus: float = 1.0
    infraction_penalties: Mapping[str, float] = field(default_factory=_default_penalties)  # type -> penalty
    planning: RewardConfig = field(default_factory=lambda: RewardConfig(use_diversity=False))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.infraction_penalties) - _INFRACTIONS)
        if unknown:
            raise ValueError(f"infraction_penalties: unknown type(s) {unknown}; known: {sorted(_INFRACTIONS)}")


@dataclass(frozen=True)
class DriveEnvConfig:
    scenarios: tuple[str, ...] = ("red_light_stop",)  # suite names or YAML paths picked at reset; "suite" = all
    sim: Mapping[str, Any] = field(default_factory=lambda: {"name": "embedded", "render": True})
    plan_period: float = 0.5  # s of simulated time per step
    timeout_s: float | None = None  # truncation; None: the scenario's criteria.timeout_s
    finish_tolerance_m: float = 2.0
    terminate_on: tuple[str, ...] = (
        "collisions_pedestrian",
        "collisions_vehicle",
        "collisions_layout",
        "vehicle_blocked",
        "route_dev",
    )
    max_speed: float = 40.0  # m/s, bound of the speed observation
    navigation_max_length: int = 128
    reward: EnvRewardConfig = field(default_factory=EnvRewardConfig)
    controller: MetaActionControllerConfig = field(default_factory=MetaActionControllerConfig)
    expert: Mapping[str, Any] = field(default_factory=dict)  # planner.expert.ExpertConfig fields
    # every_step: each observation carries its camera image | on_request: observations carry a black image and
    # `frame()` renders the current one, for callers that keep only some frames (embedded backend; others always
    # render)
    images: str = "every_step"

    def __post_init__(self) -> None:
        if self.images not in ("every_step", "on_request"):
            raise ValueError(f"images must be 'every_step' or 'on_request', got {self.images!r}")
        if not self.scenarios:
            raise ValueError("scenarios: give at least one scenario name or path")
        if not (math.isfinite(self.plan_period) and self.plan_period > 0):
            raise ValueError(f"plan_period must be positive, got {self.plan_period}")
        unknown = sorted(set(self.terminate_on) - _INFRACTIONS)
        if unknown:
            raise ValueError(f"terminate_on: unknown infraction type(s) {unknown}; known: {sorted(_INFRACTIONS)}")


def action_of(action: Any) -> MetaAction:
    """The meta-action of a `MultiDiscrete([4, 5])` sample (speed index, path index)."""
    speed, path = (int(v) for v in np.asarray(action).reshape(-1)[:2])
    if not (0 <= speed < len(SPEED_ACTIONS) and 0 <= path < len(PATH_ACTIONS)):
        raise ValueError(f"action {action!r} is outside MultiDiscrete([4, 5])")
    return MetaAction(SPEED_ACTIONS[speed], PATH_ACTIONS[path])


def index_of(action: MetaAction) -> np.ndarray:
    return np.array([SPEED_ACTIONS.index(action.speed), PATH_ACTIONS.index(action.path)], dtype=np.int64)


def road_lateral(road_map: RoadMap, x: float, y: float, yaw: float) -> tuple[float, bool, bool]:
    """(lateral position across the carriageway, m left of the rightmost lane's centre; in a junction; on a lane).

    Lane changes show as jumps of about one lane width in this value; inside junctions it is not comparable."""
    pos = road_map.locate(x, y, yaw)
    if pos is None:
        return 0.0, False, False
    rank, lane = 0, pos.lane_id
    while (lane := road_map.neighbour(lane, "right")) is not None and rank < 8:
        rank += 1
    return rank * road_map.lane_width(pos.lane_id) + pos.d, pos.in_junction, True


class DriveEnv(gym.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self, config: DriveEnvConfig | Mapping[str, Any] | None = None, render_mode: str | None = None, **overrides: Any
    ) -> None:
        if isinstance(config, DriveEnvConfig):
            config = {k: getattr(config, k) for k in config.__dataclass_fields__}
        data = {**dict(plain(config) or {}), **overrides}
        self.config = from_mapping(DriveEnvConfig, data, "DriveEnv")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": max(1, round(1.0 / self.config.plan_period))}
        self._make_backend, self.backend_name = backend_factory(dict(self.config.sim))
        self.scenario_names = (
            list_suite() if tuple(self.config.scenarios) == ("suite",) else list(self.config.scenarios)
        )
        self._scenario_cache: dict[str, Any] = {}
        self.backend: Backend = self._make_backend()
        cam = getattr(self.backend, "camera", None) or CameraConfig()
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (cam.height, cam.width, 3), dtype=np.uint8),
                "speed": spaces.Box(-self.config.max_speed, self.config.max_speed, (1,), dtype=np.float32),
                "navigation": spaces.Text(self.config.navigation_max_length, min_length=1, charset=NAV_CHARSET),
            }
        )
        self.action_space = spaces.MultiDiscrete([len(SPEED_ACTIONS), len(PATH_ACTIONS)])
        self.world: WorldState | None = None
        self._image: np.ndarray | None = None

    # ---- gymnasium API ---------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        scenario = self.resolve_scenario(options.get("scenario"))
        self.seed_used = int(options["seed"]) if "seed" in options else int(self.np_random.integers(0, 2**31 - 1))
        try:
            self.backend.load(scenario, self.seed_used)
        except Exception:
            self._replace_backend()
            raise
        world = self.backend.ground_truth()
        check_placements(scenario, world.route, scenario.name)
        road_map = getattr(self.backend, "road_map", None)
        if road_map is None:
            raise RuntimeError(f"backend {self.backend_name} offers no road_map for the controller")
        self.scenario, self.road_map = scenario, road_map
        self.expert = build_expert_planner(dict(self.config.expert))
        dt = float(self.backend.dt)
        self.expert.start_route(PlannerContext(scenario.name, world.route, road_map, dt))
        self.controller = MetaActionController(road_map, self.config.controller)
        self.controller.reset(initial_speed=world.ego.speed)
        self.ticks_per_step = max(1, round(self.config.plan_period / dt))
        self.timeout_s = float(self.config.timeout_s or scenario.criteria.timeout_s)
        self.progress_m = max(0.0, world.route_s)
        self.steps = 0
        self.world = world
        obs, label = self._observe_and_label()
        info = self._info(label, [], self._trajectory([world]), {}, None)
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        chosen = action_of(action)
        label = self.label
        terms = self._planning_terms(chosen, label)
        self.controller.set_action(chosen, self.world.ego)
        events, worlds, ending = [], [], None
        finish_at = self.world.route.length - self.config.finish_tolerance_m
        world = self.world
        for _ in range(self.ticks_per_step):
            control = self.controller.control(world.ego, self.backend.dt, world.route)
            self.backend.step(control)
            tick_events = list(self.backend.events())
            events.extend(tick_events)
            world = self.backend.ground_truth()
            worlds.append(world)
            ending = self._ending(tick_events, world, finish_at)
            if ending is not None:
                break
        self.world = world
        self.steps += 1
        gained = max(0.0, world.route_s - self.progress_m)
        self.progress_m = max(self.progress_m, world.route_s)
        if ending == "route_completed":
            self.progress_m = world.route.length
        terms.update(self._closed_loop_terms(gained, events, ending))
        obs, next_label = self._observe_and_label()
        terminated = ending in ("route_completed", "infraction")
        truncated = ending == "timeout"
        info = self._info(next_label, events, self._trajectory(worlds), terms, ending)
        info["executed"] = str(chosen)
        return obs, float(sum(terms.values())), terminated, truncated, info

    def snapshot(self) -> bytes:
        """The episode's whole state (world, controller, expert, progress) on the embedded backend; `restore`
        continues it exactly, in this env or in one (in any process) reset on the same scenario and seed."""
        from sim.embedded import snapshot

        if self.world is None or not hasattr(self.backend, "snapshot"):
            raise RuntimeError("snapshots need a reset episode on the embedded backend")
        static = snapshot.static_parts(self.backend.world)
        episode = (self.controller, self.expert, self.world, self.progress_m, self.steps, self.label, self._image)
        return pickle.dumps((self.backend.snapshot(), snapshot.dumps(episode, static)), pickle.HIGHEST_PROTOCOL)

    def restore(self, data: bytes) -> None:
        from sim.embedded import snapshot

        world_state, episode = pickle.loads(data)
        self.backend.restore(world_state)
        static = snapshot.static_parts(self.backend.world)
        restored = snapshot.loads(episode, static)
        self.controller, self.expert, self.world, self.progress_m, self.steps, self.label, self._image = restored

    def render(self) -> np.ndarray | None:
        return None if self.world is None else self.frame().copy()

    def frame(self) -> np.ndarray:
        """The current camera image (read-only use); with `images: on_request` it is rendered here, once per step."""
        if self.world is None:
            raise RuntimeError("call reset() before frame()")
        if self._image is None:
            self._image = np.array(self.backend.observe().image, dtype=np.uint8, copy=True)
        return self._image

    def close(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()

    # ---- pieces ----------------------------------------------------------------------------------------------
    def resolve_scenario(self, chosen: Any) -> Any:
        """A validated scenario from a name, a path, a mapping or a Scenario; None picks one of the configured."""
        if chosen is None:
            chosen = self.scenario_names[int(self.np_random.integers(len(self.scenario_names)))]
        if isinstance(chosen, Mapping):
            return scenario_from_dict(dict(chosen))
        if not isinstance(chosen, str):
            return chosen  # an already validated Scenario
        if chosen not in self._scenario_cache:
            self._scenario_cache[chosen] = load_scenario(chosen)
        return self._scenario_cache[chosen]

    def _replace_backend(self) -> None:
        try:
            self.backend.close()
        finally:
            self.backend = self._make_backend()

    def _observe_and_label(self) -> tuple[dict[str, Any], Plan]:
        assert self.world is not None
        on_request = self.config.images == "on_request" and "image" in signature(self.backend.observe).parameters
        observation = self.backend.observe(image=False) if on_request else self.backend.observe()
        self._image = None if on_request else np.array(observation.image, dtype=np.uint8, copy=True)
        shown = observation.image if self._image is None else self._image  # on request: the backend's black image
        navigation = self._navigation(observation.navigation)
        speed = float(np.clip(observation.ego.speed, -self.config.max_speed, self.config.max_speed))
        planner_input = PlannerInput(shown, observation.ego.speed, navigation, observation.time, self.world)
        self.label = self.expert.plan(planner_input)  # the expert decides from the ground truth alone
        obs = {"image": shown, "speed": np.array([speed], dtype=np.float32), "navigation": navigation}
        return obs, self.label

    def _navigation(self, text: str) -> str:
        clean = "".join(c if c in NAV_CHARSET else " " for c in text).strip()
        return (clean or "Follow the lane")[: self.config.navigation_max_length]

    def _planning_terms(self, chosen: MetaAction, label: Plan) -> dict[str, float]:
        cfg = self.config.reward
        answer, truth = [format_answer(chosen)], [format_answer(label.action)]
        return {
            "speed": cfg.planning_scale * speed_reward(answer, truth, config=cfg.planning)[0],
            "path": cfg.planning_scale * path_reward(answer, truth, config=cfg.planning)[0],
        }

    def _closed_loop_terms(self, gained_m: float, events: list[Any], ending: str | None) -> dict[str, float]:
        cfg = self.config.reward
        penalty = float(sum(cfg.infraction_penalties.get(e.type.value, 0.0) for e in events))
        return {
            "progress": cfg.progress_per_m * gained_m,
            "infractions": -penalty,
            "completion": cfg.completion_bonus if ending == "route_completed" else 0.0,
        }

    def _ending(self, events: list[Any], world: WorldState, finish_at: float) -> str | None:
        if any(e.type.value in self.config.terminate_on for e in events):
            return "infraction"
        if max(self.progress_m, world.route_s) >= finish_at:
            return "route_completed"
        if world.time >= self.timeout_s - 1e-9:
            return "timeout"
        return None

    def _trajectory(self, worlds: list[WorldState]) -> dict[str, np.ndarray]:
        rows = [road_lateral(self.road_map, w.ego.x, w.ego.y, w.ego.yaw) for w in worlds]
        return {
            "t": np.array([w.time for w in worlds], dtype=np.float64),
            "x": np.array([w.ego.x for w in worlds], dtype=np.float64),
            "y": np.array([w.ego.y for w in worlds], dtype=np.float64),
            "yaw": np.array([w.ego.yaw for w in worlds], dtype=np.float64),
            "speed": np.array([w.ego.speed for w in worlds], dtype=np.float64),
            "lateral": np.array([r[0] for r in rows], dtype=np.float64),
            "in_junction": np.array([r[1] for r in rows], dtype=bool),
            "on_lane": np.array([r[2] for r in rows], dtype=bool),
        }

    def _info(
        self, label: Plan, events: list[Any], trajectory: dict[str, np.ndarray], terms: dict[str, float], ending: Any
    ) -> dict[str, Any]:
        assert self.world is not None
        world = self.world
        return {
            "expert": str(label.action),
            "expert_index": index_of(label.action),
            "facts": {k: v for k, v in label.facts.items() if k != "explanation"},
            "explanation": label.reasoning or "",
            "infractions": [e.to_dict() for e in events],
            "route_progress": float(min(1.0, self.progress_m / world.route.length)),
            "progress_m": float(self.progress_m),
            "time": float(world.time),
            "reward_terms": terms,
            "ending": ending or "",
            "scenario": self.scenario.name,
            "tags": list(self.scenario.tags),
            "seed": self.seed_used,
            "trajectory": trajectory,
        }


class DriveVectorEnv(gym.vector.AsyncVectorEnv):
    """Worker-process environments whose infos may hold arrays of different lengths per environment.

    A step's `info["trajectory"]` has one row per tick it ran: fewer when the episode ended inside the step, one after
    an autoreset. Gymnasium stacks array infos into one `(num_envs, ...)` array and fails on such a step; here each
    array info becomes an object array of the environments' own arrays. `close()` never waits for ever: a pending call
    or a stuck worker is given `timeout` seconds, then the workers are terminated.
    """

    close_timeout_s: ClassVar[float] = 30.0

    def _add_info(self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int) -> dict[str, Any]:
        arrays = {k: v for k, v in env_info.items() if isinstance(v, np.ndarray)}
        rest = {k: v for k, v in env_info.items() if k not in arrays}
        infos = super()._add_info(vector_infos, rest, env_num)
        for key, value in arrays.items():
            column = infos.get(key)
            if column is None:
                column = np.full(self.num_envs, None, dtype=object)
            column[env_num] = value
            mask = infos.get(f"_{key}", np.zeros(self.num_envs, dtype=np.bool_))
            mask[env_num] = True
            infos[key], infos[f"_{key}"] = column, mask
        return infos

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        super().close_extras(timeout=self.close_timeout_s if timeout is None else timeout, terminate=terminate)


def make_vector_env(
    num_envs: int, config: DriveEnvConfig | Mapping[str, Any] | None = None, context: str | None = "spawn"
) -> DriveVectorEnv:
    """`num_envs` environments in worker processes (one per core is the useful maximum)."""
    if num_envs < 1:
        raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
    fns = [lambda: DriveEnv(config) for _ in range(num_envs)]
    return DriveVectorEnv(fns, context=context)


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="sim.env:DriveEnv")

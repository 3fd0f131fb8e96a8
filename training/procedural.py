"""Randomised scenarios for data collection: towns, routes, traffic density, weather, forced lights, props, lead
vehicles and crossing pedestrians, all drawn from one seed. The result is a scenario mapping in the YAML schema, so
it is validated like any scenario file and every backend that reads scenarios can run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import WEATHER_PRESETS

Range = tuple[float, float]


@dataclass(frozen=True)
class ProceduralConfig:
    arterial_share: float = 0.3  # share of episodes on the multi-lane arterial; the rest on grid towns
    grid_size: tuple[int, int] = (3, 4)  # rows and cols, each drawn from this range
    lanes: tuple[int, int] = (1, 3)
    block_m: Range = (70.0, 140.0)
    signalised: Range = (0.4, 1.0)
    curved: Range = (0.0, 0.4)
    arterial_length_m: Range = (500.0, 900.0)
    arterial_junctions: tuple[int, int] = (1, 4)
    maneuvers: tuple[int, int] = (1, 3)  # junction maneuvers on the route
    turn_share: float = 0.5  # chance that a maneuver is a turn rather than straight
    tail_m: Range = (50.0, 120.0)  # route length after the last junction
    ego_speed: Range = (0.0, 12.0)
    vehicles: tuple[int, int] = (0, 30)
    pedestrians: tuple[int, int] = (0, 20)
    weathers: tuple[str, ...] = WEATHER_PRESETS
    forced_light: float = 0.4  # chance of forcing the first junction's light
    light_states: tuple[str, ...] = ("red", "red", "yellow", "green")
    props: float = 0.3  # chance of a static obstacle (cones, barrier, parked or broken-down car) in the lane
    lead_vehicle: float = 0.35  # chance of a lead vehicle (slow, braking or steady)
    crossing_pedestrian: float = 0.3
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("arterial_share", "turn_share", "forced_light", "props", "lead_vehicle", "crossing_pedestrian"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"procedural.{name} must be in [0, 1], got {getattr(self, name)}")
        unknown = sorted(set(self.weathers) - set(WEATHER_PRESETS))
        if unknown or not self.weathers:
            raise ValueError(f"procedural.weathers: unknown preset(s) {unknown}; choose from {WEATHER_PRESETS}")


def _uniform(rng: np.random.Generator, bounds: Range, digits: int = 1) -> float:
    return round(float(rng.uniform(*bounds)), digits)


def _integer(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _map(rng: np.random.Generator, cfg: ProceduralConfig) -> dict[str, Any]:
    if rng.random() < cfg.arterial_share:
        return {
            "name": "arterial",
            "lanes": _integer(rng, (max(2, cfg.lanes[0]), max(2, cfg.lanes[1]))),
            "length_m": _uniform(rng, cfg.arterial_length_m, 0),
            "junctions": _integer(rng, cfg.arterial_junctions),
        }
    return {
        "name": "grid",
        "rows": _integer(rng, cfg.grid_size),
        "cols": _integer(rng, cfg.grid_size),
        "lanes": _integer(rng, cfg.lanes),
        "block_m": _uniform(rng, cfg.block_m, 0),
        "signalised": _uniform(rng, cfg.signalised, 2),
        "curved": _uniform(rng, cfg.curved, 2),
    }


def _actors(rng: np.random.Generator, cfg: ProceduralConfig, tags: list[str], lanes: int) -> list[dict[str, Any]]:
    """Scripted actors within the first 60 m of the route (every route is longer than that). An obstacle closing
    the lane is only placed where a same-direction lane leads round it (`lanes` >= 2)."""
    actors: list[dict[str, Any]] = []
    if rng.random() < cfg.props and lanes >= 2:
        kind = str(rng.choice(["cone", "barrier", "parked_vehicle", "broken_vehicle"]))
        s = _uniform(rng, (40.0, 60.0))
        if kind == "cone":
            actors += [{"kind": "cone", "at": {"s": s + 3.0 * k, "d": 0.0}} for k in range(4)]
        else:
            actors.append({"kind": kind, "at": {"s": s, "d": 0.0}})
        tags.append(f"obstacle_{kind}")
    if rng.random() < cfg.lead_vehicle:
        kind = str(rng.choice(["vehicle", "vehicle", "truck", "bus"]))
        speed = _uniform(rng, (3.0, 10.0))
        style = str(rng.choice(["steady", "brake"]))
        lead: dict[str, Any] = {
            "kind": kind,
            "at": {"s": _uniform(rng, (20.0, 35.0)), "d": 0.0},
            "speed": speed,
            "behavior": {"type": "follow_lane", "speed": speed},
        }
        if kind == "truck" and rng.random() < 0.5:
            lead["cargo"] = "cones"
        if style == "brake":
            # It drives on after a pause, so an episode on a one-lane road does not stall behind it.
            lead["behavior"] = {
                "type": "brake",
                "decel": _uniform(rng, (3.0, 7.0)),
                "resume_s": _uniform(rng, (2.0, 8.0)),
            }
            lead["trigger"] = {"time_s": _uniform(rng, (3.0, 12.0))}
        actors.append(lead)
        tags.append(f"lead_{style}")
    if rng.random() < cfg.crossing_pedestrian:
        actors.append(
            {
                "kind": "pedestrian",
                "at": {"s": _uniform(rng, (45.0, 60.0)), "d": -6.0},
                "behavior": {"type": "cross", "speed": _uniform(rng, (1.0, 1.8)), "distance_m": 12.0},
                "trigger": {"ego_within_m": _uniform(rng, (25.0, 40.0))},
            }
        )
        tags.append("crossing_pedestrian")
    return actors


def random_scenario(
    seed: int, config: ProceduralConfig | None = None, variant: int = 0, lights: bool = True, actors: bool = True
) -> dict[str, Any]:
    """A scenario mapping drawn from `seed` (and `variant`, for another draw with the same seed when a town cannot
    host the first one). `lights` / `actors` False leave out the forced light / the scripted actors."""
    cfg = config or ProceduralConfig()
    rng = np.random.default_rng([seed, variant, 0x5CE])
    town = _map(rng, cfg)
    n_turns = _integer(rng, cfg.maneuvers)
    maneuvers = [
        str(rng.choice(["left", "right"])) if rng.random() < cfg.turn_share else "straight" for _ in range(n_turns)
    ]
    weather = str(rng.choice(list(cfg.weathers)))
    vehicles, pedestrians = _integer(rng, cfg.vehicles), _integer(rng, cfg.pedestrians)
    tags = ["procedural", town["name"], weather]
    if vehicles >= 20:
        tags.append("dense_traffic")
    if any(m != "straight" for m in maneuvers):
        tags.append("turns")
    scenario: dict[str, Any] = {
        "name": f"procedural_{seed}",
        "description": "Randomised collection episode.",
        "map": town,
        "seed": int(seed),
        "weather": weather,
        "route": {"maneuvers": maneuvers, "length_m": _uniform(rng, cfg.tail_m, 0)},
        "ego": {"speed": _uniform(rng, cfg.ego_speed)},
        "traffic": {"vehicles": vehicles, "pedestrians": pedestrians},
        "criteria": {"timeout_s": cfg.timeout_s},
    }
    forced = rng.random() < cfg.forced_light
    state = str(rng.choice(list(cfg.light_states)))
    duration = _uniform(rng, (4.0, 20.0))
    actor_tags: list[str] = []
    scripted = _actors(rng, cfg, actor_tags, int(town["lanes"]))
    if lights and forced:
        scenario["lights"] = [{"junction": 0, "state": state, "duration_s": duration}]
        tags.append(f"forced_{state}_light")
    if actors:
        scenario["actors"] = scripted
        tags += actor_tags
    scenario["tags"] = tags
    return scenario

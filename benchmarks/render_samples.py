"""Save sample front-camera and BEV images of the embedded simulator to docs/images/ (what the planner sees).

    uv run python benchmarks/render_samples.py

Each sample is a scenario on a generated town loaded into the real backend (traffic, lights, props); the camera is
then placed on the route a chosen distance before the scene of interest.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sim.core import CameraConfig, EgoState, VehicleControl, WorldState
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.bev import render_bev
from sim.embedded.camera import CameraRenderer

TOWN = {"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 90}

# name -> (scenario overrides, where the camera goes, ticks to simulate first). The camera stands on the route either
# `m` metres before the first junction ("junction", m), or before the nearest actor of a kind (kind value, m).
Placement = tuple[str, float]
SAMPLES: dict[str, tuple[dict[str, Any], Placement, int]] = {
    "red_light": (
        {"lights": [{"junction": 0, "state": "red"}], "traffic": {"vehicles": 10, "pedestrians": 6}},
        ("junction", 38.0),
        40,
    ),
    "truck_with_cones": (
        {"actors": [{"kind": "truck", "at": {"s": 30, "d": 0.0}, "speed": 0.0, "cargo": "cones"}]},
        ("truck", 13.0),
        2,
    ),
    "pedestrian_crossing": (
        {
            "actors": [
                {"kind": "pedestrian", "at": {"s": 40, "d": -6.0}, "behavior": {"type": "cross", "speed": 1.4}},
                {"kind": "pedestrian", "at": {"s": 43, "d": 6.0}, "behavior": {"type": "cross", "speed": 1.2}},
            ],
            "traffic": {"vehicles": 6, "pedestrians": 12},
        },
        ("pedestrian", 16.0),
        70,
    ),
    "broken_down_vehicle": (
        {
            "actors": [
                {"kind": "broken_vehicle", "at": {"s": 40, "d": 0.0}},
                {"kind": "cone", "at": {"s": 33, "d": 0.8}},
                {"kind": "cone", "at": {"s": 31, "d": 0.0}},
                {"kind": "cone", "at": {"s": 29, "d": -0.8}},
            ],
            "weather": "cloudy",
        },
        ("broken_vehicle", 24.0),
        2,
    ),
    "night_traffic": ({"weather": "night", "traffic": {"vehicles": 25, "pedestrians": 8}}, ("junction", 45.0), 160),
    "fog": ({"weather": "fog", "traffic": {"vehicles": 20, "pedestrians": 6}}, ("junction", 40.0), 120),
    "wet": ({"weather": "wet", "traffic": {"vehicles": 15, "pedestrians": 4}}, ("junction", 50.0), 100),
    "sunset": ({"weather": "sunset", "traffic": {"vehicles": 15, "pedestrians": 4}}, ("junction", 60.0), 100),
}


def camera_s(world: WorldState, placement: Placement) -> float:
    """Arc length on the route where the camera is placed."""
    what, metres = placement
    route = world.route
    if what == "junction":
        return max(0.0, route.maneuvers[0].s_start - metres) if route.maneuvers else world.route_s
    ahead = [route.project(a.x, a.y) for a in world.actors if a.kind.value == what]
    s_near = min((s for s, d in ahead if abs(d) < 8.0 and s > world.route_s), default=world.route_s + metres)
    return max(0.0, s_near - metres)


def scenario(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    base = {
        "name": name,
        "description": f"sample image: {name.replace('_', ' ')}",
        "map": TOWN,
        "seed": 5,
        "route": {"maneuvers": ["straight", "left"], "length_m": 260},
        "traffic": {"vehicles": 12, "pedestrians": 6},
    }
    return base | overrides


def render_sample(name: str, out_dir: Path, cfg: CameraConfig) -> list[Path]:
    overrides, placement, ticks = SAMPLES[name]
    spec = scenario(name, overrides)
    backend = EmbeddedBackend(render=False)
    try:
        backend.load(spec, spec["seed"])
        for _ in range(ticks):
            backend.step(VehicleControl(brake=1.0))
        world = backend.ground_truth()
        s = camera_s(world, placement)
        x, y, yaw = world.route.to_world(s)
        ego = EgoState(x=x, y=y, yaw=yaw, speed=6.0)
        # Show the scene from the chosen pose; drop NPCs that would sit inside the repositioned ego.
        actors = [a for a in world.actors if np.hypot(a.x - x, a.y - y) > 4.0]
        with CameraRenderer(backend.network, cfg, spec.get("weather", "clear_noon")) as renderer:
            front = renderer.render(ego, actors, world.lights)
        view = type(world)(**{**world.__dict__, "ego": ego, "actors": tuple(actors), "route_s": s})
        bev = render_bev(backend.network, view, size_px=256, range_m=50.0)
    finally:
        backend.close()
    paths = [out_dir / f"camera_{name}.png", out_dir / f"bev_{name}.png"]
    Image.fromarray(front).save(paths[0])
    Image.fromarray(bev).save(paths[1])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--only", nargs="*", choices=sorted(SAMPLES), help="render just these samples")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or SAMPLES:
        for path in render_sample(name, args.out, CameraConfig()):
            print(path)


if __name__ == "__main__":
    main()

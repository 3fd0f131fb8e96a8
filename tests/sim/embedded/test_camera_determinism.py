"""Frames are a function of the pose alone: the same in any process after any history, and never missing ground.

Poses are sampled along suite routes (route.to_world gives position and heading), so these tests need no driver."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from process_helpers import Processes

from scenarios import list_suite, load_scenario
from sim.core import CameraConfig, EgoState
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.camera import CameraRenderer
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.weather import get_weather

REPO = Path(__file__).resolve().parents[3]

# Renders frames along a scenario's route and prints their md5. argv: target scenario, then scenarios to render
# first (their frames are discarded), then "perturbed" to also render the target's poses moved by a few microns.
RENDER_ALONG_ROUTE = """
import hashlib, sys
import numpy as np
from scenarios import load_scenario
from sim.core import EgoState
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.camera import CameraRenderer

def poses(route, step_m=1.5):
    for s in np.arange(0.0, route.length, step_m):
        x, y, yaw = route.to_world(float(s))
        yield x, y, yaw

def render(name, shift=0.0):
    backend = EmbeddedBackend(render=False)
    backend.load(load_scenario(name), 0)
    renderer = CameraRenderer(backend.network)
    frames = [renderer.render(EgoState(x + shift, y - shift, yaw + shift, 0.0), [], [])
              for x, y, yaw in poses(backend.ground_truth().route)]
    renderer.close()
    return frames

target, *history = sys.argv[1:]
for name in history:
    render(target, shift=5e-7) if name == "perturbed" else render(name)
print(hashlib.md5(b"".join(f.tobytes() for f in render(target))).hexdigest())
"""


def _frames_hash(processes: Processes, *args: str) -> str:
    done = processes.run([sys.executable, "-c", RENDER_ALONG_ROUTE, *args], timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_same_poses_give_identical_frames_in_a_fresh_process_and_after_other_scenarios(processes: Processes) -> None:
    fresh = _frames_hash(processes, "unprotected_left_turn")
    after_others = _frames_hash(processes, "unprotected_left_turn", "truck_with_cones", "jaywalker", "perturbed")
    assert fresh == after_others


def _sky_below_horizon(image: np.ndarray, sky: np.ndarray, margin_rows: int) -> int:
    """Pixels below the horizon (pitch 0: the middle row) showing exactly the clear colour: nothing was drawn."""
    below = image[image.shape[0] // 2 + margin_rows :].astype(np.int16)
    return int((np.abs(below - sky).max(axis=-1) <= 1).sum())  # the clear colour, give or take its 8-bit rounding


def test_the_ground_covers_everything_below_the_horizon_at_any_pose() -> None:
    """An empty world shows only sky and ground: a sky-coloured pixel below the horizon is ground that went missing
    (a ground triangle crossing the camera plane used to be dropped whole at about 3% of poses)."""
    sky = np.round(np.asarray(get_weather("clear_noon").sky_horizon) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    bad = []
    with CameraRenderer(RoadNetwork("empty", {}), CameraConfig(), "clear_noon") as renderer:
        poses = np.column_stack([rng.uniform(-600, 600, 800), rng.uniform(-600, 600, 800), rng.uniform(-4, 4, 800)])
        for x, y, yaw in poses.tolist():
            count = _sky_below_horizon(renderer.render(EgoState(x, y, yaw, 0.0), [], []), sky, 3)
            if count:
                bad.append((round(x, 2), round(y, 2), round(yaw, 3), count))
        for x in np.linspace(400.0, 500.0, 400):  # along an axis-aligned heading, where it was first seen
            count = _sky_below_horizon(renderer.render(EgoState(float(x), 118.25, 0.0, 0.0), [], []), sky, 3)
            if count:
                bad.append((float(x), 118.25, 0.0, count))
    assert not bad, f"{len(bad)} of 1200 poses lost ground, e.g. {bad[:4]}"


@pytest.mark.slow
def test_no_suite_frame_shows_sky_below_the_horizon() -> None:
    config = CameraConfig()
    sky = np.round(np.asarray(get_weather("clear_noon").sky_horizon) * 255).astype(np.uint8)
    bad: list[tuple[str, float, int]] = []
    for name in list_suite():
        backend = EmbeddedBackend(render=False)
        backend.load(load_scenario(name), 0)
        route = backend.ground_truth().route
        with CameraRenderer(backend.network, config, "clear_noon") as renderer:
            for s in np.arange(0.0, route.length, 3.0):
                x, y, yaw = route.to_world(float(s), 0.3)  # a little off the centre line, as a driven car is
                count = _sky_below_horizon(renderer.render(EgoState(x, y, yaw, 0.0), [], []), sky, 3)
                if count:
                    bad.append((name, float(s), count))
        backend.close()
    assert not bad, f"{len(bad)} frames with sky below the horizon, e.g. {bad[:5]}"

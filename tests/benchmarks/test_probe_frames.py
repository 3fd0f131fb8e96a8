"""The image-token probe's frames say what the camera shows: the forced light's lit lamp is where its head projects,
placed pedestrians and lead cars are where their labels put them, and the same seed gives the same frames."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from sim.core import CameraConfig, LightColor
from sim.embedded.camera import CameraRenderer
from sim.embedded.lanegraph import LaneGraph
from sim.embedded.scenery import lamp_centres


def _load(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


pf = _load("probe_frames")
CFG = CameraConfig()


@pytest.fixture(scope="module")
def sampler() -> pf.SceneSampler:
    return pf.SceneSampler(next(t for t in pf.TOWNS if t.split == "test"), CFG)


@pytest.fixture(scope="module")
def renderer(sampler: pf.SceneSampler) -> Iterator[CameraRenderer]:
    with CameraRenderer(sampler.network, CFG, "clear_noon") as r:
        yield r


def _scene_at(sampler: pf.SceneSampler, stop_distance: float, seed: int = 0) -> pf.Scene:
    """A scene with the ego `stop_distance` m before the stop line of a straight approach, nothing else placed."""
    scene = sampler.scene(np.random.default_rng(seed))
    path = next(p for p in sampler.paths if abs(np.ptp(np.unwrap(np.arctan2(*np.diff(p.points, axis=0).T)))) < 0.05)
    ego_s = path.stop_s - stop_distance - pf.EGO_LENGTH_M / 2
    x, y, yaw = path.pose(ego_s)
    ego = type(scene.ego)(x, y, yaw, 8.0)
    fixed = {"path": path, "ego": ego, "ego_s": ego_s, "stop_distance_m": stop_distance, "distractors": ()}
    return pf.Scene(**{**scene.__dict__, **fixed})


def _render(renderer: CameraRenderer, sampler: pf.SceneSampler, scene: pf.Scene, **cues: object):
    args = {"colour": "red", "place": "none", "lead": "none", "gap": None} | cues
    actors, lights, label = sampler.variant(scene, "clear_noon", **args)
    return renderer.render(scene.ego, actors, lights), label


def _is(colour: str, px: np.ndarray) -> np.ndarray:
    r, g, b = (px[..., k].astype(int) for k in range(3))
    return {
        "red": (r > 170) & (g < 90) & (b < 90),
        "green": (g > 170) & (r < 110) & (g > b + 40),
        "yellow": (r > 170) & (g > 120) & (b < 90),
    }[colour]


def _window(image: np.ndarray, rc: tuple[int, int], r: int = 2) -> np.ndarray:
    return image[max(0, rc[0] - r) : rc[0] + r + 1, max(0, rc[1] - r) : rc[1] + r + 1]


@pytest.mark.parametrize("stop_distance", [12.0, 40.0, 65.0])
def test_forced_light_shows_its_colour_where_the_head_projects(sampler, renderer, stop_distance):
    scene = _scene_at(sampler, stop_distance)
    for colour in pf.LIGHT_CLASSES:
        image, label = _render(renderer, sampler, scene, colour=colour)
        assert label.light == colour and label.lamp_rc is not None
        assert label.stop_distance_m == pytest.approx(stop_distance, abs=0.01)
        assert 1.2 < label.lamp_px < 6.0  # a few pixels across, as the issue says
        assert _is(colour, _window(image, label.lamp_rc)).any(), (colour, label)
        head = sampler.network.lights[scene.path.light_id]
        for other in set(pf.LIGHT_CLASSES) - {colour}:  # the other lamps of our head stay dark
            row, col, _ = pf.project(CFG, scene.ego, lamp_centres(head)[LightColor(other)])
            assert not _is(other, _window(image, (int(row), int(col)), 1)).any(), (colour, other)


def test_placed_pedestrian_is_where_its_label_says(sampler, renderer):
    scene = _scene_at(sampler, 40.0)
    graph = LaneGraph(sampler.network)
    path_lanes = {graph.index[i] for i in scene.path.lane_ids}
    empty, _ = _render(renderer, sampler, scene)
    for place in ("lane", "side"):
        image, label = _render(renderer, sampler, scene, place=place)
        assert label.pedestrian == ("in_lane" if place == "lane" else "none")
        assert label.pedestrian_distance_m == pytest.approx(scene.pedestrian_distance_m, abs=0.01)
        changed = np.argwhere(np.abs(image.astype(int) - empty.astype(int)).sum(-1) > 30)
        assert len(changed) > 0
        rows, cols = changed[:, 0], changed[:, 1]
        row, col = label.pedestrian_rc
        assert rows.min() - 2 <= row <= rows.max() + 2 and cols.min() - 2 <= col <= cols.max() + 2
        actors, _, _ = sampler.variant(scene, "clear_noon", "red", place, "none", None)
        ped = actors[-1]
        on = {hit.lane for hit in graph.lanes_near(ped.x, ped.y, 0.0)}
        assert bool(on & path_lanes) == (place == "lane"), (place, on)


@pytest.mark.parametrize("gap", [6.0, 18.0, 40.0])
def test_lead_car_bottom_edge_sits_at_its_gap(sampler, renderer, gap):
    scene = _scene_at(sampler, 60.0)
    empty, _ = _render(renderer, sampler, scene)
    lead = next(k for k, (lo, hi) in pf.LEAD_GAPS_M.items() if lo <= gap < hi)
    image, label = _render(renderer, sampler, scene, lead=lead, gap=gap)
    assert label.lead == lead and label.lead_gap_m == gap
    changed = np.argwhere(np.abs(image.astype(int) - empty.astype(int)).sum(-1) > 30)
    # The car's lowest image row is where its rear tyres touch the ground, less than a metre past its rear bumper;
    # a ground point `m` metres ahead of the camera projects focal * camera height / m below the horizon.
    focal = CFG.width / 2 / math.tan(math.radians(CFG.fov_deg) / 2)
    ahead = pf.EGO_LENGTH_M / 2 - CFG.x + gap
    nearest, farthest = (CFG.height / 2 + focal * CFG.z / m for m in (ahead, ahead + 1.0))
    assert farthest - 1.5 <= changed[:, 0].max() <= nearest + 1.5, (gap, changed[:, 0].max(), farthest, nearest)
    row, col = label.lead_rc  # the middle of its rear is inside what changed
    assert changed[:, 0].min() <= row <= changed[:, 0].max() and changed[:, 1].min() <= col <= changed[:, 1].max()


def test_frames_are_deterministic_and_test_towns_are_held_out():
    towns = tuple(t for t in pf.TOWNS if t.split == "test")[:1]
    first = list(pf.render_frames(towns, ("fog",), 2, seed=3, variants=2))
    again = list(pf.render_frames(towns, ("fog",), 2, seed=3, variants=2))
    assert len(first) == 4
    for (a, la), (b, lb) in zip(first, again, strict=True):
        assert la == lb and np.array_equal(a, b)
    assert first[0][1].light != first[1][1].light  # a scene's variants show different colours
    train = {(t.spec["lanes"], t.seed) for t in pf.TOWNS if t.split == "train"}
    assert all((t.spec["lanes"], t.seed) not in train for t in pf.TOWNS if t.split == "test")

"""The scenery's levels of detail: far tiles draw less geometry, near ones draw exactly what they did, and the frame
barely changes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import GeomNode, LODNode, NodePath

from scenarios import load_scenario
from sim.core import VehicleControl, WorldState
from sim.embedded import scenery
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.camera import CameraRenderer
from sim.embedded.weather import get_weather


@pytest.fixture(scope="module")
def arterial() -> Iterator[tuple[EmbeddedBackend, WorldState]]:
    """A long straight town (buildings along 800 m), ego a few seconds into the route looking down it."""
    backend = EmbeddedBackend(render=False)
    backend.load(load_scenario("truck_with_cones"), 0)
    for _ in range(40):
        backend.step(VehicleControl(throttle=0.3))
    yield backend, backend.ground_truth()
    backend.close()


def triangles(path: NodePath) -> int:
    geom_node: GeomNode = path.node()  # type: ignore[assignment]
    geoms = (geom_node.get_geom(i) for i in range(geom_node.get_num_geoms()))
    return sum(g.get_primitive(j).get_num_faces() for g in geoms for j in range(g.get_num_primitives()))


def frame(backend: EmbeddedBackend, world: WorldState, lod_m: float, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setattr(scenery, "LOD_NEAR_M", lod_m)
    scenery.clear_scenery_cache()
    try:
        with CameraRenderer(backend.network) as renderer:
            return renderer.render(world.ego, world.actors, world.lights)
    finally:
        scenery.clear_scenery_cache()


def test_far_tiles_hold_a_fraction_of_the_near_geometry(arterial) -> None:
    backend, _ = arterial
    built = scenery.build_scenery(backend.network, get_weather("clear_noon"))
    for layer in (built.solid, built.flat[scenery.ROAD], built.flat[scenery.PAINT]):  # no puddles: a dry day
        tiles = layer.get_children()  # one LODNode per tile: its near child, then its far child
        assert tiles and all(tile.node().is_of_type(LODNode) for tile in tiles)
        near = sum(triangles(tile.get_child(0)) for tile in tiles)
        far = sum(triangles(tile.get_child(1)) for tile in tiles)
        assert 0 < far < near / 2, (layer.get_name(), near, far)


def test_the_far_level_changes_only_distant_pixels_and_few_of_them(arterial, monkeypatch) -> None:
    backend, world = arterial
    lod = frame(backend, world, scenery.LOD_NEAR_M, monkeypatch)
    full = frame(backend, world, 1e7, monkeypatch)
    changed = np.abs(full.astype(int) - lod).max(axis=-1) > 0
    assert changed.any(), "no far tile was drawn at its far level from a pose looking down an 800 m street"
    assert changed.mean() < 0.005
    horizon = full.shape[0] // 2  # the camera looks level: everything below mid-height is ground nearer than 250 m
    assert not changed[horizon + 4 :].any()


def test_wall_bands_stack_from_the_ground_to_the_roof_without_gaps_or_repeats() -> None:
    base = scenery.BUILDING_COLOURS[0]
    for height in (3.0, 6.5, 18.2, 32.0):
        bands = scenery._wall_bands(height, base)
        assert bands[0][0] == 0.0 and bands[-1][1] == height
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bands))
        assert all(a[2] != b[2] for a, b in itertools.pairwise(bands))  # adjacent walls are merged
        assert sum(rgb == scenery.PALETTE["glass"] for _, _, rgb in bands) == max(1, int(height / scenery.FLOOR_M))


def test_simplification_keeps_the_ends_of_a_straight_run_and_every_bend() -> None:
    straight = np.column_stack([np.arange(21) * 2.0, np.zeros(21)])
    assert scenery._kept_vertices(straight) == [0, 20]
    bent = np.concatenate([straight, [[40.0, 2.0 * k] for k in range(1, 6)]])
    assert scenery._kept_vertices(bent) == [0, 20, 25]

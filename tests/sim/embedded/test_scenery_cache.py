"""The per-process scenery cache: a town is built once per weather, renderers get copies that draw the same frames."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios import load_scenario
from sim.core import ActorKind, ActorState, EgoState, LightColor, TrafficLightState
from sim.embedded import scenery
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.camera import CameraRenderer
from sim.embedded.scenario_map import build_scenario_map
from sim.embedded.weather import get_weather


@pytest.fixture(autouse=True)
def empty_cache():
    scenery.clear_scenery_cache()
    yield
    scenery.clear_scenery_cache()


def _frames(renderer: CameraRenderer, network, route) -> list[np.ndarray]:
    """Frames along the route with a car ahead and every light red, then green."""
    out = []
    for s in np.arange(0.0, min(route.length, 120.0), 8.0):
        x, y, yaw = route.to_world(float(s))
        ax, ay, ayaw = route.to_world(float(s) + 15.0)
        car = ActorState(1, ActorKind.VEHICLE, ax, ay, ayaw, 0.0, 4.6, 1.9, 1.5)
        colour = LightColor.RED if int(s) % 16 == 0 else LightColor.GREEN
        lights = [TrafficLightState(h.id, colour, h.position, h.stop_line, tuple(h.lane_ids))
                  for h in network.lights.values()]  # fmt: skip
        out.append(renderer.render(EgoState(x, y, yaw, 0.0), [car], lights))
    return out


def test_a_cached_town_draws_the_same_frames_as_a_fresh_build_even_after_the_first_renderer_closed() -> None:
    built = build_scenario_map(load_scenario("red_light_stop"))
    route = built.plan.route
    first = CameraRenderer(built.network)
    cold = _frames(first, built.network, route)
    assert scenery.CACHE_STATS["builds"] >= 1
    hits = scenery.CACHE_STATS["hits"]
    first.close()
    again = build_scenario_map(load_scenario("red_light_stop"))  # another network object, the same town
    with CameraRenderer(again.network) as second:
        warm = _frames(second, again.network, route)
    assert scenery.CACHE_STATS["hits"] == hits + 1
    assert len(cold) > 5
    for a, b in zip(cold, warm, strict=True):
        np.testing.assert_array_equal(a, b)


def test_two_renderers_of_one_town_are_independent() -> None:
    built = build_scenario_map(load_scenario("red_light_stop"))
    route = built.plan.route
    with CameraRenderer(built.network) as a, CameraRenderer(built.network) as b:
        x, y, yaw = route.to_world(10.0)
        ego = EgoState(x, y, yaw, 0.0)
        car = ActorState(1, ActorKind.VEHICLE, *route.to_world(20.0), 0.0, 4.6, 1.9, 1.5)
        with_car = a.render(ego, [car], [])
        empty = b.render(ego, [], [])
        assert not np.array_equal(with_car, empty)  # b's scene graph does not see a's actors
        np.testing.assert_array_equal(a.render(ego, [], []), empty)


def test_the_key_is_the_town_and_the_weather_and_the_cache_is_bounded() -> None:
    town_a = build_scenario_map(load_scenario("red_light_stop")).network
    town_b = build_scenario_map(load_scenario("truck_with_cones")).network
    assert scenery.network_digest(town_a) != scenery.network_digest(town_b)
    assert scenery.network_digest(town_a) == scenery.network_digest(
        build_scenario_map(load_scenario("red_light_stop")).network
    )
    for name in ("clear_noon", "night", "wet", "fog", "sunset", "cloudy"):
        scenery.scenery_for(town_a, get_weather(name))
    assert scenery.CACHE_STATS["builds"] >= 6
    assert len(scenery._CACHE) == scenery.SCENERY_CACHE_SIZE
    # the oldest entries went first: clear_noon is rebuilt, cloudy (the newest) is a hit
    builds, hits = scenery.CACHE_STATS["builds"], scenery.CACHE_STATS["hits"]
    scenery.scenery_for(town_a, get_weather("cloudy"))
    assert scenery.CACHE_STATS["hits"] == hits + 1
    scenery.scenery_for(town_b, get_weather("cloudy"))
    assert scenery.CACHE_STATS["builds"] == builds + 1


def test_a_backend_reloading_a_town_builds_its_scenery_once() -> None:
    backend = EmbeddedBackend(render=True)
    scenario = load_scenario("red_light_stop")
    backend.load(scenario, 0)
    builds = scenery.CACHE_STATS["builds"]
    for seed in (1, 2):  # the run seed moves traffic, not the town
        backend.load(scenario, seed)
    backend.close()
    assert scenery.CACHE_STATS["builds"] == builds

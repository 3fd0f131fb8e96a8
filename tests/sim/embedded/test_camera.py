"""Behaviour of the embedded front camera: what appears where, depth order, determinism, presets, lifecycle."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from sim.core import ActorKind, ActorState, CameraConfig, EgoState, LightColor, TrafficLightState
from sim.embedded.camera import CameraRenderer
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.scenery import lamp_centres
from sim.embedded.weather import WEATHERS

LANE_Y = -1.75  # the eastbound lane of the hand-built crossroads; its light head is "L_W"


def project(cfg: CameraConfig, ego: EgoState, point: tuple[float, float, float]) -> tuple[int, int]:
    """Pinhole projection of a world point to (row, col), written out independently of the renderer."""
    c, s = math.cos(ego.yaw), math.sin(ego.yaw)
    cam = np.array([ego.x + c * cfg.x - s * cfg.y, ego.y + s * cfg.x + c * cfg.y, cfg.z])
    d = np.asarray(point) - cam
    forward, left = d @ [c, s, 0.0], d @ [-s, c, 0.0]
    assert forward > 0, "point is behind the camera"
    focal = cfg.width / 2 / math.tan(math.radians(cfg.fov_deg) / 2)
    col = cfg.width / 2 - focal * left / forward
    row = cfg.height / 2 - focal * d[2] / forward
    return int(row), int(col)


def lights(network: RoadNetwork, colour: LightColor) -> list[TrafficLightState]:
    return [
        TrafficLightState(h.id, colour, h.position, h.stop_line, tuple(h.lane_ids)) for h in network.lights.values()
    ]


def is_red(px: np.ndarray) -> np.ndarray:
    px = px.astype(int)
    return (px[..., 0] > 170) & (px[..., 1] < 90) & (px[..., 2] < 90)


def is_green(px: np.ndarray) -> np.ndarray:
    px = px.astype(int)
    return (px[..., 1] > 170) & (px[..., 0] < 110) & (px[..., 1] > px[..., 2] + 40)


def window(image: np.ndarray, rc: tuple[int, int], r: int = 3) -> np.ndarray:
    return image[max(0, rc[0] - r) : rc[0] + r + 1, max(0, rc[1] - r) : rc[1] + r + 1]


def vehicle(actor_id: int, x: float, kind: ActorKind = ActorKind.VEHICLE, **dims: float) -> ActorState:
    size = {"length": 4.6, "width": 1.9, "height": 1.5} | dims
    return ActorState(actor_id, kind, x, LANE_Y, 0.0, 0.0, size["length"], size["width"], size["height"])


@pytest.fixture(scope="module")
def renderer(network: RoadNetwork) -> Iterator[CameraRenderer]:
    r = CameraRenderer(network)
    yield r
    r.close()


@pytest.mark.parametrize("distance", [20.0, 50.0])
def test_red_and_green_lamps_show_where_the_head_projects(renderer, network, distance):
    head = network.lights["L_W"]
    ego = EgoState(x=head.position[0] - distance - renderer.config.x, y=LANE_Y, yaw=0.0, speed=8.0)
    red_img = renderer.render(ego, [], lights(network, LightColor.RED))
    green_img = renderer.render(ego, [], lights(network, LightColor.GREEN))
    red_at = project(renderer.config, ego, lamp_centres(head)[LightColor.RED])
    green_at = project(renderer.config, ego, lamp_centres(head)[LightColor.GREEN])
    assert is_red(window(red_img, red_at)).any()
    assert is_green(window(green_img, green_at)).any()
    # The unlit lamps stay dark: no red where the red lamp is when the light is green, and vice versa.
    assert not is_red(window(green_img, red_at)).any()
    assert not is_green(window(red_img, green_at)).any()


def test_frames_are_deterministic(renderer, network):
    ego = EgoState(x=-60.0, y=LANE_Y, yaw=0.02, speed=5.0)
    actors = [vehicle(1, -40.0), vehicle(2, -25.0, ActorKind.TRUCK, length=8.0, width=2.5, height=3.2)]
    a = renderer.render(ego, actors, lights(network, LightColor.RED))
    renderer.render(EgoState(x=-20.0, y=3.0, yaw=1.0, speed=0.0), actors[:1], lights(network, LightColor.GREEN))
    b = renderer.render(ego, actors, lights(network, LightColor.RED))
    with CameraRenderer(network) as fresh:
        c = fresh.render(ego, list(reversed(actors)), lights(network, LightColor.RED))
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_a_nearer_actor_hides_a_farther_one_and_the_road(renderer, network):
    ego = EgoState(x=-80.0, y=LANE_Y, yaw=0.0, speed=0.0)
    green = lights(network, LightColor.GREEN)
    near = vehicle(7, -65.0, ActorKind.TRUCK, length=8.0, width=2.5, height=3.2)
    far = vehicle(2, -45.0, ActorKind.BUS, length=12.0, width=2.6, height=3.2)
    empty = renderer.render(ego, [], green)
    only_near = renderer.render(ego, [near], green)
    only_far = renderer.render(ego, [far], green)
    both_far_first = renderer.render(ego, [far, near], green)
    both_near_first = renderer.render(ego, [near, far], green)
    at = project(renderer.config, ego, (near.x - near.length / 2, LANE_Y, 1.5))  # rear face of the truck
    assert np.abs(window(only_near, at).astype(int) - window(empty, at)).sum() > 0  # the truck covers the road
    covered = np.any(only_near != empty, axis=-1)
    hidden = covered & np.any(only_far != empty, axis=-1)  # pixels where each actor alone would show
    assert hidden.sum() > 50
    assert np.array_equal(both_far_first[hidden], only_near[hidden])
    assert np.array_equal(both_far_first, both_near_first)


def test_shape_dtype_follow_the_config_and_fov_magnifies(network):
    head = network.lights["L_W"]
    ego = EgoState(x=head.position[0] - 45.0, y=LANE_Y, yaw=0.0, speed=0.0)
    red_counts = {}
    for cfg in (CameraConfig(), CameraConfig(width=320, height=180, fov_deg=40.0)):
        with CameraRenderer(network, cfg) as r:
            img = r.render(ego, [], lights(network, LightColor.RED))
        assert img.shape == (cfg.height, cfg.width, 3) and img.dtype == np.uint8 and img.flags["C_CONTIGUOUS"]
        assert is_red(window(img, project(cfg, ego, lamp_centres(head)[LightColor.RED]))).any()
        red_counts[cfg.fov_deg] = int(is_red(img).sum())
    assert red_counts[40.0] > 2 * red_counts[90.0]


def test_every_weather_renders_night_is_darker_and_lights_stay_readable(network):
    head = network.lights["L_W"]
    ego = EgoState(x=head.position[0] - 40.0, y=LANE_Y, yaw=0.0, speed=0.0)
    cfg = CameraConfig(width=240, height=136)
    brightness = {}
    for name in WEATHERS:
        with CameraRenderer(network, cfg, weather=name) as r:
            img = r.render(ego, [vehicle(1, ego.x + 20.0)], lights(network, LightColor.RED))
        assert img.std() > 5, name
        brightness[name] = float(img.mean())
        assert is_red(window(img, project(cfg, ego, lamp_centres(head)[LightColor.RED]), 2)).any(), name
    assert brightness["night"] < 0.4 * brightness["clear_noon"]
    with pytest.raises(ValueError, match="clear_noon"):
        CameraRenderer(network, cfg, weather="snow")


def test_renderers_can_coexist_and_close_in_any_order(network):
    cfg = CameraConfig(width=64, height=36)
    ego = EgoState(x=-50.0, y=LANE_Y, yaw=0.0, speed=0.0)
    for _ in range(2):
        group = [CameraRenderer(network, cfg, weather=w) for w in ("clear_noon", "night", "fog")]
        frames = [r.render(ego, [], []) for r in group]
        assert frames[0].mean() > frames[1].mean()
        group[1].close()
        assert np.array_equal(group[0].render(ego, [], []), frames[0])
        for r in group:
            r.close()
            r.close()
    with pytest.raises(RuntimeError):
        group[0].render(ego, [], [])


def test_generated_town_shows_a_red_light_ahead():
    towns = pytest.importorskip("sim.embedded.towns")
    net = towns.build_network({"name": "grid", "rows": 3, "cols": 3, "lanes": 2, "block_m": 90}, seed=7)
    head = next(iter(net.lights.values()))
    lane = net.lanes[head.lane_ids[-1]]
    p, q = lane.centre[-30], lane.centre[-29]
    ego = EgoState(x=float(p[0]), y=float(p[1]), yaw=math.atan2(q[1] - p[1], q[0] - p[0]), speed=5.0)
    with CameraRenderer(net) as r:
        img = r.render(ego, [], lights(net, LightColor.RED))
    assert is_red(window(img, project(r.config, ego, lamp_centres(head)[LightColor.RED]))).any()

"""Behaviour of the top-down BEV: ego-centred and heading-up, route highlighted, light states as coloured dots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core import ActorKind, ActorState, EgoState, LightColor, Route, TrafficLightState, WorldState
from sim.embedded.bev import ACTOR_COLOURS, COLOURS, LIGHT_COLOURS, BevRenderer, render_bev
from sim.embedded.roadnet import RoadNetwork

SIZE, RANGE = 256, 60.0
PPM = SIZE / (2 * RANGE)


def world_at(network: RoadNetwork, ego: EgoState, colour: LightColor, actors=()) -> WorldState:
    lane = network.lanes["W_in"]
    route = Route(lane.centre, tuple(["W_in"] * len(lane.centre)))
    lights = tuple(TrafficLightState(h.id, colour, h.position, h.stop_line) for h in network.lights.values())
    s, _ = route.project(ego.x, ego.y)
    return WorldState(0.0, ego, tuple(actors), lights, route, s, "W_in", 13.9)


def heading_up_px(ego: EgoState, x: float, y: float) -> tuple[int, int]:
    """(row, col) of a world point in a heading-up view: ahead is up, left is left."""
    dx, dy = x - ego.x, y - ego.y
    ahead = dx * math.cos(ego.yaw) + dy * math.sin(ego.yaw)
    left = -dx * math.sin(ego.yaw) + dy * math.cos(ego.yaw)
    return int(SIZE / 2 - ahead * PPM), int(SIZE / 2 - left * PPM)


@pytest.fixture(scope="module")
def bev(network: RoadNetwork) -> BevRenderer:
    return BevRenderer(network, SIZE, RANGE)


def test_ego_is_centred_and_points_up(bev, network):
    ego = EgoState(x=-50.0, y=-1.75, yaw=0.0, speed=5.0)
    img = bev.render(world_at(network, ego, LightColor.RED))
    assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8
    assert tuple(img[SIZE // 2, SIZE // 2]) == COLOURS["ego"]
    nose = heading_up_px(ego, ego.x + ego.length / 2 - 0.15, ego.y)
    tail = heading_up_px(ego, ego.x - ego.length / 2 + 0.3, ego.y)
    assert tuple(img[nose]) == COLOURS["heading"]  # the heading bar is at the top of the ego box
    assert tuple(img[tail]) == COLOURS["ego"]
    north_up = bev.render(world_at(network, ego, LightColor.RED), heading_up=False)
    east = int(SIZE / 2 + (ego.length / 2 - 0.15) * PPM)
    assert tuple(north_up[SIZE // 2, east]) == COLOURS["heading"]  # yaw 0 faces +x: right in a north-up view


def test_route_is_highlighted_ahead_and_actors_drawn(bev, network):
    ego = EgoState(x=-80.0, y=-1.75, yaw=0.0, speed=5.0)
    car = ActorState(3, ActorKind.VEHICLE, -60.0, -1.75, 0.0, 5.0, 4.6, 1.9, 1.5)
    img = bev.render(world_at(network, ego, LightColor.GREEN, [car])).astype(int)
    route_px = img[heading_up_px(ego, -45.0, -1.75)]
    assert route_px[2] > route_px[0] + 60 and route_px[2] > 150  # blue route over the grey lane
    off_route = img[heading_up_px(ego, -45.0, 1.75)]
    assert off_route[2] < off_route[0] + 30  # the opposite lane is not highlighted
    assert img[heading_up_px(ego, car.x - 1.0, car.y)][0] > 200  # the orange car box


@pytest.mark.parametrize("colour, channel", [(LightColor.RED, 0), (LightColor.GREEN, 1)])
def test_light_dot_shows_its_state_at_the_stop_line(bev, network, colour, channel):
    ego = EgoState(x=-40.0, y=-1.75, yaw=0.0, speed=5.0)
    img = bev.render(world_at(network, ego, colour)).astype(int)
    (ax, ay), (bx, by) = network.lights["L_W"].stop_line
    px = img[heading_up_px(ego, (ax + bx) / 2, (ay + by) / 2)]
    assert px[channel] > 200 and all(px[c] < 90 for c in range(3) if c != channel)


def test_one_shot_equals_cached_renderer_and_is_deterministic(bev, network):
    world = world_at(network, EgoState(x=-30.0, y=-1.0, yaw=0.3, speed=5.0), LightColor.YELLOW)
    a = bev.render(world)
    assert np.array_equal(a, bev.render(world))
    assert np.array_equal(a, render_bev(network, world, SIZE, RANGE))


def test_a_pedestrian_is_a_ringed_dot_in_a_colour_no_light_or_vehicle_has(bev, network):
    ego = EgoState(x=-50.0, y=-1.75, yaw=0.0, speed=5.0)
    walker = ActorState(7, ActorKind.PEDESTRIAN, -40.0, 2.0, 0.0, 1.2, 0.5, 0.5, 1.8)
    image = bev.render(world_at(network, ego, LightColor.GREEN, [walker]))
    colour = np.array(ACTOR_COLOURS[ActorKind.PEDESTRIAN])
    row, col = heading_up_px(ego, walker.x, walker.y)
    patch = image[row - 6 : row + 7, col - 6 : col + 7].astype(int)
    assert (np.abs(patch - colour).sum(-1) < 30).sum() >= 20  # at 2 px/m a 0.5 m box would be one pixel
    others = [*LIGHT_COLOURS.values(), *(c for k, c in ACTOR_COLOURS.items() if k is not ActorKind.PEDESTRIAN)]
    assert min(np.abs(np.array(c) - colour).sum() for c in others) > 150

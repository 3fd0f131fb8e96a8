"""Ground truth's actor table: the state of its own tick, built on first read, read and pickled as a tuple."""

from __future__ import annotations

import pickle

from world_helpers import scenario

from sim.core import ActorKind, VehicleControl
from sim.embedded.actor_table import ActorTable
from sim.embedded.world import World


def _busy_world() -> World:
    sc = scenario(
        traffic={"vehicles": 30, "pedestrians": 20},
        actors=[{"kind": "parked_vehicle", "at": {"s": 30, "d": -3.0}}],
    )
    world = World(sc, 2)
    for _ in range(20):
        world.step(VehicleControl(throttle=0.3))
    return world


def test_a_table_read_later_shows_the_tick_it_was_made_in() -> None:
    world = _busy_world()
    unread = world.ground_truth().actors
    read_now = tuple(ActorTable(world.traffic, world.pedestrians, world.props, world.graph.ids))
    assert isinstance(unread, ActorTable) and len(unread) == len(read_now) > 50  # len needs no build
    kinds = {a.kind for a in read_now}
    assert {ActorKind.VEHICLE, ActorKind.PEDESTRIAN, ActorKind.PARKED_VEHICLE} <= kinds
    prop = world.props.ids.index(next(a.id for a in read_now if a.kind == ActorKind.PARKED_VEHICLE))
    world.props.open_door(world.graph, prop, 1.0)
    for _ in range(10):
        world.step(VehicleControl(throttle=0.3))
    assert unread == read_now and repr(unread) == repr(read_now)
    assert unread[0] == read_now[0] and unread[-3:] == read_now[-3:]
    assert tuple(world.ground_truth().actors) != read_now  # the world moved on; the old table did not
    assert not any(a.attributes.get("door_open") for a in read_now)


def test_a_table_pickles_as_the_tuple_it_stands_for() -> None:
    world = _busy_world()
    table = world.ground_truth().actors
    copy = pickle.loads(pickle.dumps(table))
    assert type(copy) is tuple and copy == table

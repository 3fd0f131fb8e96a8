"""One route's hold on a CARLA server: the town, synchronous mode, the Traffic Manager, the ego and everything
spawned for the route; `close()` gives all of it back on every exit path so the server is never left blocked.

Synchronous mode with a fixed tick means the server waits for our `tick()`; a client that leaves without switching
it off (and the Traffic Manager's) freezes the server for the next user. When a call times out the server is taken
for lost: cleanup then skips further calls, each of which would only wait out the timeout again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import carla

from scenarios import ScenarioError
from sim.carla_backend.blueprints import pick
from sim.carla_backend.client import CarlaServerLost, server_calls
from sim.carla_backend.config import CarlaConfig

MAP_LOAD_TIMEOUT_S = 120.0  # loading a town takes far longer than an ordinary call


OUR_ROLES = ("hero", "background")  # role names we give; scenario actors get "scenario_<index>"


def leftover_ids(actors: list[Any]) -> list[int]:
    """Actors a previous run of ours left behind (a killed process cannot clean up), with whatever is attached to
    them (sensors, walker controllers, cargo): children first."""
    ours = {
        int(a.id)
        for a in actors
        if (role := a.attributes.get("role_name", "")) in OUR_ROLES or role.startswith("scenario_")
    }
    children = [int(a.id) for a in actors if a.parent is not None and int(a.parent.id) in ours]
    return children + sorted(ours)


def town_name(map_name: str) -> str:
    """ "Town03" from a server's map name such as "Carla/Maps/Town03" or "/Game/Carla/Maps/Town03/Town03"."""
    return map_name.rstrip("/").rsplit("/", 1)[-1]


class CarlaSession:
    def __init__(self, client: Any, config: CarlaConfig) -> None:
        self.client, self.config = client, config
        self.world: Any = None
        self.tm: Any = None
        self.ego: Any = None
        self.original_settings: Any = None
        self.lost = False
        self.cleanups: list[tuple[str, Callable[[], None]]] = []  # run newest first by close()

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Server calls inside: a time-out or dropped connection becomes CarlaServerLost and marks the server lost."""
        try:
            with server_calls(self.config.address, what):
                yield
        except CarlaServerLost:
            self.lost = True
            raise

    def open_town(self, town: str, source: str) -> Any:
        cfg = self.config
        with self.guard(f"loading {town}"):
            world = self.client.get_world()
            if cfg.reload_map or town_name(world.get_map().name) != town:
                available = sorted(town_name(m) for m in self.client.get_available_maps())
                if town not in available:
                    raise ScenarioError(
                        source, [f"map.name: {town} is not on the CARLA server at {cfg.address}; it has {available}"]
                    )
                self.client.set_timeout(max(cfg.timeout_s, MAP_LOAD_TIMEOUT_S))
                try:
                    world = self.client.load_world(town)
                finally:
                    self.client.set_timeout(cfg.timeout_s)
        self.world = world
        if cfg.clean_leftovers:
            with self.guard("removing actors left by an earlier run"):
                ids = leftover_ids(list(world.get_actors()))
                if ids:
                    self.client.apply_batch_sync([carla.command.DestroyActor(i) for i in ids], False)
        return world

    def synchronous(self, seed: int) -> None:
        """Fixed-step synchronous world and Traffic Manager (seeded, hybrid physics); undone by close()."""
        cfg, world = self.config, self.world
        with self.guard("switching to synchronous mode"):
            self.original_settings = world.get_settings()
            settings = world.get_settings()
            settings.synchronous_mode = True
            settings.fixed_delta_seconds = cfg.dt
            settings.no_rendering_mode = cfg.no_rendering_mode
            world.apply_settings(settings)
            self.cleanups.append(("restoring the world settings", self._restore_settings))
            self.tm = self.client.get_trafficmanager(cfg.tm_port)
            self.tm.set_synchronous_mode(True)
            self.cleanups.append(("switching the Traffic Manager to asynchronous", self._tm_async))
            self.tm.set_random_device_seed(int(seed))
            self.tm.set_hybrid_physics_mode(cfg.hybrid_physics)
            self.tm.set_hybrid_physics_radius(cfg.hybrid_physics_radius_m)
            world.set_pedestrians_seed(int(seed))

    def spawn_ego(self, transform: carla.Transform) -> Any:
        with self.guard("spawning the ego"):
            library = self.world.get_blueprint_library()
            bp = pick(library, (self.config.ego_blueprint, "vehicle.lincoln.mkz_2020", "vehicle.*"), "the ego")
            bp.set_attribute("role_name", "hero")
            ego = self.world.try_spawn_actor(bp, transform)
        if ego is None:
            loc = transform.location
            raise RuntimeError(f"could not spawn the ego at CARLA ({loc.x:.1f}, {loc.y:.1f}, {loc.z:.1f}): occupied")
        self.ego = ego
        return ego

    def tick(self) -> int:
        with self.guard("a simulation tick"):
            return int(self.world.tick(self.config.timeout_s))

    def destroy_later(self, ids: Callable[[], list[int]], before: Callable[[], None] | None = None) -> None:
        """Destroy these actors (ids asked for at close time, after `before` ran) before the settings are restored."""

        def destroy() -> None:
            if before is not None:
                before()
            batch = [carla.command.DestroyActor(i) for i in ids()]
            if batch:
                self.client.apply_batch_sync(batch, False)
                self.world.tick(self.config.timeout_s)

        self.cleanups.append(("destroying the route's actors", destroy))

    def _tm_async(self) -> None:
        self.tm.set_synchronous_mode(False)

    def _restore_settings(self) -> None:
        settings = self.original_settings
        settings.synchronous_mode = False  # whatever it was: a server left in synchronous mode blocks
        self.world.apply_settings(settings)

    def close(self) -> None:
        """Undo everything, newest first; each step on its own, none after the server is found lost."""
        while self.cleanups:
            what, fn = self.cleanups.pop()
            if self.lost:
                continue
            try:
                with self.guard(what):
                    fn()
            except CarlaServerLost as err:
                print(f"warning: CARLA cleanup stopped: {err}", file=sys.stderr)
            except Exception as err:  # one failed step must not keep the others from running
                print(f"warning: CARLA cleanup step '{what}' failed: {type(err).__name__}: {err}", file=sys.stderr)
        self.world = self.tm = self.ego = None

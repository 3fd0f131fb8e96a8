"""`EmbeddedBackend`: the built-in simulator behind the shared `sim.core.Backend` protocol."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sim.core import CameraConfig, Infraction, Observation, Turn, VehicleControl, WorldState
from sim.embedded import snapshot
from sim.embedded.roadmap import EmbeddedRoadMap
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.routing import PlannedRoute
from sim.embedded.world import World, WorldConfig


def navigation_text(plan: PlannedRoute, s: float, horizon_m: float = 150.0) -> str:
    """What a navigation device would say at route position `s`, e.g. "Turn left in 40 m"."""
    change = next((lc for lc in plan.lane_changes if -5.0 < lc.s - s < 60.0), None)
    if change is not None:
        return f"Change to the {change.side} lane"
    m = plan.route.next_maneuver(s)
    if m is None or m.s_start - s > horizon_m:
        return "Follow the lane"
    if m.turn == Turn.STRAIGHT:
        return "Go straight"
    verb = f"Turn {m.turn.value}"
    dist = m.s_start - s
    return verb if dist <= 0 else f"{verb} in {max(5, round(dist / 5.0) * 5)} m"


class EmbeddedBackend:
    """CPU driving world with an optional Panda3D front camera.

    `render=False` skips the camera (observations then carry a black image of the camera's size), which is what
    data collection without images, tests and speed runs want. `weather` overrides the scenario's preset.
    """

    def __init__(
        self,
        dt: float = 0.05,
        camera: CameraConfig | None = None,
        render: bool = True,
        weather: str | None = None,
        world: WorldConfig | None = None,
    ) -> None:
        self.dt = dt
        self.camera = camera or CameraConfig()
        self.render = render
        self.weather = weather
        self.world_config = replace(world or WorldConfig(), dt=dt)
        self._world: World | None = None
        self._renderer: Any = None
        self._blank = np.zeros((self.camera.height, self.camera.width, 3), dtype=np.uint8)
        self._blank.flags.writeable = False

    # ---- protocol -------------------------------------------------------------------------------------------
    def load(self, scenario: Any, seed: int) -> None:
        """Build the world for a `scenarios.Scenario` (or a dict, a suite name or a YAML path)."""
        scenario = _as_scenario(scenario)
        self._close_renderer()
        self._world = World(scenario, int(seed), self.world_config)
        if self.render:
            from sim.embedded.camera import CameraRenderer  # Panda3D only when images are wanted

            weather = self.weather or getattr(scenario, "weather", "clear_noon")
            self._renderer = CameraRenderer(self._world.network, self.camera, weather)

    def step(self, control: VehicleControl) -> None:
        self._require().step(control)

    def observe(self, image: bool = True) -> Observation:
        """The observation; `image=False` skips the camera (a black image), for callers that render on request."""
        w = self._require()
        frame = self._blank
        if image and self._renderer is not None:
            frame = self._renderer.render(w.ego, w.actor_states(), w.light_states())
        nav = navigation_text(w.plan, w.track.route_s, w.config.nav_horizon_m)
        return Observation(frame, w.ego, nav, w.time)

    def ground_truth(self) -> WorldState:
        return self._require().ground_truth()

    def events(self) -> list[Infraction]:
        return self._require().events() if self._world is not None else []

    def close(self) -> None:
        self._close_renderer()
        self._world = None

    # ---- embedded extras ------------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The world's moving state (sim/embedded/snapshot.py); `restore` it here or in a backend, in any process,
        that loaded the same scenario and seed."""
        world = self._require()
        return snapshot.dumps((_identity(world), world), snapshot.static_parts(world))

    def restore(self, data: bytes) -> None:
        """Continue from a snapshot: the same controls then give the same states and frames as after the original."""
        world = self._require()
        identity, restored = snapshot.loads(data, snapshot.static_parts(world))
        if identity != _identity(world) or not isinstance(restored, World):
            raise snapshot.SnapshotError(f"a snapshot of {identity} cannot continue {_identity(world)}")
        self._world = restored

    @property
    def road_map(self) -> EmbeddedRoadMap:
        return self._require().road_map

    @property
    def network(self) -> RoadNetwork:
        """The road network, for renderers (BEV, video) and debugging."""
        return self._require().network

    @property
    def planned_route(self) -> PlannedRoute:
        return self._require().plan

    @property
    def world(self) -> World:
        return self._require()

    def _require(self) -> World:
        if self._world is None:
            raise RuntimeError("EmbeddedBackend: call load(scenario, seed) first")
        return self._world

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> EmbeddedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _identity(world: World) -> tuple[str, int]:
    """What a snapshot must match: the scenario (its town and route) and the run seed."""
    return (str(getattr(world.scenario, "name", "")), int(world.seed))


def _as_scenario(scenario: Any) -> Any:
    if isinstance(scenario, (str, Path)):
        from scenarios import load_scenario

        return load_scenario(scenario)
    if isinstance(scenario, dict):
        from scenarios import scenario_from_dict

        return scenario_from_dict(scenario)
    return scenario

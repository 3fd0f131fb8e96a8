"""Low-poly actor models for the camera renderer, and a pool that places them per frame.

Models are built once per (kind, colour, variant) in the actor's local frame (+x forward, footprint centred on the
origin, z up from the ground) at a reference size, then instanced and scaled to each actor's box.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from panda3d.core import NodePath

from sim.core import ActorKind, ActorState
from sim.embedded.meshes import Colour, MeshBuilder, Shading
from sim.embedded.weather import Weather

VEHICLE_COLOURS: tuple[Colour, ...] = (
    (0.75, 0.10, 0.10),
    (0.12, 0.24, 0.60),
    (0.85, 0.85, 0.86),
    (0.10, 0.10, 0.11),
    (0.55, 0.57, 0.60),
    (0.12, 0.42, 0.22),
    (0.88, 0.70, 0.15),
    (0.35, 0.20, 0.12),
)
CLOTHES: tuple[Colour, ...] = ((0.70, 0.15, 0.15), (0.15, 0.30, 0.65), (0.85, 0.75, 0.25), (0.20, 0.55, 0.30))
PART: dict[str, Colour] = {
    "glass": (0.12, 0.15, 0.20),
    "tyre": (0.05, 0.05, 0.05),
    "skin": (0.80, 0.62, 0.48),
    "legs": (0.15, 0.16, 0.22),
    "cone": (1.0, 0.42, 0.0),
    "stripe": (0.95, 0.95, 0.95),
    "barrier_red": (0.85, 0.12, 0.10),
    "bed": (0.30, 0.30, 0.32),
    "frame": (0.20, 0.20, 0.22),
}
LIGHTS: dict[str, Colour] = {
    "head_on": (1.0, 0.97, 0.85),
    "head_off": (0.80, 0.80, 0.78),
    "tail_on": (1.0, 0.08, 0.06),
    "tail_off": (0.45, 0.05, 0.05),
    "hazard": (1.0, 0.62, 0.05),
    "siren_red": (1.0, 0.1, 0.1),
    "siren_blue": (0.15, 0.35, 1.0),
}
EMERGENCY_BODY: Colour = (0.93, 0.93, 0.9)
DOOR_REACH_M = 1.0  # as sim.embedded.props: an open door adds this much to the box on its side
# Reference (length, width, height) each model is built at; instances are scaled to the actor's box.
REFERENCE_SIZE: dict[ActorKind, tuple[float, float, float]] = {
    ActorKind.VEHICLE: (4.6, 1.9, 1.5),
    ActorKind.PARKED_VEHICLE: (4.6, 1.9, 1.5),
    ActorKind.BROKEN_VEHICLE: (4.6, 1.9, 1.5),
    ActorKind.TRUCK: (8.0, 2.5, 3.2),
    ActorKind.BUS: (12.0, 2.6, 3.2),
    ActorKind.BICYCLE: (1.8, 0.6, 1.7),
    ActorKind.PEDESTRIAN: (0.5, 0.5, 1.75),
    ActorKind.CONE: (0.4, 0.4, 0.7),
    ActorKind.BARRIER: (0.5, 2.0, 1.0),
}
CULL_RANGE_M = 160.0


class ModelKey(NamedTuple):
    kind: ActorKind
    colour: int
    cones: bool = False
    hazard: bool = False
    siren: bool = False
    door: int = 0  # an open front door: +1 on the left, -1 on the right


def model_key(actor: ActorState) -> ModelKey:
    kind = actor.kind
    n = len(CLOTHES) if kind in (ActorKind.PEDESTRIAN, ActorKind.BICYCLE) else len(VEHICLE_COLOURS)
    colour = actor.id % n if kind not in (ActorKind.CONE, ActorKind.BARRIER) else 0
    hazard = kind == ActorKind.BROKEN_VEHICLE or bool(actor.attributes.get("hazard_lights", False))
    door = (
        {"left": 1, "right": -1}.get(str(actor.attributes.get("door_side")), 0)
        if actor.attributes.get("door_open")
        else 0
    )
    siren = bool(actor.attributes.get("siren"))
    return ModelKey(kind, colour, actor.attributes.get("cargo") == "cones", hazard, siren, door)


def reference_size(key: ModelKey) -> tuple[float, float, float]:
    length, width, height = REFERENCE_SIZE[key.kind]
    return length, width + (DOOR_REACH_M if key.door else 0.0), height


def build_model(key: ModelKey, weather: Weather) -> MeshBuilder:
    mesh = MeshBuilder(Shading(ambient=weather.ambient, diffuse=weather.sun_colour, sun_dir=weather.sun_dir))
    lights_on = weather.headlights or key.kind == ActorKind.BROKEN_VEHICLE
    if key.kind in (ActorKind.VEHICLE, ActorKind.PARKED_VEHICLE, ActorKind.BROKEN_VEHICLE):
        body = EMERGENCY_BODY if key.siren else VEHICLE_COLOURS[key.colour]
        # with a door open the box is wider on the door's side: the body sits off its centre, the door fills the rest
        car = _Shifted(mesh, -key.door * DOOR_REACH_M / 2) if key.door else mesh
        _car(car, body, lights_on and key.kind != ActorKind.PARKED_VEHICLE)  # type: ignore[arg-type]
        if key.door:
            car.box((0.9, key.door * (1.9 / 2 + DOOR_REACH_M / 2), 0.75), (1.1, DOOR_REACH_M, 0.9), body)
        if key.siren:
            mesh.box((-0.1, 0.35, 1.5), (0.3, 0.6, 0.14), LIGHTS["siren_red"], emissive=True)
            mesh.box((-0.1, -0.35, 1.5), (0.3, 0.6, 0.14), LIGHTS["siren_blue"], emissive=True)
    elif key.kind == ActorKind.TRUCK:
        _truck(mesh, VEHICLE_COLOURS[key.colour], lights_on, key.cones)
    elif key.kind == ActorKind.BUS:
        _bus(mesh, VEHICLE_COLOURS[key.colour], lights_on)
    elif key.kind == ActorKind.BICYCLE:
        mesh.box((0.0, 0.0, 0.35), (1.7, 0.06, 0.7), PART["frame"])
        _person(mesh, CLOTHES[key.colour], legs=False)
    elif key.kind == ActorKind.PEDESTRIAN:
        _person(mesh, CLOTHES[key.colour], legs=True)
    elif key.kind == ActorKind.CONE:
        _cone(mesh, 0.0, 0.0, 0.0, 0.7)
    elif key.kind == ActorKind.BARRIER:
        for i, z in enumerate((0.1, 0.3, 0.5, 0.7, 0.9)):
            mesh.box((0.0, 0.0, z), (0.3, 2.0, 0.2), PART["barrier_red"] if i % 2 else PART["stripe"])
    if key.hazard:
        length, width, _ = REFERENCE_SIZE[key.kind]
        for sx in (1, -1):
            for sy in (1, -1):
                mesh.box(
                    (sx * (length / 2 - 0.02), sy * (width / 2 - 0.2), 0.75),
                    (0.08, 0.28, 0.16),
                    LIGHTS["hazard"],
                    emissive=True,
                )
    return mesh


class _Shifted:
    """A MeshBuilder whose boxes all move `dy` metres sideways."""

    def __init__(self, mesh: MeshBuilder, dy: float) -> None:
        self.mesh, self.dy = mesh, dy

    def box(
        self, centre: tuple[float, float, float], size: tuple[float, float, float], *args: object, **kw: object
    ) -> None:
        self.mesh.box((centre[0], centre[1] + self.dy, centre[2]), size, *args, **kw)  # type: ignore[arg-type]


def _lamps(mesh: MeshBuilder, length: float, width: float, z: float, on: bool) -> None:
    head = LIGHTS["head_on"] if on else LIGHTS["head_off"]
    tail = LIGHTS["tail_on"] if on else LIGHTS["tail_off"]
    for sy in (1, -1):
        y = sy * (width / 2 - 0.3)
        mesh.box((length / 2 + 0.01, y, z), (0.04, 0.35, 0.14), head, emissive=on)
        mesh.box((-length / 2 - 0.01, y, z), (0.04, 0.35, 0.14), tail, emissive=on)


def _wheels(mesh: MeshBuilder, xs: Sequence[float], width: float, radius: float) -> None:
    for x in xs:
        for sy in (1, -1):
            mesh.box((x, sy * (width / 2 - 0.12), radius), (2 * radius, 0.26, 2 * radius), PART["tyre"])


def _car(mesh: MeshBuilder, body: Colour, lights_on: bool) -> None:
    mesh.box((0.0, 0.0, 0.55), (4.6, 1.9, 0.6), body)
    mesh.box((-0.3, 0.0, 1.15), (2.4, 1.7, 0.6), PART["glass"], top=body)
    _wheels(mesh, (1.45, -1.45), 1.9, 0.33)
    _lamps(mesh, 4.6, 1.9, 0.65, lights_on)


def _truck(mesh: MeshBuilder, cab: Colour, lights_on: bool, cones: bool) -> None:
    mesh.box((3.0, 0.0, 1.55), (2.0, 2.4, 2.3), cab)
    mesh.box((3.6, 0.0, 2.05), (0.82, 2.3, 0.8), PART["glass"], top=cab)
    mesh.box((-1.0, 0.0, 1.0), (6.0, 2.5, 0.25), PART["bed"])
    for sy in (1, -1):  # low side rails
        mesh.box((-1.0, sy * 1.2, 1.3), (6.0, 0.1, 0.35), PART["bed"])
    mesh.box((-3.95, 0.0, 1.3), (0.1, 2.5, 0.35), PART["bed"])
    _wheels(mesh, (3.0, -1.8, -3.0), 2.5, 0.5)
    _lamps(mesh, 8.0, 2.5, 0.9, lights_on)
    if cones:
        for x in (-3.3, -2.1, -0.9, 0.3, 1.5):
            for y in (-0.7, 0.0, 0.7):
                _cone(mesh, x, y, 1.12, 0.7)


def _bus(mesh: MeshBuilder, body: Colour, lights_on: bool) -> None:
    mesh.box((0.0, 0.0, 1.0), (12.0, 2.6, 1.4), body)
    mesh.box((0.0, 0.0, 2.25), (12.0, 2.58, 1.1), PART["glass"])
    mesh.box((0.0, 0.0, 3.0), (12.0, 2.6, 0.4), body)
    _wheels(mesh, (4.0, -3.5), 2.6, 0.5)
    _lamps(mesh, 12.0, 2.6, 0.7, lights_on)


def _person(mesh: MeshBuilder, shirt: Colour, legs: bool) -> None:
    if legs:
        for sy in (0.1, -0.1):
            mesh.box((0.0, sy, 0.42), (0.18, 0.16, 0.84), PART["legs"])
    mesh.box((0.0, 0.0, 1.13), (0.26, 0.44, 0.58), shirt)
    mesh.box((0.0, 0.0, 1.56), (0.22, 0.2, 0.26), PART["skin"])


def _cone(mesh: MeshBuilder, x: float, y: float, z: float, h: float) -> None:
    mesh.box((x, y, z + 0.025), (0.4, 0.4, 0.05), PART["cone"])
    mesh.box((x, y, z + 0.25 * h), (0.28, 0.28, 0.4 * h), PART["cone"])
    mesh.box((x, y, z + 0.55 * h), (0.2, 0.2, 0.2 * h), PART["stripe"])
    mesh.box((x, y, z + 0.8 * h), (0.12, 0.12, 0.3 * h), PART["cone"])


class ActorPool:
    """Per-frame placement of actor models, reusing instance nodes between frames."""

    def __init__(self, parent: NodePath, weather: Weather) -> None:
        self._parent = parent
        self._weather = weather
        self._models: dict[ModelKey, NodePath] = {}
        self._pool: dict[ModelKey, list[NodePath]] = defaultdict(list)
        self._shown: dict[ModelKey, int] = defaultdict(int)

    def _template(self, key: ModelKey) -> NodePath:
        if key not in self._models:
            self._models[key] = NodePath(build_model(key, self._weather).node(f"{key.kind.value}{key.colour}"))
        return self._models[key]

    def update(self, actors: Sequence[ActorState], near: tuple[float, float]) -> None:
        groups: dict[ModelKey, list[ActorState]] = defaultdict(list)
        for actor in sorted(actors, key=lambda a: a.id):
            if abs(actor.x - near[0]) < CULL_RANGE_M and abs(actor.y - near[1]) < CULL_RANGE_M:
                groups[model_key(actor)].append(actor)
        for key in set(self._shown) | set(groups):
            wanted, nodes = groups.get(key, []), self._pool[key]
            while len(nodes) < len(wanted):
                node = self._parent.attach_new_node(f"{key.kind.value}#{len(nodes)}")
                self._template(key).instance_to(node)
                nodes.append(node)
            ref = reference_size(key)
            for node, actor in zip(nodes, wanted, strict=False):
                node.set_pos_hpr_scale(
                    actor.x,
                    actor.y,
                    0.0,
                    _deg(actor.yaw),
                    0.0,
                    0.0,
                    actor.length / ref[0],
                    actor.width / ref[1],
                    actor.height / ref[2],
                )
            for i in range(len(wanted), self._shown[key]):
                nodes[i].stash()
            for i in range(self._shown[key], len(wanted)):
                nodes[i].unstash()
            self._shown[key] = len(wanted)

    def clear(self) -> None:
        for nodes in self._pool.values():
            for node in nodes:
                node.remove_node()
        self._pool.clear()
        self._shown.clear()
        self._models.clear()


def _deg(rad: float) -> float:
    return rad * 57.29577951308232

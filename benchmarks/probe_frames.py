"""Front-camera frames of the embedded simulator whose decisive cues are known exactly, for the image-token probe.

Each frame puts the ego on an approach lane of a signalised junction of a generated town, a chosen distance before
the stop line, and renders it with the real `CameraRenderer`. Three cues are placed and labelled independently:

- `light`: the colour of the head controlling the ego's lane, forced through `LightController.force` (the other heads
  of that junction follow as the controller makes them; other junctions run their normal cycle at a random time);
- `pedestrian`: a pedestrian in the ego's lane 5-40 m ahead, or none, or one outside the lane (on the kerb-side
  sidewalk or in the lane to the left) at the same distances as a hard negative;
- `lead`: the gap to a car ahead in the ego's lane, bucketed (<10 m, 10-25 m, 25-50 m, none), with 0-2 cars in the
  lane to the left (same direction or oncoming) as distractors.

Distances are along the ego's path (its lane, the straight connector through the junction and the lane after it),
from the ego's front bumper. Everything comes from one seed; the same arguments give the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core import ActorKind, ActorState, CameraConfig, EgoState, LightColor, TrafficLightState, Turn
from sim.embedded.camera import CameraRenderer
from sim.embedded.geometry import arc_length
from sim.embedded.lights import CODE_COLOR, LightController, LightTiming
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.scenery import LAMP_SIZE_M, lamp_centres
from sim.embedded.towns import build_network

LIGHT_CLASSES: tuple[str, ...] = ("red", "yellow", "green")
PEDESTRIAN_CLASSES: tuple[str, ...] = ("none", "in_lane")
LEAD_CLASSES: tuple[str, ...] = ("<10m", "10-25m", "25-50m", "none")
LEAD_GAPS_M: dict[str, tuple[float, float]] = {"<10m": (2.0, 10.0), "10-25m": (10.0, 25.0), "25-50m": (25.0, 50.0)}
STOP_DISTANCE_M = (8.0, 70.0)
PEDESTRIAN_DISTANCE_M = (5.0, 40.0)
EGO_LENGTH_M = 4.7
CAR_SIZE_M = (4.6, 1.9, 1.5)
PEDESTRIAN_SIZE_M = (0.5, 0.5, 1.75)


@dataclass(frozen=True)
class Town:
    """A generated town and the split it belongs to (test towns are never trained on)."""

    name: str
    split: str  # train | test
    seed: int
    lanes: int
    block_m: float = 120.0

    @property
    def spec(self) -> dict[str, Any]:
        return {"name": "grid", "rows": 3, "cols": 3, "lanes": self.lanes, "block_m": self.block_m, "signalised": 1.0}


TOWNS: tuple[Town, ...] = (
    Town("t1", "train", 101, 1),
    Town("t2", "train", 102, 2),
    Town("t3", "train", 103, 3),
    Town("t4", "train", 104, 2, 130.0),
    Town("t5", "train", 105, 1, 125.0),
    Town("t6", "train", 106, 3, 130.0),
    Town("h1", "test", 201, 2, 125.0),
    Town("h2", "test", 202, 3, 120.0),
)


@dataclass(frozen=True)
class FrameLabel:
    town: str
    split: str
    weather: str
    light: str  # colour of the head controlling the ego's lane
    stop_distance_m: float  # front bumper to the stop line, along the lane
    lamp_px: float  # apparent size of the lit lamp in the 480x270 frame (pixels across)
    lamp_rc: tuple[int, int] | None  # (row, col) where the lit lamp's centre projects; None when off-image
    pedestrian: str  # none | in_lane (PEDESTRIAN_CLASSES)
    pedestrian_place: str  # none | lane | side (a hard negative outside the lane)
    pedestrian_distance_m: float | None
    pedestrian_rc: tuple[int, int] | None  # where the pedestrian's torso projects
    lead: str  # LEAD_CLASSES
    lead_gap_m: float | None  # front bumper to the lead's rear bumper
    lead_rc: tuple[int, int] | None  # where the middle of the lead's rear projects


class LanePath:
    """The ego's path: an approach lane, the straight connector through its junction and the lane after it."""

    def __init__(
        self,
        lane_ids: tuple[str, ...],
        points: np.ndarray,
        stop_s: float,
        light_id: str,
        lanes_right: int,
        width: float,
    ) -> None:
        self.lane_ids = lane_ids
        self.points = points
        self.s = arc_length(points)
        self.stop_s = stop_s
        self.light_id = light_id
        self.lanes_right = lanes_right  # same-direction lanes to the ego lane's right
        self.lane_width = width
        self.left_is_oncoming = True

    def pose(self, s: float, d: float = 0.0) -> tuple[float, float, float]:
        """World (x, y, yaw) at arc length s, d metres to the left of the centre line."""
        i = int(np.clip(np.searchsorted(self.s, s) - 1, 0, len(self.s) - 2))
        p0, p1 = self.points[i], self.points[i + 1]
        t = (s - self.s[i]) / max(self.s[i + 1] - self.s[i], 1e-9)
        yaw = math.atan2(p1[1] - p0[1], p1[0] - p0[0])
        x, y = p0 + t * (p1 - p0)
        return float(x - d * math.sin(yaw)), float(y + d * math.cos(yaw)), yaw


def approach_paths(net: RoadNetwork, min_before_m: float, min_after_m: float) -> list[LanePath]:
    """Every signalised approach lane with a straight way through its junction and room for the distances asked."""
    paths = []
    for lane in net.lanes.values():
        if lane.light_id is None or lane.stop_line_s is None or lane.stop_line_s < min_before_m:
            continue
        straight = [net.lanes[c] for c in lane.successors if net.lanes[c].turn == Turn.STRAIGHT]
        if not straight or not straight[0].successors:
            continue
        after = net.lanes[straight[0].successors[0]]
        points = np.concatenate([lane.centre, straight[0].centre[1:], after.centre[1:]])
        ids = (lane.id, straight[0].id, after.id)
        path = LanePath(ids, points, lane.stop_line_s, lane.light_id, _count_right(net, lane.id), lane.width)
        if path.s[-1] - lane.stop_line_s < min_after_m:
            continue
        path.left_is_oncoming = lane.left is None
        paths.append(path)
    return sorted(paths, key=lambda p: (p.light_id, p.lanes_right))


def _count_right(net: RoadNetwork, lane_id: str) -> int:
    n, lane = 0, net.lanes[lane_id]
    while lane.right is not None:
        n, lane = n + 1, net.lanes[lane.right]
    return n


def project(cfg: CameraConfig, ego: EgoState, point: tuple[float, float, float]) -> tuple[float, float, float] | None:
    """Pinhole projection of a world point: (row, col, depth in metres), or None behind the camera."""
    c, s = math.cos(ego.yaw), math.sin(ego.yaw)
    cam = np.array([ego.x + c * cfg.x - s * cfg.y, ego.y + s * cfg.x + c * cfg.y, cfg.z])
    d = np.asarray(point, dtype=float) - cam
    forward, left = float(d @ [c, s, 0.0]), float(d @ [-s, c, 0.0])
    if forward <= 0.1:
        return None
    focal = cfg.width / 2 / math.tan(math.radians(cfg.fov_deg) / 2)
    return cfg.height / 2 - focal * float(d[2]) / forward, cfg.width / 2 - focal * left / forward, forward


def _on_image(cfg: CameraConfig, p: tuple[float, float, float] | None) -> tuple[int, int] | None:
    if p is None or not (0 <= p[0] < cfg.height and 0 <= p[1] < cfg.width):
        return None
    return int(p[0]), int(p[1])


def _actor(actor_id: int, kind: ActorKind, pose: tuple[float, float, float], size: tuple[float, ...]) -> ActorState:
    return ActorState(actor_id, kind, pose[0], pose[1], pose[2], 0.0, size[0], size[1], size[2])


@dataclass(frozen=True)
class Scene:
    """What stays fixed across the variants of a scene: the ego's pose, the other traffic, where cues would go."""

    path: LanePath
    ego: EgoState
    ego_s: float
    stop_distance_m: float
    light_time_s: float  # other junctions show their normal cycle at this time
    distractors: tuple[ActorState, ...]
    lead_id: int  # sets the lead's colour
    lead_d: float
    pedestrian_id: int
    pedestrian_distance_m: float
    pedestrian_d: dict[str, float]  # lateral offset per place ("lane", "side")
    pedestrian_yaw: float


class SceneSampler:
    """Draws scenes on one town and renders-ready variants of them (ego pose, placed actors, light states)."""

    def __init__(self, town: Town, cfg: CameraConfig) -> None:
        self.town, self.cfg = town, cfg
        self.network = build_network(town.spec, town.seed)
        self.paths = approach_paths(self.network, STOP_DISTANCE_M[1] + EGO_LENGTH_M / 2 + 1.0, 60.0)
        if not self.paths:
            raise ValueError(f"town {town.name} has no signalised approach long enough for the probe")

    def scene(self, rng: np.random.Generator) -> Scene:
        front = EGO_LENGTH_M / 2
        path = self.paths[int(rng.integers(len(self.paths)))]
        stop_distance = float(rng.uniform(*STOP_DISTANCE_M))
        ego_s = path.stop_s - stop_distance - front
        x, y, yaw = path.pose(ego_s, float(rng.uniform(-0.3, 0.3)))
        ego = EgoState(x, y, yaw + float(rng.uniform(-0.03, 0.03)), speed=float(rng.uniform(3.0, 14.0)))
        distractors = []
        for k in range(int(rng.integers(0, 3))):  # cars in the lane to the left: never a lead
            px, py, pyaw = path.pose(
                ego_s + front + float(rng.uniform(3.0, 60.0)), path.lane_width * rng.uniform(0.9, 1.1)
            )
            pyaw = pyaw + math.pi if path.left_is_oncoming else pyaw
            distractors.append(
                _actor(8 * (k + 1) + int(rng.integers(8)), ActorKind.VEHICLE, (px, py, pyaw), CAR_SIZE_M)
            )
        side = -((path.lanes_right + 0.5) * path.lane_width + float(rng.uniform(0.8, 2.5)))  # kerb-side sidewalk
        return Scene(
            path=path,
            ego=ego,
            ego_s=ego_s,
            stop_distance_m=stop_distance,
            light_time_s=float(rng.uniform(0.0, LightTiming().cycle)),
            distractors=tuple(distractors),
            lead_id=int(rng.integers(8)),
            lead_d=float(rng.uniform(-0.3, 0.3)),
            pedestrian_id=100 + int(rng.integers(4)),
            pedestrian_distance_m=float(rng.uniform(*PEDESTRIAN_DISTANCE_M)),
            pedestrian_d={
                "lane": float(rng.uniform(-1.0, 1.0)),
                "side": side if rng.random() < 0.5 else float(rng.uniform(3.0, 5.0)),
            },
            pedestrian_yaw=float(rng.uniform(-math.pi, math.pi)),
        )

    def draw_cues(self, rng: np.random.Generator) -> tuple[str, str, str, float | None]:
        """Independent cue values: light colour, pedestrian place, lead bucket and gap."""
        colour = LIGHT_CLASSES[int(rng.integers(len(LIGHT_CLASSES)))]
        place = ("lane", "none", "side")[int(rng.choice(3, p=(0.5, 0.25, 0.25)))]
        lead = LEAD_CLASSES[int(rng.integers(len(LEAD_CLASSES)))]
        gap = float(rng.uniform(*LEAD_GAPS_M[lead])) if lead != "none" else None
        return colour, place, lead, gap

    def variant(
        self, scene: Scene, weather: str, colour: str, place: str, lead: str, gap: float | None
    ) -> tuple[list[ActorState], list[TrafficLightState], FrameLabel]:
        """Actors, light states and the label of the scene with these cue values."""
        cfg, ego, path, front = self.cfg, scene.ego, scene.path, EGO_LENGTH_M / 2
        # A fresh controller per variant (same junction offsets each time): a forced head stays forced for good.
        controller = LightController(self.network, LightTiming(), np.random.default_rng(self.town.seed))
        controller.update(scene.light_time_s)
        controller.force(path.light_id, LightColor(colour), scene.light_time_s)
        heads = self.network.lights
        lights = [
            TrafficLightState(i, CODE_COLOR[int(code)], heads[i].position, heads[i].stop_line, tuple(heads[i].lane_ids))
            for i, code in zip(controller.ids, controller.codes, strict=True)
        ]
        lamp = project(cfg, ego, lamp_centres(self.network.lights[path.light_id])[LightColor(colour)])
        focal = cfg.width / 2 / math.tan(math.radians(cfg.fov_deg) / 2)
        actors = list(scene.distractors)
        lead_rc = None
        if gap is not None:
            pose = path.pose(scene.ego_s + front + gap + CAR_SIZE_M[0] / 2, scene.lead_d)
            actors.append(_actor(scene.lead_id, ActorKind.VEHICLE, pose, CAR_SIZE_M))
            rear = path.pose(scene.ego_s + front + gap, scene.lead_d)
            lead_rc = _on_image(cfg, project(cfg, ego, (rear[0], rear[1], CAR_SIZE_M[2] / 2)))
        ped_rc = None
        if place != "none":
            px, py, pyaw = path.pose(scene.ego_s + front + scene.pedestrian_distance_m, scene.pedestrian_d[place])
            actors.append(
                _actor(
                    scene.pedestrian_id, ActorKind.PEDESTRIAN, (px, py, pyaw + scene.pedestrian_yaw), PEDESTRIAN_SIZE_M
                )
            )
            ped_rc = _on_image(cfg, project(cfg, ego, (px, py, 1.13)))
        label = FrameLabel(
            town=self.town.name,
            split=self.town.split,
            weather=weather,
            light=colour,
            stop_distance_m=round(scene.stop_distance_m, 2),
            lamp_px=round(focal * LAMP_SIZE_M / lamp[2], 2) if lamp is not None else 0.0,
            lamp_rc=_on_image(cfg, lamp),
            pedestrian="in_lane" if place == "lane" else "none",
            pedestrian_place=place,
            pedestrian_distance_m=None if place == "none" else round(scene.pedestrian_distance_m, 2),
            pedestrian_rc=ped_rc,
            lead=lead,
            lead_gap_m=None if gap is None else round(gap, 2),
            lead_rc=lead_rc,
        )
        return actors, lights, label


def render_frames(
    towns: tuple[Town, ...],
    weathers: tuple[str, ...],
    scenes_per_town_weather: int,
    seed: int,
    variants: int = 1,
    cfg: CameraConfig | None = None,
) -> Iterator[tuple[np.ndarray, FrameLabel]]:
    """(image, label) for `scenes_per_town_weather` scenes on every (town, weather), each rendered `variants` times
    with its cues redrawn (the light colours of a scene's variants differ while there are colours left); a scene's
    variants come one after the other. Deterministic for the seed."""
    cfg = cfg or CameraConfig()
    for town in towns:
        sampler = SceneSampler(town, cfg)
        for wi, weather in enumerate(weathers):
            rng = np.random.default_rng([seed, town.seed, wi])
            with CameraRenderer(sampler.network, cfg, weather) as renderer:
                for _ in range(scenes_per_town_weather):
                    scene = sampler.scene(rng)
                    colours = rng.permutation(len(LIGHT_CLASSES))
                    for v in range(variants):
                        _, place, lead, gap = sampler.draw_cues(rng)
                        colour = LIGHT_CLASSES[int(colours[v % len(colours)])]
                        actors, lights, label = sampler.variant(scene, weather, colour, place, lead, gap)
                        yield renderer.render(scene.ego, actors, lights), label

"""Top-down bird's-eye view of the embedded world (numpy + OpenCV), ego-centred, for videos and debugging.

The static map (road surface, sidewalks, markings, crosswalks, buildings) is rasterised once per network and
scale into a world-aligned image; each frame warps the ego's window out of it and draws the route, the lights and
the actors on top. `BevRenderer` keeps that raster; `render_bev` is the one-shot form.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from sim.core import ActorKind, ActorState, LightColor, WorldState
from sim.embedded.meshes import offset_polyline, resample, sub_polyline
from sim.embedded.roadnet import Lane, Marking, RoadNetwork

RGB = tuple[int, int, int]
COLOURS: dict[str, RGB] = {
    "background": (58, 74, 52),
    "sidewalk": (120, 120, 116),
    "road": (46, 46, 50),
    "building": (92, 82, 78),
    "white": (225, 225, 220),
    "yellow": (235, 185, 30),
    "crosswalk": (170, 170, 165),
    "route": (60, 140, 255),
    "route_done": (40, 70, 120),
    "ego": (255, 255, 255),
    "heading": (20, 20, 20),
}
ACTOR_COLOURS: dict[ActorKind, RGB] = {
    ActorKind.VEHICLE: (240, 150, 60),
    ActorKind.TRUCK: (190, 110, 230),
    ActorKind.BUS: (215, 80, 170),
    ActorKind.BICYCLE: (60, 220, 220),
    ActorKind.PEDESTRIAN: (255, 0, 255),  # magenta: unlike any light, marking or vehicle colour
    ActorKind.CONE: (255, 110, 0),
    ActorKind.BARRIER: (230, 60, 50),
    ActorKind.PARKED_VEHICLE: (150, 150, 170),
    ActorKind.BROKEN_VEHICLE: (255, 205, 130),
}
LIGHT_COLOURS: dict[LightColor, RGB] = {
    LightColor.RED: (255, 30, 30),
    LightColor.YELLOW: (255, 210, 0),
    LightColor.GREEN: (40, 230, 70),
    LightColor.OFF: (110, 110, 110),
}
_SHIFT = 3  # OpenCV fixed-point bits for sub-pixel polygon and line coordinates
_ONE = 1 << _SHIFT


class BevRenderer:
    """Ego-centred top-down view of one network at one scale; keeps the static raster between frames."""

    def __init__(self, network: RoadNetwork, size_px: int = 256, range_m: float = 60.0) -> None:
        if size_px < 16 or range_m <= 0:
            raise ValueError(f"BEV needs size_px >= 16 and range_m > 0, got {size_px}, {range_m}")
        self.network, self.size_px, self.range_m = network, size_px, range_m
        self.ppm = size_px / (2.0 * range_m)  # pixels per metre
        xmin, ymin, xmax, ymax = _extent(network)
        self._origin = (xmin - range_m, ymax + range_m)  # world (x, y) of the static raster's top-left corner
        w = math.ceil((xmax - xmin + 2 * range_m) * self.ppm)
        h = math.ceil((ymax - ymin + 2 * range_m) * self.ppm)
        self._static = np.empty((h, w, 3), np.uint8)
        self._static[:] = COLOURS["background"]
        self._rasterise()

    # ------------------------------------------------------------ static layer
    def _map_px(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        px = np.column_stack([(xy[:, 0] - self._origin[0]) * self.ppm, (self._origin[1] - xy[:, 1]) * self.ppm])
        return np.round(px * _ONE).astype(np.int32)

    def _fill(self, polys: list[np.ndarray], colour: RGB) -> None:
        if polys:
            cv2.fillPoly(self._static, [self._map_px(p) for p in polys], colour, cv2.LINE_AA, _SHIFT)

    def _rasterise(self) -> None:
        net = self.network
        self._fill([p for sw in net.sidewalks for p in _ribbon(sw.centre, sw.width)], COLOURS["sidewalk"])
        self._fill([np.asarray(b.footprint) for b in net.buildings], COLOURS["building"])
        self._fill([p for lane in net.lanes.values() for p in _ribbon(lane.centre, lane.width + 0.1)], COLOURS["road"])
        self._fill([np.asarray(j.polygon) for j in net.junctions.values()], COLOURS["road"])
        self._fill([np.asarray(c.polygon) for c in net.crosswalks], COLOURS["crosswalk"])
        thick = max(1, round(0.15 * self.ppm))
        for lane in net.lanes.values():
            if lane.junction_id is not None:
                continue
            for line, colour in _markings(lane):
                cv2.polylines(self._static, [self._map_px(line)], False, colour, thick, cv2.LINE_AA, _SHIFT)

    # ------------------------------------------------------------ per frame
    def _view_transform(self, ego_x: float, ego_y: float, yaw: float, heading_up: bool) -> np.ndarray:
        """2x3 affine from world (x, y) to view pixels (col, row)."""
        rot = math.pi / 2 - yaw if heading_up else 0.0
        c, s = math.cos(rot), math.sin(rot)
        k, half = self.ppm, self.size_px / 2.0
        # col = half + k * (c*dx - s*dy); row = half - k * (s*dx + c*dy)
        return np.array(
            [
                [k * c, -k * s, half - k * (c * ego_x - s * ego_y)],
                [-k * s, -k * c, half + k * (s * ego_x + c * ego_y)],
            ]
        )

    def render(self, world: WorldState, heading_up: bool = True) -> np.ndarray:
        """The (size_px, size_px, 3) uint8 RGB view centred on the ego."""
        ego = world.ego
        to_view = self._view_transform(ego.x, ego.y, ego.yaw, heading_up)
        # Static raster pixel (u, v) -> world (x0 + u/k, y0 - v/k) -> view.
        k = self.ppm
        from_static = np.array([[1 / k, 0, self._origin[0]], [0, -1 / k, self._origin[1]], [0, 0, 1]])
        image = cv2.warpAffine(
            self._static,
            to_view @ from_static,
            (self.size_px, self.size_px),
            flags=cv2.INTER_LINEAR,
            borderValue=COLOURS["background"],
        )

        def px(xy: np.ndarray) -> np.ndarray:
            xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
            return np.round((xy @ to_view[:, :2].T + to_view[:, 2]) * _ONE).astype(np.int32)

        width = max(2, round(1.2 * self.ppm))
        route = world.route
        split = int(np.searchsorted(route.s, world.route_s))
        overlay = image.copy()
        for part, colour in ((route.points[: split + 1], "route_done"), (route.points[max(0, split - 1) :], "route")):
            if len(part) >= 2:
                cv2.polylines(overlay, [px(part)], False, COLOURS[colour], width, cv2.LINE_AA, _SHIFT)
        cv2.addWeighted(overlay, 0.6, image, 0.4, 0.0, dst=image)  # the lane markings stay visible under the route
        radius = max(2, round(1.0 * self.ppm))
        for light in world.lights:
            (ax, ay), (bx, by) = light.stop_line
            centre = px(np.array([(ax + bx) / 2, (ay + by) / 2]))[0]
            cv2.circle(image, tuple(centre), (radius + 1) * _ONE, (0, 0, 0), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(image, tuple(centre), radius * _ONE, LIGHT_COLOURS[light.color], -1, cv2.LINE_AA, _SHIFT)
        for actor in world.actors:
            if actor.kind is ActorKind.PEDESTRIAN:  # a real-size box would be a pixel or two: a ringed dot instead
                self._dot(image, px, ACTOR_COLOURS[actor.kind], actor, max(3.0, 0.6 * self.ppm))
            else:
                self._box(image, px, ACTOR_COLOURS.get(actor.kind, (200, 200, 200)), actor)
        ego_box = ActorState(-1, ActorKind.VEHICLE, ego.x, ego.y, ego.yaw, ego.speed, ego.length, ego.width, 1.5)
        self._box(image, px, COLOURS["ego"], ego_box)
        return image

    @staticmethod
    def _dot(
        image: np.ndarray, px: Callable[[np.ndarray], np.ndarray], colour: RGB, actor: ActorState, radius_px: float
    ) -> None:
        centre = tuple(px(np.array([actor.x, actor.y]))[0])
        cv2.circle(image, centre, round((radius_px + 1) * _ONE), (0, 0, 0), -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(image, centre, round(radius_px * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)

    @staticmethod
    def _box(image: np.ndarray, px: Callable[[np.ndarray], np.ndarray], colour: RGB, actor: ActorState) -> None:
        corners = actor.corners()
        pts = px(corners)
        cv2.fillPoly(image, [pts], colour, cv2.LINE_AA, _SHIFT)
        if actor.length >= 1.0:  # a short bar across the front shows the heading
            front = corners[[0, 3]]
            inner = front - 0.25 * min(actor.length, 2.0) * np.array([math.cos(actor.yaw), math.sin(actor.yaw)])
            cv2.fillPoly(
                image, [px(np.array([front[0], front[1], inner[1], inner[0]]))], COLOURS["heading"], cv2.LINE_AA, _SHIFT
            )


def render_bev(
    network: RoadNetwork, world: WorldState, size_px: int = 256, range_m: float = 60.0, heading_up: bool = True
) -> np.ndarray:
    """One-shot BEV image; keep a `BevRenderer` instead when rendering many frames of the same network."""
    return BevRenderer(network, size_px, range_m).render(world, heading_up)


def _extent(network: RoadNetwork) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = network.bounds()
    for poly in [b.footprint for b in network.buildings] + [s.centre for s in network.sidewalks]:
        p = np.asarray(poly)
        xmin, ymin = min(xmin, float(p[:, 0].min())), min(ymin, float(p[:, 1].min()))
        xmax, ymax = max(xmax, float(p[:, 0].max())), max(ymax, float(p[:, 1].max()))
    return xmin, ymin, xmax, ymax


def _ribbon(centre: np.ndarray, width: float, chunk: int = 24) -> list[np.ndarray]:
    """A lane-like strip as a few quadrilateral-ish polygons (short pieces keep curved strips simple)."""
    pts, _ = resample(centre, 2.0)
    if len(pts) < 2:
        return []
    left, right = offset_polyline(pts, width / 2), offset_polyline(pts, -width / 2)
    out = []
    for a in range(0, len(pts) - 1, chunk):
        b = min(a + chunk + 1, len(pts))
        out.append(np.concatenate([left[a:b], right[a:b][::-1]]))
    return out


def _markings(lane: Lane) -> list[tuple[np.ndarray, RGB]]:
    half = lane.width / 2
    out: list[tuple[np.ndarray, RGB]] = []
    for marking, side in ((lane.left_marking, 1.0), (lane.right_marking, -1.0)):
        if marking == Marking.NONE or (marking == Marking.DASHED_WHITE and side > 0 and lane.left is not None):
            continue
        colour = COLOURS["yellow"] if marking == Marking.SOLID_YELLOW else COLOURS["white"]
        edge = offset_polyline(lane.centre, side * (half - (0.15 if marking == Marking.SOLID_YELLOW else 0.0)))
        if marking == Marking.DASHED_WHITE:
            length = float(np.sum(np.hypot(*np.diff(edge, axis=0).T)))
            out += [(sub_polyline(edge, a, min(a + 3.0, length)), colour) for a in np.arange(1.0, length - 0.5, 9.0)]
        else:
            out.append((edge, colour))
    if lane.stop_line_s is not None:
        piece = sub_polyline(lane.centre, max(0.0, lane.stop_line_s - 0.3), lane.stop_line_s)
        if len(piece) >= 2:
            a, b = offset_polyline(piece, half)[-1], offset_polyline(piece, -half)[-1]
            out.append((np.array([a, b]), COLOURS["white"]))
    return out

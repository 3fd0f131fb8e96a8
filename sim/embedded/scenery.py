"""Static scenery of a RoadNetwork as a few merged, vertex-coloured Panda3D nodes.

Flat paint layers (ground, asphalt, markings) are drawn first in a fixed order without depth testing: they all lie
in the z = 0 plane, so draw order replaces a depth test that would z-fight at a distance. Anything with height
(sidewalks, buildings, poles, light heads, actors) is depth-tested afterwards. Geometry is merged per square tile
so the camera's view-frustum culling can skip what is behind it, and each tile has two levels of detail (a Panda3D
LODNode): in full while any of it is within LOD_NEAR_M of the camera, and past that with plain building walls, no
kerbs or dashes and straight runs merged. Far geometry is where a frame's time went in the long arterial towns (tens of
thousands of sub-pixel triangles); the far level changes about 0.1 % of those frames' pixels
(benchmarks/bench_render.py measures both).

Building a town's scenery takes about a second (tens of thousands of quads), so `scenery_for` keeps the last few
towns built in this process, keyed by the network's content and the weather (weather is baked into the vertex
colours), and hands every renderer its own copy of the node graph; copies share the vertex data, so a route load or
an env reset in a town already seen costs a copy, not a build, and draws exactly the same frames.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import pickle
import zlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass

import numpy as np
import shapely
from panda3d.core import LODNode, NodePath, Point3

from sim.core import LightColor
from sim.embedded.meshes import Colour, MeshBuilder, Shading, mix, offset_polyline, resample, sub_polyline
from sim.embedded.roadnet import Lane, Marking, RoadNetwork, TrafficLightHead
from sim.embedded.weather import Weather

PALETTE: dict[str, Colour] = {
    "asphalt": (0.30, 0.30, 0.32),
    "junction": (0.31, 0.31, 0.33),
    "white": (0.92, 0.92, 0.90),
    "yellow": (0.95, 0.74, 0.12),
    "sidewalk": (0.66, 0.65, 0.62),
    "curb": (0.78, 0.78, 0.76),
    "pole": (0.28, 0.29, 0.31),
    "housing": (0.07, 0.07, 0.07),
    "roof": (0.40, 0.38, 0.37),
    "glass": (0.34, 0.40, 0.48),
}
BUILDING_COLOURS: tuple[Colour, ...] = (
    (0.72, 0.66, 0.58),
    (0.62, 0.50, 0.42),
    (0.78, 0.76, 0.72),
    (0.55, 0.58, 0.62),
    (0.70, 0.58, 0.46),
    (0.84, 0.80, 0.70),
    (0.50, 0.44, 0.42),
)
# Lit and unlit lamp colours of a traffic-light head, top to bottom.
LAMP_ORDER: tuple[LightColor, ...] = (LightColor.RED, LightColor.YELLOW, LightColor.GREEN)
LAMP_LIT: dict[LightColor, Colour] = {
    LightColor.RED: (1.0, 0.08, 0.05),
    LightColor.YELLOW: (1.0, 0.78, 0.05),
    LightColor.GREEN: (0.10, 1.0, 0.35),
}
LAMP_DARK: dict[LightColor, Colour] = {
    LightColor.RED: (0.22, 0.05, 0.05),
    LightColor.YELLOW: (0.22, 0.18, 0.04),
    LightColor.GREEN: (0.04, 0.18, 0.08),
}

# Traffic-light heads are drawn larger than real ones (0.3 m lamps) so a 480x270 camera resolves the lit lamp at 50 m.
LAMP_SIZE_M = 0.62
LAMP_PITCH_M = 0.74
HOUSING_SIZE_M = (0.45, 0.88, 2.40)  # depth, width, height
TILE_M = 64.0
MARK_W = 0.18
DASH_ON_M, DASH_PERIOD_M = 3.0, 9.0
SIDEWALK_H = 0.15
FLOOR_M = 3.2
SCENERY_CACHE_SIZE = 4  # (town, weather) pairs kept per process; the 800 m arterial town holds about 14 MB

# Flat layers, drawn in this order in the background bin (sky is 0); SOLID is the depth-tested layer.
SOLID, GROUND, ROAD, PUDDLES, PAINT = 0, 1, 2, 3, 4
# A tile whose bounding sphere is all farther than this draws its far level (plain walls, no kerbs or dashes, simplified
# ribbons): there a floor's window strip is about a pixel high at 480 px across a 90 degree view.
LOD_NEAR_M = 250.0


@dataclass
class Scenery:
    flat: dict[int, NodePath]  # layer -> node holding every tile of that flat layer
    solid: NodePath  # depth-tested static geometry (tiles as children)

    def copy(self) -> Scenery:
        """An independent node graph over the same (read-only) geometry."""
        return Scenery(
            flat={layer: NodePath(node.node().copy_subgraph()) for layer, node in self.flat.items()},
            solid=NodePath(self.solid.node().copy_subgraph()),
        )


_CACHE: OrderedDict[tuple[str, Weather], Scenery] = OrderedDict()
CACHE_STATS = {"hits": 0, "builds": 0}


def network_digest(network: RoadNetwork) -> str:
    """A content hash of the network: equal for two towns built from the same spec and seed (a few ms)."""
    return hashlib.blake2b(pickle.dumps(network, protocol=pickle.HIGHEST_PROTOCOL), digest_size=16).hexdigest()


def scenery_for(network: RoadNetwork, weather: Weather) -> Scenery:
    """A private copy of the network's scenery in this weather, built once per process (LRU of a few towns)."""
    key = (network_digest(network), weather)
    cached = _CACHE.get(key)
    if cached is None:
        cached = build_scenery(network, weather)
        CACHE_STATS["builds"] += 1
        _CACHE[key] = cached
        while len(_CACHE) > SCENERY_CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        CACHE_STATS["hits"] += 1
        _CACHE.move_to_end(key)
    return cached.copy()


def clear_scenery_cache() -> None:
    _CACHE.clear()


def lamp_centres(head: TrafficLightHead) -> dict[LightColor, tuple[float, float, float]]:
    """World position of each lamp's front face centre (red on top)."""
    x, y, z = head.position
    fx, fy = math.cos(head.yaw), math.sin(head.yaw)
    front = HOUSING_SIZE_M[0] / 2 + 0.03
    return {c: (x + fx * front, y + fy * front, z + (1 - i) * LAMP_PITCH_M) for i, c in enumerate(LAMP_ORDER)}


def lamp_box(mesh: MeshBuilder, head: TrafficLightHead, colour: LightColor, rgb: Colour, emissive: bool) -> None:
    cx, cy, cz = lamp_centres(head)[colour]
    fx, fy = math.cos(head.yaw), math.sin(head.yaw)
    mesh.box(
        (cx - fx * 0.03, cy - fy * 0.03, cz), (0.06, LAMP_SIZE_M, LAMP_SIZE_M), rgb, yaw=head.yaw, emissive=emissive
    )


class _Tiles:
    """One MeshBuilder per (layer, level of detail, tile) so merged geometry stays cullable."""

    def __init__(self, shading: Shading) -> None:
        self.shading = shading
        self.builders: dict[tuple[int, bool, int, int], MeshBuilder] = defaultdict(lambda: MeshBuilder(self.shading))

    def at(self, layer: int, xy: np.ndarray, far: bool = False) -> MeshBuilder:
        cx, cy = np.asarray(xy, dtype=np.float64).reshape(-1, 2).mean(axis=0)
        return self.builders[(layer, far, math.floor(cx / TILE_M), math.floor(cy / TILE_M))]


def build_scenery(network: RoadNetwork, weather: Weather) -> Scenery:
    shading = Shading(ambient=weather.ambient, diffuse=weather.sun_colour, sun_dir=weather.sun_dir)
    tiles = _Tiles(shading)
    road = tuple(c * t for c, t in zip(PALETTE["asphalt"], weather.road_tint, strict=True))
    for lane in network.lanes.values():
        _lane_surface(tiles, lane, road)  # type: ignore[arg-type]
        if lane.junction_id is None:
            _lane_paint(tiles, lane)
            if weather.wet_sheen > 0:
                sheen = tuple(r + (h - r) * weather.wet_sheen for r, h in zip(road, weather.sky_horizon, strict=True))
                _puddles(tiles, lane, sheen)  # type: ignore[arg-type]
    junction_rgb = tuple(c * t for c, t in zip(PALETTE["junction"], weather.road_tint, strict=True))
    for junction in network.junctions.values():
        tiles.at(ROAD, junction.polygon).polygon(junction.polygon, 0.0, junction_rgb)  # type: ignore[arg-type]
    for cw in network.crosswalks:
        _crosswalk(tiles.at(PAINT, cw.polygon), np.asarray(cw.polygon, dtype=np.float64))
    for sw in network.sidewalks:
        _sidewalk(tiles, np.asarray(sw.centre, dtype=np.float64), sw.width)
    for i, building in enumerate(network.buildings):
        for far in (False, True):
            _building(tiles.at(SOLID, building.footprint, far), building.footprint, building.height, i, far)
    for head in network.lights.values():
        for far in (False, True):
            _light_head(tiles.at(SOLID, np.array(head.position[:2]), far), network, head)
    flat = {layer: NodePath(f"flat{layer}") for layer in (ROAD, PUDDLES, PAINT)}
    solid = NodePath("solid")
    for layer, ix, iy in sorted({(layer, ix, iy) for layer, _far, ix, iy in tiles.builders}):
        near, far = (tiles.builders.get((layer, lod, ix, iy)) or MeshBuilder(shading) for lod in (False, True))
        _lod_tile(solid if layer == SOLID else flat[layer], f"tile{layer}_{ix}_{iy}", near, far)
    return Scenery(flat=flat, solid=solid)


def _lod_tile(parent: NodePath, name: str, near: MeshBuilder, far: MeshBuilder) -> None:
    """A tile under a Panda3D LODNode: full detail while any of it is within LOD_NEAR_M of the camera."""
    lod = LODNode(name)
    tile = parent.attach_new_node(lod)
    near_np, far_np = (
        tile.attach_new_node(mesh.node(f"{name}_{level}")) for mesh, level in ((near, "near"), (far, "far"))
    )
    near_np.flatten_strong()
    far_np.flatten_strong()
    bounds = near_np.get_bounds()
    centre, radius = (Point3(0, 0, 0), 0.0) if bounds.is_empty() else (bounds.get_center(), bounds.get_radius())
    lod.set_center(centre)
    switch = LOD_NEAR_M + radius
    lod.add_switch(switch, 0.0)  # child 0 (near) from the centre out to the switch distance
    lod.add_switch(max(1e9, 10 * switch), switch)  # child 1 (far) beyond it


def _lane_surface(tiles: _Tiles, lane: Lane, rgb: Colour) -> None:
    pts, _s = resample(lane.centre, 2.0)
    if len(pts) < 2:
        return
    # Slightly wider than the lane so neighbouring strips overlap instead of leaving hairline gaps.
    left, right = offset_polyline(pts, lane.width / 2 + 0.05), offset_polyline(pts, -lane.width / 2 - 0.05)
    _strips(tiles, ROAD, pts, left, right, 0.0, rgb)


def _strips(
    tiles: _Tiles,
    layer: int,
    pts: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    z: float,
    rgb: Colour,
    far: bool = True,
    chunk: int = 20,
) -> None:
    """A ribbon in chunks of `chunk` segments, each in its tile; the far version (unless `far` is False) keeps only
    the vertices a 2 cm Douglas-Peucker simplification keeps, so a straight chunk is two triangles."""
    for part in _chunks(len(pts), chunk):
        tiles.at(layer, pts[part]).strip(left[part], right[part], z, rgb)
        if far:
            keep = _kept_vertices(pts[part])
            tiles.at(layer, pts[part], far=True).strip(left[part][keep], right[part][keep], z, rgb)


def _chunks(points: int, segments: int) -> list[slice]:
    """Slices of a polyline of `points` points into runs of `segments` segments that share their end points."""
    return [slice(a, min(a + segments + 1, points)) for a in range(0, points - 1, segments)]


def _kept_vertices(pts: np.ndarray, tolerance_m: float = 0.02) -> list[int]:
    kept = shapely.LineString(pts).simplify(tolerance_m, preserve_topology=False).coords
    index = {p: i for i, p in enumerate(map(tuple, pts.tolist()))}
    return sorted({index[p] for p in kept})


def _puddles(tiles: _Tiles, lane: Lane, rgb: Colour) -> None:
    """Sky-tinted patches of standing water, placed reproducibly from the lane id."""
    rng = np.random.default_rng(zlib.crc32(lane.id.encode()))
    pts, s = resample(lane.centre, 1.0)
    if len(pts) < 2:
        return
    tangent = np.gradient(pts, axis=0)
    ring = np.linspace(0, 2 * math.pi, 9)[:-1]
    for at in np.arange(rng.uniform(3, 15), s[-1] - 2, 14.0):
        i = int(np.searchsorted(s, at))
        t = tangent[i] / max(np.linalg.norm(tangent[i]), 1e-9)
        n = np.array([-t[1], t[0]])
        centre = pts[i] + n * rng.uniform(-0.3, 0.3) * lane.width
        a, b = rng.uniform(0.8, 2.2), rng.uniform(0.4, 0.9)
        poly = centre + np.outer(a * np.cos(ring), t) + np.outer(b * np.sin(ring), n)
        tiles.at(PUDDLES, poly).polygon(poly, 0.0, rgb)


def _line(tiles: _Tiles, centre: np.ndarray, offset: float, rgb: Colour, dashed: bool) -> None:
    pts, s = resample(centre, 2.0)
    if len(pts) < 2:
        return
    edge = offset_polyline(pts, offset)
    length = float(s[-1])
    spans = (
        [(a, min(a + DASH_ON_M, length)) for a in np.arange(1.0, length, DASH_PERIOD_M)] if dashed else [(0, length)]
    )
    for s0, s1 in spans:
        if s1 - s0 < 0.2:
            continue
        piece = sub_polyline(edge, s0 * _ratio(edge, s), s1 * _ratio(edge, s))
        left, right = offset_polyline(piece, MARK_W / 2), offset_polyline(piece, -MARK_W / 2)
        # Past the LOD distance a dash is a fifth of a pixel wide and a few pixels long: dashes are left out there.
        _strips(tiles, PAINT, piece, left, right, 0.0, rgb, far=not dashed)


def _ratio(edge: np.ndarray, s: np.ndarray) -> float:
    """Arc length of the offset edge per metre of centre line (edges on the outside of a curve are longer)."""
    edge_len = float(np.sum(np.hypot(*np.diff(edge, axis=0).T)))
    return edge_len / s[-1] if s[-1] > 0 else 1.0


def _lane_paint(tiles: _Tiles, lane: Lane) -> None:
    half = lane.width / 2
    if lane.left_marking == Marking.SOLID_YELLOW:
        # Each direction paints its own line just inside its lane: together they make a double yellow.
        _line(tiles, lane.centre, half - 0.15, PALETTE["yellow"], dashed=False)
    elif lane.left_marking == Marking.SOLID_WHITE or (lane.left_marking == Marking.DASHED_WHITE and lane.left is None):
        _line(tiles, lane.centre, half, PALETTE["white"], dashed=lane.left_marking == Marking.DASHED_WHITE)
    if lane.right_marking == Marking.SOLID_YELLOW:
        _line(tiles, lane.centre, -half + 0.15, PALETTE["yellow"], dashed=False)
    elif lane.right_marking in (Marking.SOLID_WHITE, Marking.DASHED_WHITE):
        _line(tiles, lane.centre, -half, PALETTE["white"], dashed=lane.right_marking == Marking.DASHED_WHITE)
    if lane.stop_line_s is not None:
        s1 = float(lane.stop_line_s)
        piece = sub_polyline(lane.centre, max(0.0, s1 - 0.45), s1)
        if len(piece) >= 2 and np.hypot(*(piece[-1] - piece[0])) > 0.05:
            left, right = offset_polyline(piece, half - 0.1), offset_polyline(piece, -half + 0.1)
            tiles.at(PAINT, piece).strip(left, right, 0.0, PALETTE["white"])


def _crosswalk(mesh: MeshBuilder, poly: np.ndarray) -> None:
    """Zebra stripes across the long side of the crosswalk rectangle."""
    if len(poly) != 4:
        mesh.polygon(poly, 0.0, PALETTE["white"])
        return
    a, b, c = poly[0], poly[1], poly[2]
    if np.hypot(*(b - a)) < np.hypot(*(c - b)):
        poly = np.roll(poly, -1, axis=0)
        a, b, c = poly[0], poly[1], poly[2]
    along, across = b - a, c - b
    length = float(np.hypot(*along))
    n = max(1, int(length / 1.0))
    for k in range(n):
        t0, t1 = (k + 0.25) / n, (k + 0.75) / n
        p0, p1 = a + along * t0, a + along * t1
        mesh.polygon(np.array([p0, p1, p1 + across, p0 + across]), 0.0, PALETTE["white"])


def _sidewalk(tiles: _Tiles, centre: np.ndarray, width: float) -> None:
    """A raised strip with kerb faces; the far version has no kerbs (0.15 m is under a pixel past 40 m)."""
    pts, _ = resample(centre, 4.0)
    if len(pts) < 2:
        return
    left, right = offset_polyline(pts, width / 2), offset_polyline(pts, -width / 2)
    _strips(tiles, SOLID, pts, left, right, SIDEWALK_H, PALETTE["sidewalk"], chunk=10)
    for part in _chunks(len(pts), 10):
        mesh = tiles.at(SOLID, pts[part])
        for edge, flip in ((left[part], True), (right[part], False)):
            for p, q in itertools.pairwise(edge):
                p0, p1 = (q, p) if flip else (p, q)
                mesh.quad([(*p0, 0.0), (*p1, 0.0), (*p1, SIDEWALK_H), (*p0, SIDEWALK_H)], PALETTE["curb"])


def _building(mesh: MeshBuilder, footprint: np.ndarray, height: float, index: int, far: bool = False) -> None:
    """Walls in floor bands (wall, window strip, wall, ...) and a flat roof; short walls stay plain.

    The far version has plain walls in the bands' area-weighted colour: past the LOD distance a window strip is
    about a pixel high, so it blends into the wall anyway."""
    xy = np.asarray(footprint, dtype=np.float64)
    base = BUILDING_COLOURS[index % len(BUILDING_COLOURS)]
    if np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], -1)) < 0:
        xy = xy[::-1]
    bands = _wall_bands(height, base)
    glass_share = sum(z1 - z0 for z0, z1, rgb in bands if rgb != base) / height
    blended = mix(base, PALETTE["glass"], glass_share)
    for a, b in zip(xy, np.roll(xy, -1, axis=0), strict=True):
        plain = far or np.hypot(*(b - a)) < 3.0
        for z0, z1, rgb in [(0.0, height, blended if far else base)] if plain else bands:
            mesh.quad([(*a, z0), (*b, z0), (*b, z1), (*a, z1)], rgb)
    mesh.polygon(xy, height, PALETTE["roof"])


def _wall_bands(height: float, base: Colour) -> list[tuple[float, float, Colour]]:
    """(z0, z1, colour) from the ground up: each floor's window strip between wall bands, and the wall between one
    floor's lintel and the next floor's sill as one band."""
    floors = max(1, int(height / FLOOR_M))
    bands: list[tuple[float, float, Colour]] = []
    wall_from = 0.0
    for f in range(floors):
        z = f * FLOOR_M
        bands += [(wall_from, z + 1.1, base), (z + 1.1, z + 2.4, PALETTE["glass"])]
        wall_from = z + 2.4
    return [*bands, (wall_from, height, base)]


def _light_head(mesh: MeshBuilder, network: RoadNetwork, head: TrafficLightHead) -> None:
    x, y, z = head.position
    yaw = head.yaw
    d, w, h = HOUSING_SIZE_M
    mesh.box((x, y, z), (d, w, h), PALETTE["housing"], yaw=yaw)
    for colour in LAMP_ORDER:
        lamp_box(mesh, head, colour, LAMP_DARK[colour], emissive=True)
    # Pole on the kerb to the right of the traffic the head faces; a mast arm reaches the head if it hangs over lanes.
    base = _pole_base(network, head)
    top = z + h / 2 + 0.3
    mesh.box((base[0], base[1], top / 2), (0.22, 0.22, top), PALETTE["pole"])
    arm = np.array([x, y]) - base
    length = float(np.hypot(*arm))
    if length > 0.3:
        mid = (base + np.array([x, y])) / 2
        mesh.box(
            (mid[0], mid[1], z + h / 2 + 0.15), (length, 0.14, 0.14), PALETTE["pole"], yaw=math.atan2(arm[1], arm[0])
        )


def _pole_base(network: RoadNetwork, head: TrafficLightHead) -> np.ndarray:
    here = np.array(head.position[:2], dtype=np.float64)
    # Traffic drives towards the head (heading yaw + pi); its right-hand side is the head's left.
    right = np.array([-math.sin(head.yaw), math.cos(head.yaw)])
    lanes = [network.lanes[i] for i in head.lane_ids if i in network.lanes]
    if not lanes:
        return here
    reach = max(float((lane.centre[-1] - here) @ right) + lane.width / 2 for lane in lanes)
    return here + right * max(0.0, reach + 1.0)

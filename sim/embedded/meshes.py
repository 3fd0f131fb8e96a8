"""Vertex-coloured triangle meshes for the camera renderer, built in numpy and handed to Panda3D in one copy.

The software rasteriser is fastest with no lights at all, so shading is baked into vertex colours here:
`shade(colour, normal)` applies the weather's ambient + sun term once, at build time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from panda3d.core import (
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexArrayFormat,
    GeomVertexData,
    GeomVertexFormat,
    InternalName,
    Triangulator,
)

Colour = tuple[float, float, float]

_VERTEX_DTYPE = np.dtype([("pos", "<f4", 3), ("rgba", "u1", 4)])


def vertex_format() -> GeomVertexFormat:
    """float32 position + uint8 RGBA: 16 bytes per vertex, matching `_VERTEX_DTYPE`."""
    arr = GeomVertexArrayFormat()
    arr.add_column(InternalName.get_vertex(), 3, Geom.NT_float32, Geom.C_point)
    arr.add_column(InternalName.get_color(), 4, Geom.NT_uint8, Geom.C_color)
    return GeomVertexFormat.register_format(GeomVertexFormat(arr))


@dataclass(frozen=True)
class Shading:
    """Baked lighting: colour * (ambient + diffuse * max(0, n . sun)), all per channel."""

    ambient: Colour
    diffuse: Colour
    sun_dir: tuple[float, float, float]  # unit vector pointing towards the light

    def apply(self, colour: Colour, normal: Sequence[float], emissive: bool = False) -> Colour:
        if emissive:
            return colour
        n = np.asarray(normal, dtype=np.float64)
        lam = max(0.0, float(n @ np.asarray(self.sun_dir)))
        # Up-facing surfaces get a little extra sky light so walls and roofs do not shade alike.
        sky = 0.25 * max(0.0, float(n[2]))
        return tuple(
            min(1.0, c * (a * (1.0 + sky) + d * lam))
            for c, a, d in zip(colour, self.ambient, self.diffuse, strict=True)
        )  # type: ignore[return-value]


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """The colour t of the way from a to b."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


UNLIT = Shading(ambient=(1.0, 1.0, 1.0), diffuse=(0.0, 0.0, 0.0), sun_dir=(0.0, 0.0, 1.0))


class MeshBuilder:
    """Accumulates coloured triangles; `node()` turns them into one GeomNode."""

    def __init__(self, shading: Shading = UNLIT) -> None:
        self.shading = shading
        self._pos: list[np.ndarray] = []
        self._rgba: list[np.ndarray] = []
        self._idx: list[np.ndarray] = []
        self._count = 0

    @property
    def empty(self) -> bool:
        return self._count == 0

    def add(self, points: np.ndarray, tris: np.ndarray, rgba: np.ndarray) -> None:
        """Raw append: points (N, 3), triangle indices (M, 3) local to `points`, colours (N, 4) in 0..1."""
        self._pos.append(np.asarray(points, dtype=np.float32))
        self._rgba.append(np.clip(np.asarray(rgba) * 255.0 + 0.5, 0, 255).astype(np.uint8))
        self._idx.append(np.asarray(tris, dtype=np.uint32) + self._count)
        self._count += len(points)

    def quad(
        self, corners: Sequence[Sequence[float]], colour: Colour, alpha: float = 1.0, emissive: bool = False
    ) -> None:
        """A planar quad, corners counter-clockwise as seen from its front side."""
        pts = np.asarray(corners, dtype=np.float64)
        normal = np.cross(pts[1] - pts[0], pts[2] - pts[0])
        normal /= max(np.linalg.norm(normal), 1e-9)
        rgb = self.shading.apply(colour, normal, emissive)
        self.add(pts, np.array([[0, 1, 2], [0, 2, 3]]), np.tile([*rgb, alpha], (4, 1)))

    def polygon(self, xy: np.ndarray, z: float, colour: Colour, alpha: float = 1.0, emissive: bool = False) -> None:
        """A horizontal polygon facing up (any simple polygon; orientation is fixed here)."""
        xy = np.asarray(xy, dtype=np.float64)
        if len(xy) < 3:
            return
        if _signed_area(xy) < 0:
            xy = xy[::-1]
        tris = triangulate(xy)
        if len(tris) == 0:
            return
        rgb = self.shading.apply(colour, (0.0, 0.0, 1.0), emissive)
        pts = np.column_stack([xy, np.full(len(xy), z)])
        self.add(pts, tris, np.tile([*rgb, alpha], (len(xy), 1)))

    def strip(self, left: np.ndarray, right: np.ndarray, z: float, colour: Colour, alpha: float = 1.0) -> None:
        """A horizontal ribbon between two polylines of equal length (left/right of the travel direction)."""
        n = len(left)
        if n < 2:
            return
        pts = np.concatenate([np.column_stack([left, np.full(n, z)]), np.column_stack([right, np.full(n, z)])])
        i = np.arange(n - 1)
        tris = np.concatenate([np.column_stack([n + i, n + i + 1, i + 1]), np.column_stack([n + i, i + 1, i])])
        rgb = self.shading.apply(colour, (0.0, 0.0, 1.0))
        self.add(pts, tris, np.tile([*rgb, alpha], (2 * n, 1)))

    def prism(self, xy: np.ndarray, z0: float, z1: float, colour: Colour, top: Colour | None = None) -> None:
        """A vertical extrusion of a footprint polygon (walls + roof, no floor)."""
        xy = np.asarray(xy, dtype=np.float64)
        if _signed_area(xy) < 0:
            xy = xy[::-1]
        for a, b in zip(xy, np.roll(xy, -1, axis=0), strict=True):
            self.quad([(*a, z0), (*b, z0), (*b, z1), (*a, z1)], colour)
        self.polygon(xy, z1, top or colour)

    def box(
        self,
        centre: Sequence[float],
        size: Sequence[float],
        colour: Colour,
        top: Colour | None = None,
        yaw: float = 0.0,
        emissive: bool = False,
    ) -> None:
        """An axis-aligned (about z, optionally yawed) box: centre (x, y, z) of its middle, size (l, w, h)."""
        cx, cy, cz = centre
        hl, hw, hh = (s / 2.0 for s in size)
        c, s = math.cos(yaw), math.sin(yaw)
        foot = np.array([[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]]) @ np.array([[c, s], [-s, c]]) + (cx, cy)
        z0, z1 = cz - hh, cz + hh
        for a, b in zip(foot, np.roll(foot, -1, axis=0), strict=True):
            self.quad([(*a, z0), (*b, z0), (*b, z1), (*a, z1)], colour, emissive=emissive)
        self.polygon(foot, z1, top or colour, emissive=emissive)

    def node(self, name: str) -> GeomNode:
        node = GeomNode(name)
        if self.empty:
            return node
        pos, rgba, idx = np.concatenate(self._pos), np.concatenate(self._rgba), np.concatenate(self._idx)
        verts = np.empty(len(pos), dtype=_VERTEX_DTYPE)
        verts["pos"], verts["rgba"] = pos, rgba
        vdata = GeomVertexData(name, vertex_format(), Geom.UH_static)
        vdata.unclean_set_num_rows(len(verts))
        vdata.modify_array_handle(0).copy_data_from(verts.tobytes())
        prim = GeomTriangles(Geom.UH_static)
        prim.set_index_type(Geom.NT_uint32 if len(verts) > 65535 else Geom.NT_uint16)
        flat = idx.reshape(-1).astype(np.uint32 if len(verts) > 65535 else np.uint16)
        handle = prim.modify_vertices()
        handle.unclean_set_num_rows(len(flat))
        handle.modify_handle().copy_data_from(flat.tobytes())
        geom = Geom(vdata)
        geom.add_primitive(prim)
        node.add_geom(geom)
        return node


def triangulate(xy: np.ndarray) -> np.ndarray:
    """Triangle indices (M, 3) of a simple counter-clockwise polygon."""
    if len(xy) == 3:
        return np.array([[0, 1, 2]])
    tri = Triangulator()
    for x, y in xy:
        tri.add_polygon_vertex(tri.add_vertex(float(x), float(y)))
    tri.triangulate()
    return np.array(
        [
            (tri.get_triangle_v0(i), tri.get_triangle_v1(i), tri.get_triangle_v2(i))
            for i in range(tri.get_num_triangles())
        ],
        dtype=np.int64,
    ).reshape(-1, 3)


def _signed_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def offset_polyline(centre: np.ndarray, offset: float) -> np.ndarray:
    """The polyline shifted `offset` metres to its left (negative: right), with mitred joints."""
    pts = np.asarray(centre, dtype=np.float64)
    seg = np.diff(pts, axis=0)
    seg /= np.maximum(np.linalg.norm(seg, axis=1, keepdims=True), 1e-9)
    tang = np.vstack([seg[:1], seg[:-1] + seg[1:], seg[-1:]])
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), 1e-9)
    normal = np.column_stack([-tang[:, 1], tang[:, 0]])
    # Mitre: scale so the offset stays `offset` from both adjacent segments, capped at sharp corners.
    seg_n = np.column_stack([-seg[:, 1], seg[:, 0]])
    cos_half = np.ones(len(pts))
    cos_half[1:-1] = np.einsum("ij,ij->i", normal[1:-1], seg_n[1:])
    scale = 1.0 / np.clip(cos_half, 0.5, 1.0)
    return pts + normal * (offset * scale)[:, None]


def resample(centre: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every `step` metres along a polyline (ends included) and their arc lengths."""
    pts = np.asarray(centre, dtype=np.float64)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    if s[-1] <= 0:
        return pts[:1], s[:1]
    samples = np.unique(np.concatenate([np.arange(0.0, s[-1], step), s, [s[-1]]]))
    return np.column_stack([np.interp(samples, s, pts[:, 0]), np.interp(samples, s, pts[:, 1])]), samples


def sub_polyline(centre: np.ndarray, s0: float, s1: float) -> np.ndarray:
    """The part of a polyline between arc lengths s0 < s1."""
    pts = np.asarray(centre, dtype=np.float64)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    inner = (s > s0) & (s < s1)
    ss = np.concatenate([[s0], s[inner], [s1]])
    return np.column_stack([np.interp(ss, s, pts[:, 0]), np.interp(ss, s, pts[:, 1])])

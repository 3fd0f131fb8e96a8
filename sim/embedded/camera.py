"""Front camera of the embedded simulator: Panda3D's software rasteriser (p3tinydisplay) into an offscreen buffer.

No ShowBase and no window: each renderer owns its own GraphicsEngine, pipe, buffer and scene graph, so several can
live in one process and `close()` releases everything. The static scene is a copy from a per-process cache of
towns (scenery.py); actors and lit lamps are pooled nodes moved every frame.

Draw order (Panda3D cull bins): sky, ground, asphalt, paint (background bin, no depth test) ->
depth-tested solids (opaque bin) -> fog sheets -> lit lamps (fixed bin). Lighting is baked into vertex colours;
the ego's headlights are a fixed per-pixel gain on the finished image (the ground ahead is flat).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import cv2
import numpy as np
from panda3d.core import (
    Camera,
    FrameBufferProperties,
    GraphicsEngine,
    GraphicsOutput,
    GraphicsPipe,
    GraphicsPipeSelection,
    LVecBase4,
    NodePath,
    PerspectiveLens,
    Texture,
    TransparencyAttrib,
    WindowProperties,
)

from sim.core import ActorState, CameraConfig, EgoState, LightColor, TrafficLightState
from sim.embedded.actor_models import ActorPool
from sim.embedded.meshes import MeshBuilder, Shading, mix
from sim.embedded.roadnet import RoadNetwork
from sim.embedded.scenery import GROUND, LAMP_LIT, LAMP_ORDER, lamp_box, scenery_for
from sim.embedded.weather import Weather, get_weather

NEAR_M, FAR_M = 0.5, 800.0
SOLID_BIN_SORT = -100  # fixed-bin order of depth-tested solids: before the fog sheets (0..) and lit lamps (100)
SKY_M = 600.0  # distance of the sky backdrop, inside the far plane
GROUND_HALF_M = 700.0
LIT_LAMP_PROTRUSION_M = 0.12  # lit lamps sit in front of the dark ones so a 16-bit depth buffer keeps them apart


def _fog_alpha(density: float, thickness: float) -> float:
    """Opacity of a sheet that leaves exp(-density * thickness) of what is behind it."""
    return 1.0 - math.exp(-density * thickness)


class CameraRenderer:
    """Renders the front-camera RGB image of a RoadNetwork with actors and traffic-light states."""

    def __init__(self, network: RoadNetwork, config: CameraConfig | None = None, weather: str = "clear_noon") -> None:
        self.config = config = config or CameraConfig()
        self.weather: Weather = get_weather(weather)
        self._closed = True
        pipe = GraphicsPipeSelection.get_global_ptr().make_pipe("TinyOffscreenGraphicsPipe", "p3tinydisplay")
        if pipe is None:
            raise RuntimeError("Panda3D's software renderer (p3tinydisplay) is not available")
        self._engine = GraphicsEngine(pipe)
        fb = FrameBufferProperties()
        fb.set_rgb_color(True)
        fb.set_color_bits(24)
        fb.set_depth_bits(16)
        size = WindowProperties.size(config.width, config.height)
        buffer = self._engine.make_output(pipe, "front_camera", 0, fb, size, GraphicsPipe.BF_refuse_window)
        if buffer is None:
            raise RuntimeError("could not open an offscreen p3tinydisplay buffer")
        self._buffer = buffer
        self._texture = Texture("front_camera")
        buffer.add_render_texture(self._texture, GraphicsOutput.RTM_copy_ram)
        buffer.set_clear_color(LVecBase4(*self.weather.sky_horizon, 1.0))

        self._root = NodePath("scene")
        self._rig = self._root.attach_new_node("rig")  # ego-mounted, heading only
        lens = PerspectiveLens()
        hfov = config.fov_deg
        vfov = math.degrees(2 * math.atan(math.tan(math.radians(hfov) / 2) * config.height / config.width))
        lens.set_fov(hfov, vfov)
        lens.set_near_far(NEAR_M, FAR_M)
        self._camera = self._rig.attach_new_node(Camera("front", lens))
        self._camera.set_p(config.pitch_deg)
        region = buffer.make_display_region()
        region.set_camera(self._camera)

        scenery = scenery_for(network, self.weather)
        self._flat_state(self._ground(vfov), GROUND)
        for layer, node in scenery.flat.items():
            node.reparent_to(self._root)
            self._flat_state(node, layer)
        scenery.solid.reparent_to(self._root)
        # Depth-tested solids go to the fixed bin (drawn in scene-graph order) rather than Panda3D's state-sorted
        # opaque bin, which orders by state pointers: where depths tie, that order differed between renderer
        # instances and so did a few pixels.
        scenery.solid.set_bin("fixed", SOLID_BIN_SORT)
        self._sky(hfov, vfov)
        self._beam = self._headlight_gain() if self.weather.beam_gain > 1.0 else None
        if self.weather.fog_density > 0:
            self._fog_sheets(hfov, vfov)
        self._actors_root = self._root.attach_new_node("actors")
        self._actors_root.set_bin("fixed", SOLID_BIN_SORT)
        self._actors = ActorPool(self._actors_root, self.weather)
        self._lamps = self._lit_lamps(network)
        self._lamp_state: dict[str, LightColor] = {}
        self._closed = False  # only now is there everything close() releases

    # ---------------------------------------------------------------- scene construction
    def _shading(self) -> Shading:
        w = self.weather
        return Shading(ambient=w.ambient, diffuse=w.sun_colour, sun_dir=w.sun_dir)

    @staticmethod
    def _flat_state(node: NodePath, order: int) -> None:
        node.set_bin("background", order)
        node.set_depth_test(False)
        node.set_depth_write(True)

    def _ground(self, vfov: float) -> NodePath:
        """The ground plane as a camera-fixed trapezoid that starts in front of the camera.

        A plane around the camera would have triangles crossing the camera plane: the software rasteriser's
        near-plane clipping then drops a whole triangle at a few poses (a sky-coloured wedge in the image). Nothing of
        the ground closer than the lowest view ray's footprint is visible, so starting at half of that is exact."""
        mesh = MeshBuilder(self._shading())
        h = GROUND_HALF_M
        down = math.radians(vfov / 2 - self.config.pitch_deg)  # how far the lowest view ray points below level
        start = min(h / 2, self.config.z / math.tan(down) / 2) if down > 0 else h / 2
        mesh.polygon(np.array([[-h, start], [h, start], [h, h], [-h, h]]), 0.0, self.weather.ground_colour)
        node = self._rig.attach_new_node(mesh.node("ground"))
        node.set_z(-self.config.z)
        return node

    def _sky(self, hfov: float, vfov: float) -> None:
        w = self.weather
        half_w = SKY_M * math.tan(math.radians(min(hfov, 170.0)) / 2) * 1.1
        top = math.radians(vfov / 2 + abs(self.config.pitch_deg) + 5.0)
        elevations = [-0.05, 0.0, 0.06, 0.18, 0.4, max(0.8, top)]
        mesh = MeshBuilder()
        for e0, e1 in itertools.pairwise(elevations):
            z0, z1 = SKY_M * math.tan(min(e0, 1.4)), SKY_M * math.tan(min(e1, 1.4))
            c0, c1 = (mix(w.sky_horizon, w.sky_zenith, min(1.0, max(0.0, e) / 0.5)) for e in (e0, e1))
            pts = np.array([[-half_w, SKY_M, z0], [half_w, SKY_M, z0], [half_w, SKY_M, z1], [-half_w, SKY_M, z1]])
            mesh.add(pts, np.array([[0, 1, 2], [0, 2, 3]]), np.array([[*c0, 1], [*c0, 1], [*c1, 1], [*c1, 1]]))
        node = self._rig.attach_new_node(mesh.node("sky"))
        node.set_bin("background", 0)
        node.set_depth_test(False)
        node.set_depth_write(False)

    def _headlight_gain(self) -> tuple[int, np.ndarray]:
        """Per-pixel brightness gain of the ego's low beam on the ground ahead, as (first row, uint8 gain * 32).

        Applied to the finished image: whatever covers a lit ground pixel (a car, a pedestrian) stands between the
        lamp and that ground point, so it is lit as well."""
        cfg = self.config
        f = cfg.width / 2 / math.tan(math.radians(cfg.fov_deg) / 2)
        u = (np.arange(cfg.width) + 0.5 - cfg.width / 2) / f
        v = (np.arange(cfg.height) + 0.5 - cfg.height / 2) / f
        p = math.radians(cfg.pitch_deg)
        ray_x = np.broadcast_to(u[None, :], (cfg.height, cfg.width))
        ray_y = np.broadcast_to((math.cos(p) + v * math.sin(p))[:, None], ray_x.shape)
        ray_z = np.broadcast_to((math.sin(p) - v * math.cos(p))[:, None], ray_x.shape)
        t = np.where(ray_z < -1e-6, cfg.z / -np.minimum(ray_z, -1e-6), 1e6)  # ray length to the ground
        dist, lateral = t * ray_y, t * ray_x
        beam = np.exp(-((lateral / (1.5 + 0.25 * dist)) ** 2)) * np.clip((dist - 1.5) / 4.0, 0, 1) * np.exp(-dist / 28)
        gain = 1.0 + (self.weather.beam_gain - 1.0) * beam[..., None] * np.array([1.0, 0.96, 0.85])
        first = int(np.argmax(beam.max(axis=1) > 0.01)) if beam.max() > 0.01 else cfg.height
        return first, np.ascontiguousarray(np.clip(gain[first:] * 32, 0, 255).astype(np.uint8))

    def _fog_sheets(self, hfov: float, vfov: float) -> None:
        """Camera-facing translucent sheets, depth-tested against the scene: a stepwise exponential fog."""
        density = self.weather.fog_density
        # Geometric spacing from just inside the nearest visible ground to where 95 % of the view is fogged.
        first, last = 3.0, max(3.0 / density, 6.0)
        count = 6 if density >= 0.01 else 4
        depths = list(np.geomspace(first, last, count))
        tx, tz = math.tan(math.radians(hfov) / 2) * 1.05, math.tan(math.radians(vfov) / 2 + 0.05) * 1.05
        prev = 0.0
        for k, d in enumerate(depths):
            alpha = _fog_alpha(density, d - prev) if k < len(depths) - 1 else _fog_alpha(density, 1e6)
            prev = d
            # One oversized triangle rather than a quad: the rasteriser draws shared edges twice, which would show
            # as a blended seam; the clipped triangle's edges lie on the image border.
            pts = np.array([(-3 * tx * d, d, -tz * d), (3 * tx * d, d, -tz * d), (0.0, d, 5 * tz * d)])
            mesh = MeshBuilder()
            mesh.add(pts, np.array([[0, 1, 2]]), np.tile([*self.weather.fog_colour, alpha], (3, 1)))
            node = self._camera.attach_new_node(mesh.node(f"fog{k}"))
            node.set_bin("fixed", k)
            node.set_depth_test(True)
            node.set_depth_write(False)
            node.set_transparency(TransparencyAttrib.M_alpha)

    def _lit_lamps(self, network: RoadNetwork) -> dict[str, dict[LightColor, NodePath]]:
        root = self._root.attach_new_node("lit_lamps")
        root.set_bin("fixed", 100)
        lamps: dict[str, dict[LightColor, NodePath]] = {}
        for head_id, head in network.lights.items():
            fx, fy = math.cos(head.yaw), math.sin(head.yaw)
            lamps[head_id] = {}
            for colour in LAMP_ORDER:
                mesh = MeshBuilder()
                lamp_box(mesh, head, colour, LAMP_LIT[colour], emissive=True)
                node = root.attach_new_node(mesh.node(f"{head_id}:{colour.value}"))
                node.set_pos(fx * LIT_LAMP_PROTRUSION_M, fy * LIT_LAMP_PROTRUSION_M, 0.0)
                node.stash()
                lamps[head_id][colour] = node
        return lamps

    # ---------------------------------------------------------------- per frame
    def render(self, ego: EgoState, actors: Sequence[ActorState], lights: Sequence[TrafficLightState]) -> np.ndarray:
        """The RGB image (H, W, 3) uint8 seen from the ego's front camera.

        Lights are matched to the network's heads by id; states for unknown ids are ignored."""
        if self._closed:
            raise RuntimeError("CameraRenderer.render called after close()")
        cfg = self.config
        c, s = math.cos(ego.yaw), math.sin(ego.yaw)
        self._rig.set_pos_hpr(
            ego.x + c * cfg.x - s * cfg.y, ego.y + s * cfg.x + c * cfg.y, cfg.z, math.degrees(ego.yaw) - 90.0, 0, 0
        )
        self._actors.update(actors, (ego.x, ego.y))
        for light in lights:
            self._set_lamp(light.id, light.color)
        self._engine.render_frame()
        # The buffer is bottom-up BGR(A); OpenCV converts and flips it an order of magnitude faster than
        # Texture.get_ram_image_as("RGB").
        tex = self._texture
        channels = tex.get_num_components()
        raw = np.frombuffer(tex.get_ram_image(), dtype=np.uint8).reshape(cfg.height, cfg.width, channels)
        image = cv2.flip(cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB if channels == 4 else cv2.COLOR_BGR2RGB), 0)
        if self._beam is not None:
            first, gain = self._beam
            lit = image[first:]
            cv2.multiply(lit, gain, dst=lit, scale=1.0 / 32.0)
        return image

    def _set_lamp(self, head_id: str, colour: LightColor) -> None:
        nodes = self._lamps.get(head_id)
        if nodes is None or self._lamp_state.get(head_id) == colour:
            return
        previous = self._lamp_state.get(head_id)
        if previous in nodes:
            nodes[previous].stash()
        if colour in nodes:
            nodes[colour].unstash()
        self._lamp_state[head_id] = colour

    def close(self) -> None:
        """Release the buffer, the engine and the scene graph. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._actors.clear()
        self._engine.remove_all_windows()
        self._root.remove_node()
        self._lamps.clear()
        del self._buffer, self._texture, self._engine

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

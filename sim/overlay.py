"""Review-video frames: the front camera with a BEV inset, speed, navigation, the meta-action and its reasoning,
and infraction markers, drawn with OpenCV. Also a plain top-down view of a `WorldState` for backends that have no
BEV renderer of their own."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sim.core import ActorKind, Infraction, LightColor, WorldState, box_corners

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (230, 40, 40)
SPEED_COLORS = {
    "STOP": (240, 60, 60),
    "DECELERATE": (250, 170, 40),
    "KEEP": (235, 235, 235),
    "ACCELERATE": (80, 220, 90),
}
LIGHT_COLORS = {LightColor.RED: (235, 40, 40), LightColor.YELLOW: (240, 200, 30), LightColor.GREEN: (40, 210, 70)}
ACTOR_COLORS = {"vehicle": (200, 200, 210), "pedestrian": (255, 0, 255), "static": (240, 210, 40)}


@dataclass(frozen=True)
class Hud:
    time: float
    speed_mps: float
    navigation: str
    action: str | None
    reasoning: str | None
    fallback: bool
    route_completion: float  # percent
    infractions: Sequence[Infraction]  # all so far, newest last
    flash: bool  # an infraction happened moments ago
    throttle: float = 0.0
    brake: float = 0.0
    steer: float = 0.0


def wrap_text(text: str, max_width_px: int, scale: float, thickness: int = 1, max_lines: int = 3) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if cv2.getTextSize(candidate, FONT, scale, thickness)[0][0] <= max_width_px or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " ..."]
    return lines


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color=WHITE, thickness: int = 1) -> None:
    # A drop shadow of the same thickness: Hershey glyph advances grow with thickness, so a thicker outline drifts.
    cv2.putText(img, text, (org[0] + 1, org[1] + 1), FONT, scale, BLACK, thickness, cv2.LINE_AA)
    cv2.putText(img, text, org, FONT, scale, color, thickness, cv2.LINE_AA)


def _panel(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    """Darken a rectangle to about 45% so text on it reads on any background."""
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(img.shape[1], x1), min(img.shape[0], y1)
    if x1 > x0 and y1 > y0:
        region = img[y0:y1, x0:x1]
        region -= (region >> 1) + (region >> 4)


def compose_frame(camera: np.ndarray, bev: np.ndarray | None, hud: Hud, width: int = 960) -> np.ndarray:
    """One RGB frame of even size: the camera scaled to `width`, overlays drawn on top."""
    h0, w0 = camera.shape[:2]
    height = round(width * h0 / w0 / 2.0) * 2
    img = cv2.resize(np.ascontiguousarray(camera[..., :3]), (width, height), interpolation=cv2.INTER_LINEAR)
    s = width / 960.0  # layout scale
    pad = int(10 * s)
    if bev is not None:
        size = int(min(height * 0.42, width * 0.3)) // 2 * 2
        inset = bev[..., :3] if bev.shape[:2] == (size, size) else cv2.resize(bev[..., :3], (size, size))
        x0 = width - size - pad
        img[pad : pad + size, x0 : x0 + size] = inset
        cv2.rectangle(img, (x0 - 1, pad - 1), (x0 + size, pad + size), WHITE, 1)
    # top-left: time, speed, progress, navigation
    _panel(img, 0, 0, int(430 * s), int(92 * s))
    _text(
        img,
        f"t {hud.time:6.1f} s   {hud.speed_mps * 3.6:5.1f} km/h   RC {hud.route_completion:5.1f}%",
        (pad, int(26 * s)),
        0.62 * s,
    )
    _text(img, f"nav: {hud.navigation}", (pad, int(52 * s)), 0.55 * s)
    _control_bars(img, hud, pad, int(64 * s), s)
    # bottom: meta-action and reasoning
    lines = wrap_text(hud.reasoning or "", width - 2 * pad, 0.5 * s) if hud.reasoning else []
    top = height - int((44 + 22 * len(lines)) * s)
    _panel(img, 0, top, width, height)
    action = hud.action or "(no plan yet)"
    color = SPEED_COLORS.get(action.split(",")[0].strip(), WHITE)
    _text(img, action + ("   [fallback]" if hud.fallback else ""), (pad, top + int(30 * s)), 0.8 * s, color, 2)
    for i, line in enumerate(lines):
        _text(img, line, (pad, top + int((54 + 22 * i) * s)), 0.5 * s, (220, 220, 220))
    # infractions: the latest few, and a red border while one is fresh
    recent = list(hud.infractions)[-5:]
    if recent:
        y = int(118 * s)
        _text(img, f"infractions: {len(hud.infractions)}", (pad, y), 0.55 * s, RED, 1)
        for k, event in enumerate(reversed(recent)):
            _text(img, f"{event.time:6.1f} s  {event.type.label}", (pad, y + int((22 + 20 * k) * s)), 0.5 * s, RED)
    if hud.flash:
        cv2.rectangle(img, (0, 0), (width - 1, height - 1), RED, max(4, int(10 * s)))
        if recent:
            label = recent[-1].type.label.upper()
            tw = cv2.getTextSize(label, FONT, 1.1 * s, 3)[0][0]
            _text(img, label, ((width - tw) // 2, height // 2), 1.1 * s, RED, 3)
    return img


def _control_bars(img: np.ndarray, hud: Hud, x: int, y: int, s: float) -> None:
    w, h = int(80 * s), int(8 * s)
    for k, (value, color, label) in enumerate(((hud.throttle, (80, 220, 90), "thr"), (hud.brake, RED, "brk"))):
        x0 = x + k * int(120 * s)
        cv2.rectangle(img, (x0, y), (x0 + w, y + h), WHITE, 1)
        cv2.rectangle(img, (x0, y), (x0 + int(w * min(1.0, max(0.0, value))), y + h), color, -1)
        _text(img, label, (x0 + w + 4, y + h), 0.4 * s)
    x0 = x + 2 * int(120 * s)
    mid = x0 + w // 2
    cv2.rectangle(img, (x0, y), (x0 + w, y + h), WHITE, 1)
    cv2.rectangle(img, (mid, y), (mid + int(w / 2 * max(-1.0, min(1.0, hud.steer))), y + h), (90, 160, 250), -1)
    _text(img, "steer", (x0 + w + 4, y + h), 0.4 * s)


def topdown(world: WorldState, size_px: int = 256, range_m: float = 60.0) -> np.ndarray:
    """Ego-centred, heading-up view: route, actors, lights and the ego, `range_m` metres across."""
    img = np.full((size_px, size_px, 3), 40, dtype=np.uint8)
    scale = size_px / range_m
    ego = world.ego
    c, sn = math.cos(ego.yaw), math.sin(ego.yaw)
    origin = np.array([size_px / 2.0, size_px * 0.7])

    def to_px(points: np.ndarray) -> np.ndarray:
        d = np.atleast_2d(points) - np.array([ego.x, ego.y])
        fwd = d[:, 0] * c + d[:, 1] * sn
        left = -d[:, 0] * sn + d[:, 1] * c
        return np.stack([origin[0] - left * scale, origin[1] - fwd * scale], axis=1).round().astype(np.int32)

    route = world.route.points
    near = np.hypot(route[:, 0] - ego.x, route[:, 1] - ego.y) < range_m * 1.5
    if near.sum() >= 2:
        cv2.polylines(img, [to_px(route[near])], False, (60, 110, 200), max(2, int(3.5 * scale)), cv2.LINE_AA)
    for light in world.lights:
        a, b = to_px(np.array(light.stop_line))
        cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), LIGHT_COLORS.get(light.color, WHITE), 2)
    for actor in world.actors:
        if math.hypot(actor.x - ego.x, actor.y - ego.y) > range_m:
            continue
        if actor.kind is ActorKind.PEDESTRIAN:  # a ringed dot: a real-size box would be a pixel or two
            centre = tuple(int(v) for v in to_px(np.array([actor.x, actor.y]))[0])
            radius = max(3, round(0.6 * scale))
            cv2.circle(img, centre, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(img, centre, radius, ACTOR_COLORS["pedestrian"], -1, cv2.LINE_AA)
            continue
        key = "static" if actor.kind.is_static else "vehicle"
        corners = to_px(box_corners(actor.x, actor.y, actor.yaw, max(actor.length, 0.6), max(actor.width, 0.6)))
        cv2.fillPoly(img, [corners], ACTOR_COLORS[key], cv2.LINE_AA)
    cv2.fillPoly(img, [to_px(box_corners(ego.x, ego.y, ego.yaw, ego.length, ego.width))], (60, 220, 120), cv2.LINE_AA)
    return img

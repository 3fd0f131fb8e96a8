"""A small synthetic planning dataset with learnable labels, for tests and the tiny-cpu training preset.

Each frame is a road scene with a coloured traffic-light blob: red means STOP (or DECELERATE when far), yellow
DECELERATE, green KEEP (ACCELERATE when slow). The path follows the navigation text. So speed is read from the
image, path from the prompt, and a model that learns both can reach full accuracy. Written in the same on-disk
layout and fields as collected rollouts (see training/dataset.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from planner.actions import MetaAction, format_answer
from planner.prompt import build_prompt

NAVIGATION: dict[str, str] = {
    "STRAIGHT": "Go straight at the next junction in {d} m",
    "LEFT_TURN": "Turn left at the next junction in {d} m",
    "RIGHT_TURN": "Turn right at the next junction in {d} m",
    "LEFT_CHANGE": "Change to the left lane within {d} m",
    "RIGHT_CHANGE": "Change to the right lane within {d} m",
}
LIGHT_RGB: dict[str, tuple[int, int, int]] = {"red": (230, 30, 30), "yellow": (240, 200, 20), "green": (30, 210, 60)}


def speed_label(light: str, speed: float, near: bool) -> tuple[str, str]:
    """(speed action, reason) for the light state; the reason is the reasoning sentence's core."""
    if light == "red":
        return (
            ("STOP", "the light ahead is red and the stop line is close")
            if near
            else (
                "DECELERATE",
                "the light ahead is red but still far away",
            )
        )
    if light == "yellow":
        return "DECELERATE", "the light ahead turned yellow"
    if speed < 5.0:
        return "ACCELERATE", "the light is green and we are driving slowly"
    return "KEEP", "the light is green and we are at a good speed"


def render_frame(light: str, near: bool, rng: np.random.Generator, size: tuple[int, int] = (480, 270)) -> np.ndarray:
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[: height // 2] = (135, 180, 230)  # sky
    frame[height // 2 :] = (70, 70, 75)  # road
    frame[height // 2 :, width // 2 - 3 : width // 2 + 3] = (230, 230, 230)  # lane marking
    radius = height // 6 if near else height // 12
    cx = int(rng.integers(width // 4, 3 * width // 4))
    cy = int(rng.integers(radius + 2, height // 2 - radius))
    yy, xx = np.ogrid[:height, :width]
    frame[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = LIGHT_RGB[light]
    noise = rng.integers(-8, 9, size=frame.shape)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def make_sample(index: int, seed: int, split: str, image_dir: Path, root: Path) -> dict[str, object]:
    rng = np.random.default_rng([seed, index, 0 if split == "train" else 1])
    light = str(rng.choice(list(LIGHT_RGB)))
    near = bool(rng.random() < 0.5)
    speed = float(np.round(rng.uniform(0.0, 14.0), 1))
    path = str(rng.choice(list(NAVIGATION)))
    navigation = NAVIGATION[path].format(d=int(rng.integers(2, 9)) * 10)
    speed_action, reason = speed_label(light, speed, near)
    action = MetaAction(speed_action, path)
    image_path = image_dir / f"{split}_{index:05d}.png"
    Image.fromarray(render_frame(light, near, rng)).save(image_path)
    verb = navigation.split(" ")[0].lower()
    thinking = f"<think> {reason[0].upper()}{reason[1:]}, and the route asks to {verb} </think>"
    return {
        "image": str(image_path.relative_to(root)),
        "problem": build_prompt(speed, navigation),
        "solution": format_answer(action),
        "thinking": thinking,
        "speed": speed,
        "navigation": navigation,
        "speed_action": speed_action,
        "path_action": path,
        "scenario": f"synthetic_light_{light}",
        "seed": seed * 100_000 + index,
        "tags": ["synthetic", light, "near" if near else "far"],
    }


def write_synthetic_dataset(
    root: str | os.PathLike[str], n_train: int = 64, n_validation: int = 16, seed: int = 0
) -> Path:
    """Write the dataset under `root` (train/ and validation/ JSON-lines shards, images/). Deterministic."""
    root = Path(root)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n_train), ("validation", n_validation)):
        if count <= 0:
            continue
        rows = [make_sample(i, seed, split, image_dir, root) for i in range(count)]
        (root / split).mkdir(exist_ok=True)
        shard = root / split / "shard-00000.jsonl"
        tmp = shard.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tmp.replace(shard)
    return root

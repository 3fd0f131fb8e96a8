"""How many image tokens does the planner need to see what decides the action? A probe on simulator frames.

    uv run python benchmarks/probe_image_tokens.py            # ~20 min on the 2-core CPU development machine

Frames come from the embedded simulator with the decisive cues known exactly (benchmarks/probe_frames.py: the
colour of our light 8-70 m before the stop line, a pedestrian in our lane or beside it, the gap to a lead car) on six
training towns and two held-out test towns, in every weather preset. Training scenes are rendered three times with
their cues redrawn (the light shows each colour once), so that within a scene only the cues differ.

For each setting (image-token budget x vision tower size) the Qwen2-VL vision tower exactly as the planner builds it
(transformers' `Qwen2VisionTransformerPretrainedModel` from `Qwen2VLConfig.vision_config`, fed by
`Qwen2VLImageProcessor` with the setting's max_pixels) is trained from scratch with two kinds of linear readout:

- pooled (the frame's answer): mean + max pool of the merged tokens -> layer norm -> linear, per cue;
- at the token (what a token carries): linear on the one merged token under the cue's known image point (our lit
  lamp, the pedestrian's torso, the middle of the lead's rear), trained on the frames that have that point.

Both are trained together and scored on the held-out towns: accuracy per cue, per distance bin and per weather, with
training time and the tower's parameter count. Writes benchmarks/results/probe_image_tokens.json and .md.

What it does not show: a from-scratch tower trained on ~1,300 frames for 5 epochs is a lower bound on what the
planner (more data, longer training, the language model attending over the tokens) can read from the same tokens;
the pooled readouts in particular are limited by that training, not only by the tokens. The at-token readouts are
told where the cue is; the planner has to find it. Nothing here says the planner acts on what it sees.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from probe_frames import LEAD_CLASSES, LIGHT_CLASSES, PEDESTRIAN_CLASSES, TOWNS, FrameLabel, render_frames
from torch import nn
from transformers import Qwen2VLConfig, Qwen2VLImageProcessor
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

from sim.core import WEATHER_PRESETS

CUES: dict[str, tuple[str, ...]] = {"light": LIGHT_CLASSES, "pedestrian": PEDESTRIAN_CLASSES, "lead": LEAD_CLASSES}


@dataclass(frozen=True)
class TokenCue:
    """A cue read from the one merged token under a known image point: a training signal for the tower and a readout
    of what the tokens carry once nobody has to search for the cue."""

    classes: tuple[str, ...]
    point: str  # FrameLabel field with the (row, col); None: the frame has no such token
    truth: str  # FrameLabel field with the class


TOKEN_CUES: dict[str, TokenCue] = {
    "light@lamp_token": TokenCue(LIGHT_CLASSES, "lamp_rc", "light"),
    "pedestrian@token": TokenCue(("lane", "side"), "pedestrian_rc", "pedestrian_place"),
    "lead@token": TokenCue(LEAD_CLASSES[:-1], "lead_rc", "lead"),
}
# name -> (embed_dim, depth, heads) of the vision tower; "test" and "small" are planner/tiny.py's presets.
VISION: dict[str, tuple[int, int, int]] = {"test": (32, 1, 2), "small": (64, 2, 4), "wide": (128, 2, 4)}
MERGED_DIM = 128  # the merger's output width (the text model's hidden size in the planner)
MIN_PIXELS = 28 * 28 * 4
NATIVE = 28 * 28 * 170  # smart_resize keeps a 480x270 frame at 280x476 (10 x 17 merged tokens) under this bound
STOP_BINS_M = (8.0, 20.0, 35.0, 50.0, 70.01)  # 35-50 m holds the stopping distance from 50 km/h
PEDESTRIAN_BINS_M = (5.0, 15.0, 25.0, 40.01)


@dataclass(frozen=True)
class Setting:
    max_pixels: int  # the image processor's bound (28 x 28 px per merged token)
    vision: str  # key of VISION

    @property
    def name(self) -> str:
        budget = "native" if self.max_pixels >= NATIVE else f"{self.max_pixels // 784}tok"
        return f"{self.vision}@{budget}"


# The token sweep runs on the `small` tower; the width sweep at 60 tokens (cheap) and at the native frame.
DEFAULT_SETTINGS: tuple[Setting, ...] = (
    *(Setting(784 * n, "small") for n in (24, 60, 144)),
    Setting(NATIVE, "small"),
    Setting(784 * 60, "test"),
    Setting(784 * 60, "wide"),
    Setting(NATIVE, "test"),
)


class Probe(nn.Module):
    """The planner's vision tower, a pooled linear readout per cue and a linear readout per located token cue."""

    def __init__(self, vision: str) -> None:
        super().__init__()
        embed, depth, heads = VISION[vision]
        vision_config = {"depth": depth, "embed_dim": embed, "hidden_size": MERGED_DIM, "num_heads": heads}
        config = Qwen2VLConfig(vision_config=vision_config | {"mlp_ratio": 2, "patch_size": 14})
        self.tower = Qwen2VisionTransformerPretrainedModel._from_config(config.vision_config)
        self.norm = nn.LayerNorm(2 * MERGED_DIM)
        self.heads = nn.ModuleDict({cue: nn.Linear(2 * MERGED_DIM, len(c)) for cue, c in CUES.items()})
        self.token_heads = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(MERGED_DIM), nn.Linear(MERGED_DIM, len(c.classes))) for c in TOKEN_CUES.values()
        )

    def forward(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor, at: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per cue; `at` (frames, token cues) indexes the merged token each token cue reads."""
        tokens = self.tower(pixel_values, grid_thw=grid_thw).pooler_output.view(len(grid_thw), -1, MERGED_DIM)
        pooled = self.norm(torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1))
        out = {cue: head(pooled) for cue, head in self.heads.items()}
        frames = torch.arange(len(tokens))
        for k, (name, head) in enumerate(zip(TOKEN_CUES, self.token_heads, strict=True)):
            out[name] = head(tokens[frames, at[:, k]])
        return out


def token_index(labels: list[FrameLabel], grid_thw: torch.Tensor, frame_hw: tuple[int, ...]) -> torch.Tensor:
    """(frames, token cues): the merged token (28x28 px of the resized frame) holding each token cue's point."""
    out = []
    for lab, (_, gh, gw) in zip(labels, grid_thw.tolist(), strict=True):
        row = []
        for cue in TOKEN_CUES.values():
            r, c = getattr(lab, cue.point) or (0, 0)
            r, c = int(r * gh * 14 / frame_hw[0]) // 28, int(c * gw * 14 / frame_hw[1]) // 28
            row.append(min(r, gh // 2 - 1) * (gw // 2) + min(c, gw // 2 - 1))
        out.append(row)
    return torch.tensor(out)


def targets(labels: list[FrameLabel]) -> dict[str, torch.Tensor]:
    """Class indices per cue; token cues get -100 (ignored) where the frame has no such point."""
    out = {cue: torch.tensor([classes.index(getattr(lab, cue)) for lab in labels]) for cue, classes in CUES.items()}
    for name, cue in TOKEN_CUES.items():
        out[name] = torch.tensor(
            [cue.classes.index(getattr(lab, cue.truth)) if getattr(lab, cue.point) else -100 for lab in labels]
        )
    return out


def batches(n: int, size: int, rng: np.random.Generator | None, group: int = 1) -> list[np.ndarray]:
    """Index batches of about `size`; shuffled by groups of `group` consecutive frames (a scene's variants) that
    stay in one batch."""
    groups = np.arange(n).reshape(-1, group)
    order = groups[rng.permutation(len(groups))] if rng is not None else groups
    per = max(1, size // group)
    return [order[i : i + per].ravel() for i in range(0, len(order), per)]


def train_and_score(
    setting: Setting, train: tuple[np.ndarray, list[FrameLabel]], test: tuple[np.ndarray, list[FrameLabel]],
    epochs: int, batch_size: int, lr: float, seed: int, group: int = 1,
) -> dict[str, Any]:  # fmt: skip
    processor = Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=setting.max_pixels)
    torch.manual_seed(seed)
    model = Probe(setting.vision)
    tower_params = sum(p.numel() for p in model.tower.parameters())
    images, labels = train
    y = targets(labels)
    steps = epochs * len(batches(len(images), batch_size, None, group))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    losses = []
    model.train()
    for _ in range(epochs):
        for idx in batches(len(images), batch_size, rng, group):
            inputs = processor(images=list(images[idx]), return_tensors="pt")
            grid = inputs["image_grid_thw"]
            out = model(inputs["pixel_values"], grid, token_index([labels[i] for i in idx], grid, images.shape[1:3]))
            loss = sum(_loss(out[c], y[c][idx]) for c in out)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    train_s = time.perf_counter() - start
    grid = processor(images=[images[0]], return_tensors="pt")["image_grid_thw"][0].tolist()
    predicted = predict(model, processor, test, batch_size)
    return {
        "setting": setting.name,
        "vision": setting.vision,
        "vision_embed_depth_heads": list(VISION[setting.vision]),
        "max_pixels": setting.max_pixels,
        "resized_hw": [grid[1] * 14, grid[2] * 14],
        "image_tokens": grid[0] * grid[1] * grid[2] // 4,
        "tower_parameters": tower_params,
        "train_s": round(train_s, 1),
        "train_loss_first_last": [round(float(np.mean(losses[:10])), 3), round(float(np.mean(losses[-10:])), 3)],
        "test": score(predicted, test[1]),
    }


@torch.inference_mode()
def predict(
    model: Probe, processor: Qwen2VLImageProcessor, data: tuple[np.ndarray, list[FrameLabel]], batch_size: int
) -> dict[str, list]:
    images, labels = data
    model.eval()
    out: dict[str, list[int]] = defaultdict(list)
    for idx in batches(len(images), batch_size, None):
        inputs = processor(images=list(images[idx]), return_tensors="pt")
        grid = inputs["image_grid_thw"]
        at = token_index([labels[i] for i in idx], grid, images.shape[1:3])
        for cue, logits in model(inputs["pixel_values"], grid, at).items():
            out[cue] += logits.argmax(-1).tolist()
    classes = CUES | {name: cue.classes for name, cue in TOKEN_CUES.items()}
    return {cue: [classes[cue][k] for k in ks] for cue, ks in out.items()}


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if bool((target < 0).all()):
        return logits.sum() * 0.0
    return nn.functional.cross_entropy(logits, target, ignore_index=-100)


def _accuracy(pairs: list[tuple[str, str]]) -> dict[str, float | int]:
    return {"accuracy": round(sum(p == t for p, t in pairs) / len(pairs), 3) if pairs else None, "n": len(pairs)}


def _bin(value: float, edges: tuple[float, ...]) -> str:
    k = int(np.searchsorted(edges, value, side="right")) - 1
    return f"{edges[k]:g}-{min(edges[k + 1], math.floor(edges[-1])):g}m"


def score(predicted: dict[str, list[str]], labels: list[FrameLabel]) -> dict[str, Any]:
    """Held-out accuracy per cue, per weather and per distance bin (light: to the stop line; pedestrian: placed
    pedestrians, in the lane or beside it; lead: per bucket)."""
    truth_of = {cue: (cue, None) for cue in CUES} | {name: (c.truth, c.point) for name, c in TOKEN_CUES.items()}
    result: dict[str, Any] = {}
    for cue, (attr, point) in truth_of.items():
        pairs, by_weather, by_bin = [], defaultdict(list), defaultdict(list)
        for guess, lab in zip(predicted[cue], labels, strict=True):
            if point is not None and getattr(lab, point) is None:
                continue
            pair = (guess, getattr(lab, attr))
            pairs.append(pair)
            by_weather[lab.weather].append(pair)
            if attr == "light":
                by_bin[_bin(lab.stop_distance_m, STOP_BINS_M)].append(pair)
            elif attr in ("pedestrian", "pedestrian_place") and lab.pedestrian_distance_m is not None:
                by_bin[f"{lab.pedestrian_place} {_bin(lab.pedestrian_distance_m, PEDESTRIAN_BINS_M)}"].append(pair)
            elif attr == "lead":
                by_bin[lab.lead].append(pair)
        result[cue] = _accuracy(pairs) | {
            "by_weather": {w: _accuracy(by_weather[w]) for w in sorted(by_weather)},
            "by_distance": {k: _accuracy(by_bin[k]) for k in sorted(by_bin, key=_order)},
        }
    return result


def _order(key: str) -> tuple[float, str]:
    """Distance bins in order ("8-20m", "side 5-15m"), lead buckets in LEAD_CLASSES order."""
    if key in LEAD_CLASSES:
        return float(LEAD_CLASSES.index(key)), key
    return float(key.split()[-1].split("-")[0]), key


def majority(train: list[FrameLabel], test: list[FrameLabel]) -> dict[str, float]:
    """Accuracy on the test towns of always answering the training split's most frequent class."""
    out = {}
    for cue in CUES:
        values = [getattr(lab, cue) for lab in train]
        top = max(set(values), key=values.count)
        out[cue] = round(sum(getattr(lab, cue) == top for lab in test) / len(test), 3)
    return out


def markdown(report: dict[str, Any]) -> str:
    bins = [f"{a:g}-{min(b, 70):g}m" for a, b in itertools.pairwise(STOP_BINS_M)]
    frames, lamp = report["frames"], report["lamp_px_by_stop_distance"]
    lines = [
        f"Command: `{report['command']}` on {report['machine']}, {report['torch_threads']} torch thread(s), "
        f"{report['total_s'] / 60:.0f} min. Training: {frames['train']} frames ({frames['train_scenes']} scenes x "
        f"{report['variants']} variants) on 6 towns; test: {frames['test']} frames on 2 held-out towns; 6 weathers; "
        f"{report['epochs']} epochs, batch {report['batch_size']}. Lit lamp size at 480x270 (px across) by distance "
        "to the stop line: " + ", ".join(f"{k} {v}" for k, v in lamp.items()) + ".",
        "",
        "| tower (embed/depth) | image tokens (resize) | tower params | train s | light | light at 35-50m "
        "| light at lamp token | lamp token at 35-50m | pedestrian in lane | pedestrian at token | lead bucket "
        "| lead at token |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        t, (e, d, _) = r["test"], r["vision_embed_depth_heads"]
        lines.append(
            f"| {r['vision']} ({e}/{d}) | {r['image_tokens']} ({r['resized_hw'][1]}x{r['resized_hw'][0]}) "
            f"| {r['tower_parameters']:,} | {r['train_s']:.0f} | {_acc(t, 'light')} | {_acc(t, 'light', '35-50m')} "
            f"| {_acc(t, 'light@lamp_token')} | {_acc(t, 'light@lamp_token', '35-50m')} | {_acc(t, 'pedestrian')} "
            f"| {_acc(t, 'pedestrian@token')} | {_acc(t, 'lead')} | {_acc(t, 'lead@token')} |"
        )
    m = report["majority_baseline"]
    lines.append(f"| majority class | | | | {m['light']} | | | | {m['pedestrian']} | | {m['lead']} | |")
    lines += ["", "Light state read at the lamp token, by distance to the stop line and by weather:", ""]
    lines.append("| setting | " + " | ".join(bins + list(WEATHER_PRESETS)) + " |")
    lines.append("|---|" + "---:|" * (len(bins) + len(WEATHER_PRESETS)))
    for r in report["results"]:
        t = r["test"]
        cells = [_acc(t, "light@lamp_token", b) for b in bins]
        cells += [str(t["light@lamp_token"]["by_weather"][w]["accuracy"]) for w in WEATHER_PRESETS]
        lines.append(f"| {r['setting']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _acc(test: dict[str, Any], cue: str, distance: str | None = None) -> str:
    entry = test[cue] if distance is None else test[cue]["by_distance"].get(distance, {})
    return "-" if entry.get("accuracy") is None else f"{entry['accuracy']:.2f}"


def lamp_sizes(labels: list[FrameLabel]) -> dict[str, float]:
    sizes = defaultdict(list)
    for lab in labels:
        sizes[_bin(lab.stop_distance_m, STOP_BINS_M)].append(lab.lamp_px)
    return {k: round(float(np.mean(sizes[k])), 1) for k in sorted(sizes, key=_order)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-scenes", type=int, default=12, help="scenes per training town and weather")
    parser.add_argument("--variants", type=int, default=3, help="renderings per training scene, cues redrawn")
    parser.add_argument("--test-frames", type=int, default=40, help="frames (one per scene) per test town and weather")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=9, help="frames per step (whole scenes)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--settings", nargs="*", help="subset of setting names (e.g. small@60tok small@native)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (on the shared 2 cores 1 beats 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/probe_image_tokens.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = [s for s in DEFAULT_SETTINGS if not args.settings or s.name in args.settings]
    if not settings:
        raise SystemExit(f"--settings: none of {args.settings} is one of {[s.name for s in DEFAULT_SETTINGS]}")

    start = time.perf_counter()
    splits = {}
    for split, scenes, variants in (("train", args.train_scenes, args.variants), ("test", args.test_frames, 1)):
        towns = tuple(t for t in TOWNS if t.split == split)
        frames = list(render_frames(towns, WEATHER_PRESETS, scenes, args.seed, variants=variants))
        splits[split] = (np.stack([f for f, _ in frames]), [lab for _, lab in frames])
    render_s = time.perf_counter() - start
    print(f"rendered {len(splits['train'][1])} + {len(splits['test'][1])} frames in {render_s:.0f} s", flush=True)

    results = []
    for setting in settings:
        r = train_and_score(
            setting, splits["train"], splits["test"], args.epochs, args.batch_size, args.lr, args.seed, args.variants
        )
        summary = {c: r["test"][c]["accuracy"] for c in r["test"]}
        print(json.dumps({k: r[k] for k in ("setting", "image_tokens", "train_s")} | summary), flush=True)
        results.append(r)
    report = {
        "machine": f"the 2-core CPU development machine ({platform.processor() or platform.machine()}, shared)",
        "command": "uv run python benchmarks/probe_image_tokens.py",
        "argv": vars(args),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "frames": {s: len(splits[s][1]) for s in splits} | {"train_scenes": len(splits["train"][1]) // args.variants},
        "towns": [asdict(t) for t in TOWNS],
        "weathers": list(WEATHER_PRESETS),
        "variants": args.variants,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "render_s": round(render_s, 1),
        "total_s": round(time.perf_counter() - start, 1),
        "lamp_px_by_stop_distance": lamp_sizes(splits["test"][1]),
        "majority_baseline": majority(splits["train"][1], splits["test"][1]),
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

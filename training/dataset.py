"""The planning dataset (MetaAD / AlphaDrive fields) and its conversion to TRL's conversational multimodal format.

On disk: a directory with one folder (or file prefix) per split holding JSON-lines or Parquet shards, read by
`datasets.load_dataset`:

    <root>/train/*.jsonl | *.json | *.parquet        (or <root>/train-*.jsonl, <root>/train.parquet, ...)
    <root>/validation/...
    <root>/images/...                                (`image` paths are relative to <root>, or absolute)

The model prompt is always rebuilt with `planner.prompt.build_messages(speed, navigation)` so training and
inference read the same words; the stored `problem` text is kept for reference and for other tools.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, Image, load_dataset

from planner.prompt import build_messages

FIELDS: tuple[str, ...] = (
    "image",
    "problem",
    "solution",
    "thinking",
    "speed",
    "navigation",
    "speed_action",
    "path_action",
    "scenario",
    "seed",
    "tags",
)
SPLITS: tuple[str, ...] = ("train", "validation")
_EXTENSIONS: dict[str, str] = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def split_files(root: Path, split: str) -> tuple[str, list[str]]:
    """The `datasets` builder name and the shard files of one split."""
    candidates = sorted(p for p in (root / split).rglob("*") if p.is_file()) if (root / split).is_dir() else []
    candidates += sorted(p for p in root.glob(f"{split}*") if p.is_file())
    files = [p for p in candidates if p.suffix in _EXTENSIONS and p.stat().st_size > 0]
    builders = {_EXTENSIONS[p.suffix] for p in files}
    if len(builders) > 1:
        raise ValueError(f"{root}: split {split!r} mixes shard formats {sorted(builders)}")
    return (builders.pop() if builders else "json"), [str(p) for p in files]


def load_planning_dataset(root: str | os.PathLike[str], splits: tuple[str, ...] = SPLITS) -> DatasetDict:
    """Load the splits that exist under `root`, check the fields, and make `image` decode to a PIL image."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {root} does not exist")
    found: dict[str, list[str]] = {}
    builder = "json"
    for split in splits:
        builder_name, files = split_files(root, split)
        if files:
            found[split], builder = files, builder_name
    if not found:
        raise FileNotFoundError(f"{root}: no .jsonl/.json/.parquet shards for splits {list(splits)}")
    data = load_dataset(builder, data_files=found)
    for split, ds in data.items():
        missing = [f for f in FIELDS if f not in ds.column_names]
        if missing:
            raise ValueError(f"{root} split {split!r} lacks field(s) {missing}; every sample needs {list(FIELDS)}")
    return DatasetDict({name: resolve_images(ds, root) for name, ds in data.items()})


def resolve_images(ds: Dataset, root: Path) -> Dataset:
    """Relative image paths are relative to the dataset root; the column then decodes to PIL images."""

    def absolute(path: str) -> str:
        return path if os.path.isabs(path) else str(root / path)

    ds = ds.map(lambda row: {"image": absolute(row["image"])}, desc="resolve image paths")
    return ds.cast_column("image", Image(mode="RGB"))


def think_text(thinking: str | None) -> str:
    """The reasoning wrapped in `<think> </think>` (the field should hold the tags already; be lenient)."""
    text = (thinking or "").strip()
    if not text:
        return ""
    return text if text.startswith("<think>") else f"<think> {text} </think>"


def completion_text(row: dict[str, Any], with_reasoning: bool = True) -> str:
    """The SFT target: `<think> ... </think> <answer> ... </answer>`, or the answer alone."""
    solution = row["solution"].strip()
    reasoning = think_text(row.get("thinking")) if with_reasoning else ""
    return f"{reasoning} {solution}" if reasoning else solution


def prompt_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    return build_messages(float(row["speed"]), str(row["navigation"]))


def to_grpo_format(ds: Dataset) -> Dataset:
    """Adds `prompt` (conversational, one image placeholder); `image` and `solution` stay for the trainer/rewards."""
    return ds.map(lambda row: {"prompt": prompt_messages(row)}, desc="build prompts")


def to_sft_format(ds: Dataset, with_reasoning: bool = True) -> Dataset:
    """Conversational prompt-completion pairs with the image, as TRL's SFTTrainer expects for VLMs."""

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        text = completion_text(row, with_reasoning)
        return {
            "prompt": prompt_messages(row),
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
        }

    keep = {"image"}
    return ds.map(convert, remove_columns=[c for c in ds.column_names if c not in keep], desc="build SFT pairs")

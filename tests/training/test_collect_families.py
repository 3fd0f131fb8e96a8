"""Collection from scenario families: `sources.families` plans seeded variants (held-out seeds and towns stay out)
and a real collection run writes samples from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from planner.config import ConfigError, from_mapping
from training.collect import CollectConfig, collect, plan_episodes


def _config(root: Path, families: dict[str, Any]) -> CollectConfig:
    data = {
        "output_dir": str(root),
        "workers": 1,
        "progress": False,
        "max_steps": 12,
        "sim": {"name": "embedded", "render": True, "camera": {"width": 64, "height": 36}},
        "sources": {"suite": [], "procedural_episodes": 0, "families": families},
    }
    return from_mapping(CollectConfig, data, "collect")


def test_family_episodes_are_planned_per_family_and_seed(tmp_path: Path) -> None:
    config = _config(tmp_path, {"names": ["accident", "parking_exit"], "variants": 3, "first_seed": 100})
    episodes = plan_episodes(config)
    assert [e.key for e in episodes] == [
        f"family-{n}-{s:05d}" for n in ("accident", "parking_exit") for s in range(100, 103)
    ]
    assert {e.source for e in episodes} == {"family"} and {e.seed for e in episodes} == {100, 101, 102}
    every = plan_episodes(_config(tmp_path, {"names": "all", "variants": 1}))
    assert len(every) == 44  # one variant of every Bench2Drive scenario type
    with pytest.raises((ValueError, ConfigError), match="unknown families"):
        plan_episodes(_config(tmp_path, {"names": ["no_such_family"], "variants": 1}))


def test_collection_draws_variants_in_the_asked_towns(tmp_path: Path) -> None:
    root = tmp_path / "data"
    families = {"names": ["accident", "hard_break_route"], "variants": 2, "towns": ["arterial_1000"]}
    summary = collect(_config(root, families), log=lambda *_: None)
    assert summary["episodes"] == 4 and summary["failed_episodes"] == 0 and summary["samples"] > 0
    records = [json.loads(p.read_text()) for p in sorted((root / "episodes").glob("*.json"))]
    for record in records:
        assert "town:arterial_1000" in record["tags"] and "family_variant" in record["tags"]
    rows = [json.loads(line) for shard in root.glob("*/*.jsonl") for line in shard.read_text().splitlines()]
    assert {r["scenario"] for r in rows} <= {f"{n}_v{s}" for n in ("accident", "hard_break_route") for s in (0, 1)}

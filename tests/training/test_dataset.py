from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from planner.actions import parse_answer
from planner.prompt import build_prompt
from training.dataset import FIELDS, load_planning_dataset, to_grpo_format, to_sft_format


def test_synthetic_dataset_loads_with_all_fields(synthetic_data: Path) -> None:
    data = load_planning_dataset(synthetic_data)
    assert set(data) == {"train", "validation"}
    assert len(data["train"]) == 16 and len(data["validation"]) == 8
    row = data["train"][0]
    assert set(FIELDS) <= set(row)
    assert isinstance(row["image"], Image.Image) and row["image"].size == (480, 270)
    assert row["problem"] == build_prompt(row["speed"], row["navigation"])
    action = parse_answer(row["solution"]).action
    assert action is not None and (action.speed, action.path) == (row["speed_action"], row["path_action"])


def test_grpo_and_sft_formats(synthetic_data: Path) -> None:
    train = load_planning_dataset(synthetic_data)["train"]
    grpo = to_grpo_format(train)[0]
    assert grpo["prompt"][-1]["role"] == "user"
    assert [p["type"] for p in grpo["prompt"][-1]["content"]] == ["image", "text"]
    assert "solution" in grpo and isinstance(grpo["image"], Image.Image)
    with_reasoning = to_sft_format(train)[0]["completion"][0]["content"][0]["text"]
    answer_only = to_sft_format(train, with_reasoning=False)[0]["completion"][0]["content"][0]["text"]
    assert parse_answer(with_reasoning).format_ok and with_reasoning.startswith("<think>")
    assert answer_only == train[0]["solution"]


def test_missing_field_is_named(tmp_path: Path, synthetic_data: Path) -> None:
    rows = [json.loads(line) for line in (synthetic_data / "train" / "shard-00000.jsonl").read_text().splitlines()]
    (tmp_path / "train").mkdir()
    image = str((synthetic_data / rows[0]["image"]).resolve())
    broken = [{k: v for k, v in r.items() if k != "thinking"} | {"image": image} for r in rows[:2]]
    (tmp_path / "train" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in broken))
    with pytest.raises(ValueError, match="thinking"):
        load_planning_dataset(tmp_path)


def test_missing_directory_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no \.jsonl"):
        load_planning_dataset(tmp_path)

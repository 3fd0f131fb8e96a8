from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
)

from planner.actions import SPEED_ACTIONS, MetaAction, format_answer
from planner.prompt import build_messages
from planner.tiny import SPECIAL_TOKENS, build_tiny_model, resolve_size


def test_round_trip_through_auto_classes(tiny_model: Path) -> None:
    processor = AutoProcessor.from_pretrained(tiny_model)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    assert isinstance(model, Qwen2VLForConditionalGeneration)
    tokenizer = processor.tokenizer
    for token in SPECIAL_TOKENS:
        ids = tokenizer.encode(token, add_special_tokens=False)
        assert ids == [tokenizer.convert_tokens_to_ids(token)], token
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    text = format_answer(MetaAction("STOP", "LEFT_TURN"), "The light ahead is red.")
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_prompt_renders_and_image_is_small(tiny_model: Path) -> None:
    processor = AutoProcessor.from_pretrained(tiny_model)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    text = processor.apply_chat_template(build_messages(5.0, "Turn left"), add_generation_prompt=True, tokenize=False)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert text.count("<|image_pad|>") == 1
    frame = Image.fromarray(np.zeros((270, 480, 3), np.uint8))
    inputs = processor(text=[text], images=[frame], return_tensors="pt")
    patches = int(inputs["image_grid_thw"].prod())
    assert patches <= 32  # a 480x270 frame is a handful of patches
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == patches // 4
    with torch.inference_mode():
        out = model(**inputs)
    assert out.logits.shape[-1] == model.config.text_config.vocab_size


def test_vocabulary_words_are_few_tokens(tiny_model: Path) -> None:
    tokenizer = AutoProcessor.from_pretrained(tiny_model).tokenizer
    for word in SPEED_ACTIONS:
        assert len(tokenizer.encode(" " + word, add_special_tokens=False)) <= 2, word


def test_build_is_deterministic(tiny_model: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again", "test", seed=0)
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        digest = [hashlib.sha256((d / name).read_bytes()).hexdigest() for d in (tiny_model, again)]
        assert digest[0] == digest[1], name


def test_bad_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tiny size"):
        resolve_size("huge")
    with pytest.raises(ValueError, match="mrope_section"):
        resolve_size("test", text_hidden=96)


@pytest.mark.parametrize(("size", "tokens"), [("test", 6), ("small", 18), ("cpu", 170)])
def test_image_tokens_per_frame_of_each_preset(size: str, tokens: int) -> None:
    spec = resolve_size(size)
    processor = Qwen2VLImageProcessor(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    grid = processor(images=[np.zeros((270, 480, 3), np.uint8)], return_tensors="pt")["image_grid_thw"]
    assert int(grid.prod()) // 4 == tokens


def test_cpu_preset_loads_through_auto_classes_and_fits_the_checkpoint_budget(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "cpu", "cpu", seed=0)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert isinstance(model, Qwen2VLForConditionalGeneration)
    assert sum(p.numel() for p in model.parameters()) <= 6_000_000
    assert (path / "model.safetensors").stat().st_size <= 30 * 1024 * 1024
    text = processor.apply_chat_template(build_messages(8.0, "Go straight"), add_generation_prompt=True, tokenize=False)
    frame = Image.fromarray(np.zeros((270, 480, 3), np.uint8))
    inputs = processor(text=[text], images=[frame], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 20, 34]]  # 280x476 px: the whole frame, 170 merged tokens
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 170
    with torch.inference_mode():
        out = model(**inputs)
    assert out.logits.shape[:2] == inputs["input_ids"].shape

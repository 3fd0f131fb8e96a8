"""Offline, deterministic builder of a tiny Qwen2-VL (tokenizer, processor, random weights) for tests and CPU runs.

The result is a normal Hugging Face checkpoint directory: `AutoProcessor.from_pretrained(dir)` and
`AutoModelForImageTextToText.from_pretrained(dir)` load it, so every code path that serves Qwen/Qwen2-VL-2B-Instruct
serves it too. Nothing is downloaded: the byte-level BPE tokenizer is trained on our own prompt and answer text.

    python -m planner.tiny --size small --out models/tiny-small

Presets: `test` (0.19M parameters, for unit tests), `small` (1.1M, 18 image tokens per 480x270 frame: the frame is
shrunk to 168x84 and a lit traffic light becomes less than a pixel) and `cpu` (the planner to train on a CPU; its
sizes come from the image-token probe, see `SIZES`).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, MetaAction, format_answer
from planner.prompt import SYSTEM_PROMPT, build_prompt

# Qwen2-VL's special tokens, first in the vocabulary so their ids never depend on the training corpus.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# ChatML with Qwen2-VL's vision markers. Content is a string or a list of typed parts; image parts may carry the
# image itself (TRL fills `"image"`) or be bare placeholders. Written so that rendering the prompt with
# `add_generation_prompt` is a prefix of rendering prompt + assistant reply (prompt-completion SFT relies on it).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'video' -%}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class TinySize:
    """Architecture knobs of the tiny model. Text head_dim = text_hidden / text_heads; mrope_section sums to half."""

    vocab_size: int = 1024
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 128
    mrope_section: tuple[int, int, int] = (2, 3, 3)
    vision_depth: int = 1
    vision_embed: int = 32
    vision_heads: int = 2
    max_position_embeddings: int = 2048
    # Images are resized to at most this many pixels (multiples of 28x28): a 480x270 frame becomes 56x84, 24 patches.
    min_pixels: int = 28 * 28 * 4
    max_pixels: int = 28 * 28 * 8


SIZES: dict[str, TinySize] = {
    "test": TinySize(),
    "small": TinySize(
        vocab_size=2048,
        text_hidden=128,
        text_layers=4,
        text_heads=4,
        text_kv_heads=2,
        text_intermediate=384,
        mrope_section=(4, 6, 6),
        vision_depth=2,
        vision_embed=64,
        vision_heads=4,
        max_pixels=28 * 28 * 24,
    ),
    # Sized by benchmarks/probe_image_tokens.py (results in benchmarks/results/probe_image_tokens.json): a from-scratch
    # Qwen2-VL tower reads our light's colour from the token under the lamp at 35-50 m before the stop line (the
    # stopping distance from 50 km/h) no better than chance at 18 tokens, about half the time at 50 and well only
    # from 144 tokens up, best with the whole 480x270 frame (476x280, 170 tokens; the lamp is ~2 px across). At that
    # budget the 32-wide one-block tower does about as well as the 64-wide two-block one, and a 128-wide tower did not
    # rescue 50 tokens: the frame's resolution decides, not the tower's width. The tower is therefore `small`'s; the
    # text model grows instead (256 wide, 4 layers) because the language model, not a pooled readout, has to find the
    # lamp, the pedestrian and the lead among 170 tokens. 4.0M parameters (16 MB of float32 safetensors).
    "cpu": TinySize(
        vocab_size=2048,
        text_hidden=256,
        text_layers=4,
        text_heads=4,
        text_kv_heads=2,
        text_intermediate=768,
        mrope_section=(8, 12, 12),
        vision_depth=2,
        vision_embed=64,
        vision_heads=4,
        max_pixels=28 * 28 * 170,
    ),
}


def resolve_size(size: str | TinySize, **overrides: int) -> TinySize:
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"unknown tiny size {size!r}; choose from {sorted(SIZES)}")
        size = SIZES[size]
    spec = replace(size, **overrides)
    head_dim = spec.text_hidden // spec.text_heads
    if head_dim * spec.text_heads != spec.text_hidden or sum(spec.mrope_section) * 2 != head_dim:
        raise ValueError(f"text_hidden/text_heads must be even and 2*sum(mrope_section) must equal it: {spec}")
    return spec


_OBJECTS = ("traffic light", "lead vehicle", "pedestrian", "cyclist", "cone", "truck", "parked car", "barrier")
_STATES = ("is red", "is green", "turned yellow", "is crossing", "is braking", "is stopped", "blocks our lane")
_ROUTE = ("the route turns left", "the route turns right", "the route goes straight", "our lane ends")


def reasoning_sentences() -> Iterator[str]:
    """Short causal sentences in the style of the distilled reasoning traces."""
    for obj, state in itertools.product(_OBJECTS, _STATES):
        for distance in (5, 12, 20, 35, 60):
            yield f"The {obj} ahead {state}, {distance} m away, so we should react."
    for route, speed in itertools.product(_ROUTE, ("slow", "at the limit", "fast")):
        yield f"We drive {speed} and {route} at the next junction; the road is clear."


def training_corpus() -> Iterator[str]:
    """Every kind of text the planner reads or writes: system prompt, user prompts, answers, reasoning."""
    yield SYSTEM_PROMPT
    navigations = (
        "Follow the road",
        "Go straight at the next junction in 40 m",
        "Turn left at the next junction in 25 m",
        "Turn right at the next junction in 60 m",
        "Change to the left lane",
        "Change to the right lane",
    )
    for speed, nav in itertools.product((0.0, 2.5, 5.0, 8.3, 11.1, 13.9), navigations):
        yield build_prompt(speed, nav)
    sentences = list(reasoning_sentences())
    for i, (s, p) in enumerate(itertools.product(SPEED_ACTIONS, PATH_ACTIONS)):
        yield format_answer(MetaAction(s, p))
        for sentence in sentences[i::20]:
            yield format_answer(MetaAction(s, p), sentence)
    yield from sentences


def build_tokenizer(vocab_size: int) -> Qwen2Tokenizer:
    """A byte-level BPE with Qwen2's pre-tokenisation, trained on `training_corpus()` (deterministic)."""
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(training_corpus()), trainer=trainer)
    model = json.loads(backend.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]],
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=4096,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_config(spec: TinySize, tokenizer: Qwen2Tokenizer) -> Qwen2VLConfig:
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_intermediate,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "num_key_value_heads": spec.text_kv_heads,
        "max_position_embeddings": spec.max_position_embeddings,
        "max_window_layers": spec.text_layers,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": list(spec.mrope_section)},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": spec.vision_depth,
        "embed_dim": spec.vision_embed,
        "hidden_size": spec.text_hidden,
        "num_heads": spec.vision_heads,
        "mlp_ratio": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    return Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_processor(spec: TinySize, tokenizer: Qwen2Tokenizer) -> Qwen2VLProcessor:
    image_processor = Qwen2VLImageProcessor(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    video_processor = Qwen2VLVideoProcessor(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    return Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_model(out: str | Path, size: str | TinySize = "test", seed: int = 0, **overrides: int) -> Path:
    """Build and save a tiny Qwen2-VL checkpoint (model, processor, generation config) into `out`."""
    spec = resolve_size(size, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(spec.vocab_size)
    config = build_config(spec, tokenizer)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(out)
    build_processor(spec, tokenizer).save_pretrained(out)
    (out / "tiny_spec.json").write_text(json.dumps({"seed": seed, **asdict(spec)}, indent=2) + "\n")
    return out


def count_parameters(path: str | Path) -> int:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a tiny offline Qwen2-VL checkpoint.")
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_tiny_model(args.out, args.size, args.seed)
    print(f"tiny Qwen2-VL ({args.size}, {count_parameters(path):,} parameters) saved to {path}")


if __name__ == "__main__":
    main()

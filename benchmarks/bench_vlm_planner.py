"""VLM planner speed: decisions/s and latency percentiles for the tiny models (CPU) and, on a GPU, the Qwen2-VL-2B
architecture with random weights (built from its config, nothing downloaded; latency does not depend on the weights).

    uv run python benchmarks/bench_vlm_planner.py                       # test + small tiny models, CPU, 1 thread
    uv run python benchmarks/bench_vlm_planner.py --models qwen2vl-2b   # on a GPU machine

Every decision generates exactly `--new-tokens` tokens (EOS is ignored) so numbers compare across models.
Writes benchmarks/results/bench_vlm_planner.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig, Qwen2VLConfig, Qwen2VLForConditionalGeneration

from planner.interface import PlannerInput
from planner.tiny import TinySize, build_processor, build_tiny_model, build_tokenizer
from planner.vlm import VLMPlanner, VLMPlannerConfig, resolve_device

QWEN2VL_2B_PIXELS = (3136, 401408)  # the qwen2vl-2b training preset's processor bounds


def build_qwen2vl_2b_random(out: Path) -> Path:
    """Qwen2-VL-2B-Instruct's architecture (published config values) with random weights and our tokenizer."""
    spec = TinySize(min_pixels=QWEN2VL_2B_PIXELS[0], max_pixels=QWEN2VL_2B_PIXELS[1])
    tokenizer = build_tokenizer(2048)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|im_end|>")}
    ids |= {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>", "<|endoftext|>")}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 1536,
            "intermediate_size": 8960,
            "num_hidden_layers": 28,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4},
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    model.save_pretrained(out)
    build_processor(spec, tokenizer).save_pretrained(out)
    return out


def make_inputs(n: int, seed: int = 0) -> list[PlannerInput]:
    rng = np.random.default_rng(seed)
    return [
        PlannerInput(rng.integers(0, 255, (270, 480, 3), dtype=np.uint8), float(rng.uniform(0, 14)), "Turn left", 0.0)
        for _ in range(n)
    ]


def bench_model(path: Path, batch_size: int, decisions: int, new_tokens: int, device: str) -> dict[str, Any]:
    config = VLMPlannerConfig(
        model=str(path), batch_size=batch_size, max_new_tokens=new_tokens, device=device, name=path.name
    )
    planner = VLMPlanner(config)
    model = planner.backend.model  # type: ignore[attr-defined]
    model.generation_config.min_new_tokens = new_tokens  # fixed work per decision
    params = sum(p.numel() for p in model.parameters())
    planner.plan_batch(make_inputs(batch_size, seed=99))  # warm-up
    planner.reset_stats()
    inputs = make_inputs(decisions)
    start = time.perf_counter()
    planner.plan_batch(inputs)
    wall = time.perf_counter() - start
    lat = np.asarray(planner._stats.latencies_ms)
    return {
        "parameters": params,
        "batch_size": batch_size,
        "decisions": decisions,
        "new_tokens_per_decision": new_tokens,
        "decisions_per_s": decisions / wall,
        "latency_ms": {f"p{q}": float(np.percentile(lat, q)) for q in (50, 90, 95, 99)} | {"mean": float(lat.mean())},
        "dtype": str(model.dtype),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["test", "small"], help="test, small, qwen2vl-2b")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--decisions", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch default)")
    parser.add_argument("--out", default="benchmarks/results/bench_vlm_planner.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = Path(tmp) / name
            if name == "qwen2vl-2b":
                build_qwen2vl_2b_random(path)
            else:
                build_tiny_model(path, name)
            for batch in args.batch_sizes:
                key = f"{name}/batch{batch}"
                results[key] = bench_model(path, batch, args.decisions, args.new_tokens, device)
                print(key, json.dumps(results[key]))
    report = {
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

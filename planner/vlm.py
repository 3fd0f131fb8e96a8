"""The VLM planner: a Qwen2-VL / Qwen2.5-VL checkpoint answers `<think> ... </think> <answer> SPEED, PATH </answer>`.

The same code loads a hub id (`Qwen/Qwen2-VL-2B-Instruct`), a local fine-tuned checkpoint or a tiny model from
`planner.tiny`. Two generation backends sit behind one small protocol: HF transformers (default) and vLLM (optional,
import-guarded). Unparseable output never reaches the controller: the configured safe action is used instead and
counted in `stats`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS, MetaAction, ParsedAnswer, parse_answer
from planner.checkpoints import answer_token_budget, resolve_model
from planner.config import from_mapping
from planner.interface import Plan, PlannerInput
from planner.prompt import build_messages

BACKENDS = ("transformers", "vllm")
SELECTIONS = ("majority", "first_valid")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class VLMPlannerConfig:
    name: str = "vlm"
    model: str | None = None  # hub id or local checkpoint directory; None: the shipped planner (models/planner-cpu)
    backend: str = "transformers"  # transformers | vllm
    dtype: str = "auto"  # auto: bfloat16 on a GPU that supports it, else float32
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    attn_implementation: str | None = None  # None: the transformers default (sdpa); or eager, flash_attention_2
    local_files_only: bool = False
    batch_size: int = 8  # inputs per generate call in plan_batch
    max_new_tokens: int | None = None  # None: the checkpoint's answer budget (planner.checkpoints), else 128
    do_sample: bool = False  # greedy by default: reproducible decisions
    temperature: float = 0.7
    top_p: float = 1.0
    num_candidates: int = 1  # completions sampled per input (needs do_sample when > 1)
    selection: str = "majority"  # majority: most frequent valid action; first_valid: first parseable candidate
    fallback_speed: str = "DECELERATE"
    fallback_path: str = "STRAIGHT"
    seed: int = 0
    min_pixels: int | None = None  # override the processor's image size bounds (pixels); None keeps the checkpoint's
    max_pixels: int | None = None
    vllm_gpu_memory_utilization: float = 0.5
    vllm_max_model_len: int = 4096

    def __post_init__(self) -> None:
        checks = (
            (self.backend in BACKENDS, f"backend must be one of {BACKENDS}, got {self.backend!r}"),
            (self.selection in SELECTIONS, f"selection must be one of {SELECTIONS}, got {self.selection!r}"),
            (self.dtype in DTYPES, f"dtype must be one of {DTYPES}, got {self.dtype!r}"),
            (self.fallback_speed in SPEED_ACTIONS, f"fallback_speed must be one of {SPEED_ACTIONS}"),
            (self.fallback_path in PATH_ACTIONS, f"fallback_path must be one of {PATH_ACTIONS}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.num_candidates >= 1, f"num_candidates must be >= 1, got {self.num_candidates}"),
            (
                self.max_new_tokens is None or self.max_new_tokens >= 1,
                f"max_new_tokens must be >= 1 or null, got {self.max_new_tokens}",
            ),
            (self.do_sample or self.num_candidates == 1, "num_candidates > 1 needs do_sample: true"),
            (self.temperature > 0, f"temperature must be > 0, got {self.temperature}"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"VLMPlannerConfig: {message}")

    @property
    def fallback(self) -> MetaAction:
        return MetaAction(self.fallback_speed, self.fallback_path)


class GenerationBackend(Protocol):
    def generate(self, messages: list[list[dict[str, Any]]], images: list[Image.Image]) -> list[list[str]]:
        """`num_candidates` completion texts per conversation."""
        ...


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        on_gpu = device.startswith("cuda") and torch.cuda.is_available()
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, dtype)


def load_processor(
    model: str,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    local_files_only: bool = False,
    **kwargs: Any,
) -> Any:
    """A checkpoint's processor, with the image size bounds (pixels) overridden where given."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model, local_files_only=local_files_only, **kwargs)
    size = dict(processor.image_processor.size)
    if min_pixels is not None:
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
    processor.image_processor.size = {"shortest_edge": size["shortest_edge"], "longest_edge": size["longest_edge"]}
    return processor


def _load_processor(config: VLMPlannerConfig, **kwargs: Any) -> Any:
    return load_processor(config.model, config.min_pixels, config.max_pixels, config.local_files_only, **kwargs)


ANSWER_END = "</answer>"


class TransformersBackend:
    """`AutoModelForImageTextToText.generate`, left-padded batches, `num_return_sequences` candidates."""

    def __init__(self, config: VLMPlannerConfig) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        self.config = config
        self.device = resolve_device(config.device)
        self.processor = _load_processor(config, padding_side="left")
        model_kwargs: dict[str, Any] = {"dtype": resolve_dtype(config.dtype, self.device)}
        if config.attn_implementation:
            model_kwargs["attn_implementation"] = config.attn_implementation
        self.model = AutoModelForImageTextToText.from_pretrained(
            config.model, local_files_only=config.local_files_only, **model_kwargs
        ).to(self.device)
        self.model.eval()
        self.max_new_tokens = config.max_new_tokens or answer_token_budget(config.model)
        self._torch = torch
        self._calls = 0

    def generate(self, messages: list[list[dict[str, Any]]], images: list[Image.Image]) -> list[list[str]]:
        cfg = self.config
        texts = [self.processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in messages]
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt").to(self.device)
        sampling: dict[str, Any] = {"do_sample": cfg.do_sample, "num_return_sequences": cfg.num_candidates}
        if cfg.do_sample:
            sampling.update(temperature=cfg.temperature, top_p=cfg.top_p)
            # Seeded per call: a rerun of the same input sequence gives the same samples.
            self._torch.manual_seed(cfg.seed + self._calls)
        else:
            sampling.update(temperature=None, top_p=None, top_k=None)
        self._calls += 1
        with self._torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                stop_strings=[ANSWER_END],  # nothing after the answer is read: do not generate it
                tokenizer=self.processor.tokenizer,
                **sampling,
            )
        decoded = self.processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        n = cfg.num_candidates
        return [decoded[i * n : (i + 1) * n] for i in range(len(messages))]


class VLLMBackend:
    """vLLM offline engine (GPU only). The prompt text still comes from the checkpoint's HF chat template."""

    def __init__(self, config: VLMPlannerConfig) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError as err:
            raise ImportError(
                "planner backend 'vllm' needs the vllm package (`uv sync --extra vllm`, Linux + CUDA only); "
                "use backend: transformers otherwise"
            ) from err
        self.config = config
        self.processor = _load_processor(config)
        dtype = "auto" if config.dtype == "auto" else config.dtype
        mm_kwargs = {k: v for k, v in (("min_pixels", config.min_pixels), ("max_pixels", config.max_pixels)) if v}
        self.llm = LLM(
            model=config.model,
            dtype=dtype,
            seed=config.seed,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            max_model_len=config.vllm_max_model_len,
            limit_mm_per_prompt={"image": 1},
            mm_processor_kwargs=mm_kwargs or None,
        )
        temperature = config.temperature if config.do_sample else 0.0
        self.sampling = SamplingParams(
            n=config.num_candidates,
            temperature=temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens or answer_token_budget(config.model),
            seed=config.seed,
        )

    def generate(self, messages: list[list[dict[str, Any]]], images: list[Image.Image]) -> list[list[str]]:
        requests = [
            {
                "prompt": self.processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False),
                "multi_modal_data": {"image": image},
            }
            for m, image in zip(messages, images, strict=True)
        ]
        outputs = self.llm.generate(requests, self.sampling, use_tqdm=False)
        return [[c.text for c in out.outputs] for out in outputs]


def make_backend(config: VLMPlannerConfig) -> GenerationBackend:
    return VLLMBackend(config) if config.backend == "vllm" else TransformersBackend(config)


def select_candidate(parsed: Sequence[ParsedAnswer], selection: str) -> int | None:
    """Index of the chosen candidate, or None when no candidate names exactly one speed and one path action."""
    valid = [i for i, p in enumerate(parsed) if p.action is not None]
    if not valid:
        return None
    if selection == "first_valid":
        return valid[0]
    votes = Counter(parsed[i].action for i in valid)
    best = max(votes.values())
    return next(i for i in valid if votes[parsed[i].action] == best)  # ties: the earliest candidate


@dataclass
class PlannerStats:
    decisions: int = 0
    fallbacks: int = 0
    invalid_candidates: int = 0
    candidates: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "decisions": self.decisions,
            "fallbacks": self.fallbacks,
            "fallback_rate": self.fallbacks / self.decisions if self.decisions else 0.0,
            "invalid_candidate_rate": self.invalid_candidates / self.candidates if self.candidates else 0.0,
            "latency_ms_mean": float(lat.mean()),
            "latency_ms_p50": float(np.percentile(lat, 50)),
            "latency_ms_p95": float(np.percentile(lat, 95)),
        }


class VLMPlanner:
    """Planner protocol over a VLM. `plan` decides one input; `plan_batch` several in batches of `batch_size`."""

    def __init__(self, config: VLMPlannerConfig, backend: GenerationBackend | None = None) -> None:
        if backend is None:
            config = dataclasses.replace(config, model=resolve_model(config.model, config.local_files_only))
        self.config = config
        self.name = config.name
        self.backend = backend if backend is not None else make_backend(config)
        self._stats = PlannerStats()

    @property
    def stats(self) -> dict[str, float]:
        return self._stats.as_dict()

    def reset_stats(self) -> None:
        self._stats = PlannerStats()

    def plan(self, planner_input: PlannerInput) -> Plan:
        return self.plan_batch([planner_input])[0]

    def plan_batch(self, inputs: Sequence[PlannerInput]) -> list[Plan]:
        plans: list[Plan] = []
        for start in range(0, len(inputs), self.config.batch_size):
            plans.extend(self._plan_chunk(inputs[start : start + self.config.batch_size]))
        return plans

    def _plan_chunk(self, chunk: Sequence[PlannerInput]) -> list[Plan]:
        messages = [build_messages(x.speed, x.navigation) for x in chunk]
        images = [to_pil(x.image) for x in chunk]
        start = time.perf_counter()
        candidates = self.backend.generate(messages, images)
        # Every decision in a batch waited for the whole batch, so each records the batch's wall time.
        latency_ms = (time.perf_counter() - start) * 1000.0
        return [self._decide(texts, latency_ms) for texts in candidates]

    def _decide(self, texts: list[str], latency_ms: float) -> Plan:
        parsed = [parse_answer(t) for t in texts]
        chosen = select_candidate(parsed, self.config.selection)
        stats = self._stats
        stats.decisions += 1
        stats.candidates += len(texts)
        stats.invalid_candidates += sum(p.action is None for p in parsed)
        stats.latencies_ms.append(latency_ms)
        facts: dict[str, Any] = {"candidates": texts} if len(texts) > 1 else {}
        if chosen is None:
            stats.fallbacks += 1
            return Plan(
                action=self.config.fallback,
                reasoning=None,
                raw_text=texts[0] if texts else "",
                fallback=True,
                latency_ms=latency_ms,
                facts=facts,
            )
        answer = parsed[chosen]
        assert answer.action is not None
        return Plan(
            action=answer.action,
            reasoning=answer.think,
            raw_text=texts[chosen],
            fallback=False,
            latency_ms=latency_ms,
            facts=facts,
        )


def to_pil(image: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"planner image must be (H, W, 3) uint8, got shape {array.shape} dtype {array.dtype}")
    return Image.fromarray(array)


def build_vlm_planner(config: Any) -> VLMPlanner:
    """From a Hydra node, a mapping or a VLMPlannerConfig (unknown keys are rejected)."""
    return VLMPlanner(from_mapping(VLMPlannerConfig, config))

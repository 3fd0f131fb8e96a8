"""Where a planner's weights come from, checked before anything heavy loads.

`planner.model` is a local checkpoint directory or a Hugging Face hub id. A directory must exist and hold a
`config.json`; a hub id must be in the local cache or the hub must answer. Anything else is one `ConfigError` line
that says what to do, instead of minutes of download retries and a traceback about repo-id syntax.
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.config import ConfigError

HUB_TIMEOUT_S = 10.0
DEFAULT_ANSWER_TOKENS = 128  # for checkpoints that do not say how long their answers are
# The planner this project trains and ships (models/<name>/ with its model card): what `planner=vlm` drives when no
# model is named.
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "planner-cpu"


def _looks_local(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().exists() or model.count("/") != 1


def _offline() -> bool:
    return any(
        os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_model(model: str | None, local_files_only: bool = False, field: str = "planner.model") -> str:
    """The checkpoint to load (a local directory as an absolute path, or the hub id; None: the shipped planner);
    ConfigError when it cannot be loaded from here."""
    if model is None:
        if not (SHIPPED_MODEL / "config.json").is_file():
            raise ConfigError(f"{field}: not set and the shipped planner {SHIPPED_MODEL} is missing: name a model")
        return str(SHIPPED_MODEL)
    if _looks_local(model):
        path = Path(model).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(
                f"{field}: {model} does not exist; give a checkpoint directory (e.g. <training run>/final) "
                "or a Hugging Face hub id such as Qwen/Qwen2-VL-2B-Instruct"
            )
        if not (path / "config.json").is_file():
            raise ConfigError(f"{field}: {model} holds no config.json; give the checkpoint directory itself")
        return str(path)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return model
    download = f"download it where there is network (`hf download {model}`) or set {field} to a local checkpoint"
    if local_files_only or _offline():
        raise ConfigError(f"{field}: {model} is not in the local Hugging Face cache and downloads are off; {download}")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi().model_info(model, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        raise ConfigError(f"{field}: no model {model} on the Hugging Face hub (or it is private)") from None
    except Exception as err:  # no route, DNS, proxy, timeout: whatever keeps the hub out of reach
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise ConfigError(
            f"{field}: {model} is not in the local Hugging Face cache and the hub cannot be reached ({reason}); "
            f"{download}"
        ) from None
    return model


def answer_token_budget(model: str) -> int:
    """How many tokens to generate for one answer of `model`: the `max_new_tokens` its `generation_config.json`
    records (training/sft.py writes the longest training target plus headroom there), else 128."""
    import json

    path = Path(model).expanduser() / "generation_config.json"
    try:
        budget = json.loads(path.read_text(encoding="utf-8")).get("max_new_tokens")
    except (OSError, ValueError):
        return DEFAULT_ANSWER_TOKENS
    return int(budget) if isinstance(budget, int) and budget > 0 else DEFAULT_ANSWER_TOKENS

"""Strict dataclass configs: build a (nested) dataclass from a mapping, rejecting unknown keys with a clear message.

Hydra hands us `DictConfig` objects; components take typed dataclasses. `from_mapping(VLMPlannerConfig, cfg.planner)`
converts one into the other and refuses typos (`max_new_token: 64`) instead of silently ignoring them.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config mapping does not fit its dataclass (unknown key or wrong nested type)."""


def plain(data: Any) -> Any:
    """OmegaConf containers to plain dicts/lists (without importing OmegaConf when it is not used)."""
    if type(data).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(data, resolve=True)
    return data


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Instantiate dataclass `cls` from `data`; nested dataclass fields are built recursively."""
    where = where or cls.__name__
    data = plain(data) or {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        hint = hints.get(key)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[key] = from_mapping(hint, value, f"{where}.{key}")
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (for logging and JSON reports)."""
    return dataclasses.asdict(config)

"""Scoring protocols (`leaderboard-2.0`, `leaderboard-2.1`, `bench2drive`): the tables in `sim/protocols.yaml`,
loaded into frozen dataclasses. The arithmetic that reads them is in `sim.metrics` and `sim.criteria`; nothing
branches on a protocol's name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import yaml

from planner.config import from_mapping
from sim.core import InfractionType

PROTOCOLS_FILE = Path(__file__).with_name("protocols.yaml")
DEFAULT_PROTOCOL = "leaderboard-2.0"
Amount = Literal["once", "share", "shortfall"]


@dataclass(frozen=True)
class PenaltyEntry:
    value: float
    amount: Amount = "once"  # once: 1; share: percentage / 100; shortfall: 1 - percentage / 100

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"penalty value must be in [0, 1], got {self.value}")
        if self.amount not in ("once", "share", "shortfall"):
            raise ValueError(f"amount must be once, share or shortfall, got {self.amount!r}")


@dataclass(frozen=True)
class ScoringProtocol:
    name: str
    description: str = ""
    multiply: Mapping[InfractionType, PenaltyEntry] = field(default_factory=dict)
    add: Mapping[InfractionType, PenaltyEntry] = field(default_factory=dict)
    route_point_spacing_m: float = 1.0
    completion_pct: float = 99.0
    completion_distance_m: float = 10.0
    min_speed_checkpoints: int = 4
    min_speed_events: Literal["below_traffic", "every_checkpoint"] = "below_traffic"
    min_speed_radius_m: float = 45.0  # background vehicles this close to the ego count as surrounding traffic ...
    min_speed_radius_per_mps: float = 1.7  # ... plus this much per m/s of the ego's speed
    tick_budget: int | None = None
    success_ignores: frozenset[InfractionType] = frozenset({InfractionType.MIN_SPEED})  # Bench2Drive's success rule

    def __post_init__(self) -> None:
        both = set(self.multiply) & set(self.add)
        if both:
            raise ValueError(f"{self.name}: {sorted(t.value for t in both)} in both multiply and add")
        if self.route_point_spacing_m <= 0 or self.completion_distance_m <= 0:
            raise ValueError(f"{self.name}: route_point_spacing_m and completion_distance_m must be positive")
        if not 0.0 < self.completion_pct <= 100.0:
            raise ValueError(f"{self.name}: completion_pct must be in (0, 100]")
        if self.min_speed_checkpoints < 1:
            raise ValueError(f"{self.name}: min_speed_checkpoints must be >= 1")
        if self.min_speed_events not in ("below_traffic", "every_checkpoint"):
            raise ValueError(f"{self.name}: min_speed_events must be below_traffic or every_checkpoint")
        if self.tick_budget is not None and self.tick_budget < 1:
            raise ValueError(f"{self.name}: tick_budget must be positive or null")


@dataclass(frozen=True)
class _ProtocolFile:
    """The YAML shape of one protocol (infraction types as strings, before they are checked)."""

    description: str = ""
    multiply: dict[str, dict] = field(default_factory=dict)
    add: dict[str, dict] = field(default_factory=dict)
    route_point_spacing_m: float = 1.0
    completion_pct: float = 99.0
    completion_distance_m: float = 10.0
    min_speed_checkpoints: int = 4
    min_speed_events: str = "below_traffic"
    min_speed_radius_m: float = 45.0
    min_speed_radius_per_mps: float = 1.7
    tick_budget: int | None = None


def _entries(table: Mapping[str, Mapping], where: str) -> Mapping[InfractionType, PenaltyEntry]:
    known = {t.value: t for t in InfractionType}
    out = {}
    for name, entry in (table or {}).items():
        if name not in known:
            raise ValueError(f"{where}: unknown infraction type {name!r}; known: {sorted(known)}")
        out[known[name]] = from_mapping(PenaltyEntry, entry, f"{where}.{name}")
    return MappingProxyType(out)


def parse_protocols(data: Mapping[str, Mapping], source: str = "protocols") -> dict[str, ScoringProtocol]:
    """Protocol tables from a mapping {name: table}; raises ValueError naming the protocol and field."""
    out = {}
    for name, table in data.items():
        raw = from_mapping(_ProtocolFile, table, f"{source}: {name}")
        out[name] = ScoringProtocol(
            name=name,
            description=raw.description,
            multiply=_entries(raw.multiply, f"{source}: {name}.multiply"),
            add=_entries(raw.add, f"{source}: {name}.add"),
            route_point_spacing_m=raw.route_point_spacing_m,
            completion_pct=raw.completion_pct,
            completion_distance_m=raw.completion_distance_m,
            min_speed_checkpoints=raw.min_speed_checkpoints,
            min_speed_events=raw.min_speed_events,  # type: ignore[arg-type]
            min_speed_radius_m=raw.min_speed_radius_m,
            min_speed_radius_per_mps=raw.min_speed_radius_per_mps,
            tick_budget=raw.tick_budget,
        )
    return out


@functools.cache
def protocols() -> Mapping[str, ScoringProtocol]:
    data = yaml.safe_load(PROTOCOLS_FILE.read_text(encoding="utf-8"))
    return MappingProxyType(parse_protocols(data, str(PROTOCOLS_FILE.name)))


def get_protocol(name: str) -> ScoringProtocol:
    """The named protocol; ValueError listing the known names otherwise."""
    table = protocols()
    if name not in table:
        raise ValueError(f"protocol must be one of {sorted(table)}, got {name!r}")
    return table[name]

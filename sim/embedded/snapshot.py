"""Snapshots of the embedded world's moving state, to restore later or in another process.

A snapshot pickles everything that changes while the world runs (ego, traffic, pedestrians, props, lights, triggers
and their scripted behaviours, infraction monitor, random generators) and refers to what a scenario builds once
(town, lane graph, road map, planned route, scenario, config) by name. Restoring therefore needs a world built from
the same scenario: the same backend after `load`, or a backend in another process that loaded the same scenario
and seed. cloudpickle serialises the triggers' closures together with the objects they act on, so a restored world
runs on exactly as the original would: the same controls give the same states and frames, bit for bit.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from typing import Any

import cloudpickle

STATIC = ("network", "graph", "road_map", "plan", "route", "scenario", "config")


class SnapshotError(RuntimeError):
    """A snapshot that does not fit the world it is restored into."""


def static_parts(world: Any) -> dict[str, Any]:
    """The parts of a world built once per scenario (and never changed while it runs), by name."""
    parts = {name: getattr(world, name) for name in STATIC if hasattr(world, name)}
    pedestrians = getattr(world, "pedestrians", None)
    for name in ("walks", "exits"):  # the sidewalk network and its exits, built from the town
        if hasattr(pedestrians, name):
            parts[f"pedestrians.{name}"] = getattr(pedestrians, name)
    return parts


class _Pickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, static: Mapping[str, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._static = {id(obj): name for name, obj in static.items()}

    def persistent_id(self, obj: Any) -> str | None:
        return self._static.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, static: Mapping[str, Any]) -> None:
        super().__init__(file)
        self._static = static

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self._static[pid]
        except KeyError:
            raise SnapshotError(f"the snapshot refers to {pid!r}, which this world does not have") from None


def dumps(obj: Any, static: Mapping[str, Any]) -> bytes:
    """`obj` with every object of `static` left out (by name)."""
    buffer = io.BytesIO()
    _Pickler(buffer, static).dump(obj)
    return buffer.getvalue()


def loads(data: bytes, static: Mapping[str, Any]) -> Any:
    """The object `dumps` wrote, with the names resolved against this process's `static` objects."""
    return _Unpickler(io.BytesIO(data), static).load()

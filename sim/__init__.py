"""Simulator backends behind one protocol (`sim.core.Backend`); `make_backend` picks one by name."""

from __future__ import annotations

from typing import Any

from sim.core import Backend

BACKENDS = ("embedded", "carla")


def make_backend(name: str, **config: Any) -> Backend:
    """A backend by name: "embedded" (built-in, CPU only) or "carla" (needs a CARLA server).

    `config` goes to the backend's constructor, e.g. `make_backend("embedded", dt=0.05, render=False)`.
    """
    if name == "embedded":
        from sim.embedded.backend import EmbeddedBackend

        return EmbeddedBackend(**config)
    if name == "carla":
        from sim.carla_backend.backend import CarlaBackend  # the carla client package only when asked for

        return CarlaBackend(**config)
    raise ValueError(f"unknown simulator backend {name!r}; choose one of {', '.join(BACKENDS)}")

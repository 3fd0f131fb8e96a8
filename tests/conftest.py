"""Markers that depend on the machine (`gpu` tests need CUDA, `carla` tests need a server named by CARLA_HOST), and
the `processes` fixture for tests that start subprocesses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from process_helpers import Processes


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_cuda = None
    for item in items:
        # markers, not keywords: keywords hold directory names; tests/sim/carla_backend/ is not all server tests
        if item.get_closest_marker("carla") is not None and not os.environ.get("CARLA_HOST"):
            item.add_marker(pytest.mark.skip(reason="needs a CARLA server: set CARLA_HOST (and CARLA_PORT)"))
        if "gpu" in item.keywords:
            has_cuda = _cuda_available() if has_cuda is None else has_cuda
            if not has_cuda:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture
def processes() -> Iterator[Processes]:
    reaper = Processes()
    try:
        yield reaper
    finally:
        reaper.kill_all()

"""A test-size tiny Qwen2-VL, built once per session (offline, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", "test", seed=0)

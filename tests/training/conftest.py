"""A test-size tiny Qwen2-VL and a small synthetic planning dataset, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.tiny import build_tiny_model
from training.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", "test", seed=0)


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "synthetic", n_train=16, n_validation=8, seed=0)

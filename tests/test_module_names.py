"""No module of ours shadows the standard library or a dependency when a script's folder leads sys.path.

`python sim/run_route.py` and evaluators that load `sim/leaderboard_agent.py` by path put the script's own folder
first on sys.path, so a file there named like a standard or installed module would be imported instead of it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("planner", "controller", "sim", "scenarios", "training")
INSTALLED_MODULES = set(packages_distributions()) - set(PACKAGES)  # top-level names of every installed distribution


def _folder_module_names(folder: Path) -> set[str]:
    names = {p.stem for p in folder.glob("*.py")}
    names |= {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return names


@pytest.mark.parametrize("folder", [ROOT / p for p in PACKAGES] + [ROOT / "sim" / "embedded"], ids=str)
def test_no_module_shadows_a_standard_or_installed_module(folder: Path) -> None:
    clashes = _folder_module_names(folder) & (set(sys.stdlib_module_names) | INSTALLED_MODULES)
    assert not clashes, f"{folder.relative_to(ROOT)} shadows {sorted(clashes)}"


def test_leaderboard_agent_loads_by_path_in_a_fresh_python() -> None:
    """As the leaderboard does: the agent's folder goes first on sys.path and the module is imported by name."""
    code = (
        "import sys, importlib; sys.path.insert(0, sys.argv[1]); "
        "agent = importlib.import_module('leaderboard_agent'); import carla; "
        "assert hasattr(carla, 'VehicleControl'), carla.__file__; print(agent.get_entry_point())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "sim")], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "MetaActionAgent"

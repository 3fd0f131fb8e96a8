"""Load scenario YAML files into validated `Scenario` objects, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scenarios.schema import Scenario
from sim.core import Route

SUITE_DIR = Path(__file__).resolve().parent / "suite"


class ScenarioError(ValueError):
    """A scenario file that cannot be used: says which file, which field and what was expected."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: " + ("; ".join(problems) if len(problems) == 1 else "\n  " + "\n  ".join(problems))
        )


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("grid", "arterial", "highway", "carla") or str(part).startswith(("function-", "tagged-union")):
            continue  # pydantic's union branch tags are not fields of the file
        else:
            path += f".{part}" if path else str(part)
    return path or "<top level>"


def _describe(error: dict[str, Any]) -> str:
    where = _field_path(tuple(error["loc"]))
    got = error.get("input")
    shown = "" if error["type"] == "missing" or isinstance(got, dict) else f" (got {got!r})"
    return f"{where}: {error['msg']}{shown}"


def scenario_from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(source, [f"<top level>: expected a mapping of scenario fields, got {type(data).__name__}"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, [_describe(e) for e in exc.errors()]) from None


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A path to a file, or a bare name looked up in the suite folder."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise ScenarioError(str(path), ["file not found"])
        return path
    candidate = SUITE_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = ", ".join(list_suite()) or "none"
        raise ScenarioError(str(name_or_path), [f"no such scenario in {SUITE_DIR}; known: {known}"])
    return candidate


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = resolve_scenario_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(str(path), [f"{where}invalid YAML ({getattr(exc, 'problem', exc)})"]) from None
    scenario = scenario_from_dict(data, str(path))
    if path.parent == SUITE_DIR and scenario.name != path.stem:
        raise ScenarioError(str(path), [f"name: must match the file name {path.stem!r} (got {scenario.name!r})"])
    return scenario


def list_suite() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def check_placements(scenario: Scenario, route: Route | float, source: str = "<scenario>") -> None:
    """Fail before simulation when an actor is placed off the route: beyond its end, or at a junction it lacks.

    `route` is the planned route (or only its length, which checks placements measured from the start)."""
    length = float(route) if isinstance(route, float | int) else route.length
    problems = []
    placed = [(f"actors[{i}].at", a.at) for i, a in enumerate(scenario.actors)]
    placed += [(f"flows[{i}].source", f.source) for i, f in enumerate(scenario.flows)]
    for field, at in placed:
        if at.absolute:
            continue
        if at.junction is None:
            if at.s > length:
                problems.append(f"{field}.s: must be within the route length {length:.1f} m (got {at.s})")
        elif not isinstance(route, float | int):
            try:
                at.frame_pose(route)
            except ValueError as exc:
                problems.append(f"{field}.junction: {exc}")
    for i, dist in enumerate(scenario.disturbances):
        if dist.at_s > length:
            problems.append(f"disturbances[{i}].at_s: must be within the route length {length:.1f} m (got {dist.at_s})")
    if problems:
        raise ScenarioError(source, problems)

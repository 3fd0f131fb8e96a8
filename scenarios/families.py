"""Scenario families: seeded variants of a suite scenario, drawn from the `family:` block of its file.

A family is a suite file with a `family:` block (scenarios/schema.py FamilySpec). An instance for a seed first draws
one of the family's towns (a map with the route on it; `towns=` restricts the choice, so evaluation can hold towns
out), then every variation in order (weather, speeds, positions, timings, the scenario seed that drives traffic),
and is validated like any scenario file. The same family, seed and towns always give the same instance.

    python -m scenarios.families list
    python -m scenarios.families accident --seeds 0:20 --out /tmp/accident_variants [--towns arterial_800]
    python -m scenarios.families all --seeds 1:3 --out /tmp/variants     # then: sim/run_route.py scenario=/tmp/variants
"""

from __future__ import annotations

import argparse
import copy
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scenarios.loader import SUITE_DIR, ScenarioError, resolve_scenario_path, scenario_from_dict
from scenarios.schema import FamilySpec, Scenario, Variation


def _raw(name: str) -> tuple[dict[str, Any], str]:
    path = resolve_scenario_path(name)
    return yaml.safe_load(path.read_text(encoding="utf-8")), str(path)


def list_families() -> list[str]:
    """Suite scenarios that are families (have a `family:` block), by name."""
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml") if "\nfamily:" in p.read_text(encoding="utf-8"))


def family_of(name: str) -> FamilySpec:
    data, source = _raw(name)
    if not data.get("family"):
        raise ScenarioError(source, ["family: this scenario has no family block, so it has no variants"])
    return scenario_from_dict(data, source).family  # type: ignore[return-value]


def town_names(name: str) -> list[str]:
    return [t.name for t in family_of(name).towns]


def _walk(data: Any, path: str) -> tuple[Any, str | int]:
    """The container holding the last key of a dotted path, and that key (list indices are numbers)."""
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def _get(data: Any, path: str) -> Any:
    node, key = _walk(data, path)
    return node[key]


def _set(data: Any, path: str, value: Any) -> None:
    node, key = _walk(data, path)
    node[key] = value


def _draw(rng: np.random.Generator, v: Variation, data: dict[str, Any]) -> None:
    def number(x: float) -> float:
        return round(float(x), v.digits)

    if v.choice is not None:
        pick = copy.deepcopy(v.choice[int(rng.integers(len(v.choice)))])
        for path in v.targets:
            _set(data, path, pick)
    elif v.uniform is not None:
        for path in v.targets:
            _set(data, path, number(rng.uniform(*v.uniform)))
    elif v.integer is not None:
        for path in v.targets:
            _set(data, path, int(rng.integers(v.integer[0], v.integer[1] + 1)))
    elif v.shift is not None:
        delta = float(rng.uniform(*v.shift))
        for path in v.targets:
            _set(data, path, number(_get(data, path) + delta))
    elif v.scale is not None:
        factor = float(rng.uniform(*v.scale))
        for path in v.targets:
            _set(data, path, number(_get(data, path) * factor))


def instantiate(name: str, seed: int, towns: Sequence[str] | None = None) -> Scenario:
    """The family's variant for `seed`, in one of `towns` (default: any of the family's towns)."""
    data, source = _raw(name)
    family = family_of(name)
    rng = np.random.default_rng([int(seed), zlib.crc32(Path(source).stem.encode())])
    options = [t for t in family.towns if towns is None or t.name in towns]
    if family.towns and not options:
        known = ", ".join(t.name for t in family.towns)
        raise ScenarioError(source, [f"family.towns: none of {list(towns or [])} (known: {known})"])
    instance = {k: copy.deepcopy(v) for k, v in data.items() if k != "family"}
    town_tag = None
    if options:
        town = options[int(rng.integers(len(options)))]
        instance["map"] = town.map.model_dump(exclude_none=True)
        instance["route"] = town.route.model_dump(exclude_none=True)
        if town.seed is not None:
            instance["seed"] = town.seed
        town_tag = f"town:{town.name}"
    where = f"{source} (family variant {seed})"
    try:
        for variation in family.vary:
            _draw(rng, variation, instance)
    except (KeyError, IndexError, TypeError) as err:
        raise ScenarioError(source, [f"family.vary: a path does not exist in the scenario ({err})"]) from None
    instance["name"] = f"{instance['name']}_v{int(seed)}"
    tags = list(instance.get("tags", []))
    instance["tags"] = [*tags, "family_variant", *([town_tag] if town_tag else [])]
    return scenario_from_dict(instance, where)


def _seeds(text: str) -> list[int]:
    if ":" in text:
        lo, hi = (int(p) for p in text.split(":"))
        return list(range(lo, hi))
    return [int(p) for p in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.families", description=__doc__.split("\n\n")[0])
    parser.add_argument("family", help="a family name (a suite scenario with a family block), 'all', or 'list'")
    parser.add_argument("--seeds", default="0:10", help="lo:hi or a comma list (default 0:10)")
    parser.add_argument("--out", type=Path, help="write the variants here as YAML files")
    parser.add_argument("--towns", help="comma list of town names to draw from")
    args = parser.parse_args(argv)
    if args.family == "list":
        for name in list_families():
            print(f"{name}: towns {', '.join(town_names(name)) or '-'}")
        return 0
    try:
        towns = args.towns.split(",") if args.towns else None
        names = list_families() if args.family == "all" else [args.family]
        variants = [instantiate(name, seed, towns) for name in names for seed in _seeds(args.seeds)]
    except (ScenarioError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for scenario in variants:
        if args.out is None:
            print(scenario.name)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True, exclude={"family"}), sort_keys=False)
        (args.out / f"{scenario.name}.yaml").write_text(text, encoding="utf-8")
    if args.out is not None:
        which = ", ".join(names) if len(names) < 4 else f"{len(names)} families"
        print(f"{len(variants)} variants of {which} in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

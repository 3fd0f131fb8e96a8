"""What a report shows, read from what closed-loop runs leave on disk: per-route `results.json` (plus the review
video beside it) and a suite's `summary.json`. Every field is read with a default, so results written before a key
existed, or by a newer version with keys this one does not know, still load."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sim.metrics import summarize
from sim.results import RESULTS_FILE, read_results
from sim.stats import route_tags

SUMMARY_FILE = "summary.json"


class ReportError(ValueError):
    """Bad input for a report (a folder without results, an unreadable file), in one line naming the path."""


@dataclass(frozen=True)
class RouteRun:
    """One route: its results.json as a dict, the folder it lies in and the name of its review video, if any."""

    results: dict[str, Any]
    folder: Path
    key: str  # unique within the run: the scenario name, or the folder relative to the run when names repeat

    @property
    def name(self) -> str:
        return str(self.results.get("scenario") or self.folder.name)

    @property
    def video(self) -> Path | None:
        name = self.results.get("video")
        path = self.folder / name if isinstance(name, str) and name else None
        return path if path is not None and path.is_file() else None


@dataclass(frozen=True)
class Run:
    """A single route or a suite: its folder, the routes in it and the suite summary (computed when absent)."""

    root: Path
    routes: list[RouteRun]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        planners = sorted({str(r.results.get("planner")) for r in self.routes if r.results.get("planner")})
        return f"{self.root.name} ({', '.join(planners)})" if planners else self.root.name

    def by_key(self) -> dict[str, RouteRun]:
        return {r.key: r for r in self.routes}


def load_run(root: str | Path) -> Run:
    """Every results.json in `root` (the folder itself for a single route, sub-folders for a suite or a multirun)."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: not a directory")
    files = [root / RESULTS_FILE] if (root / RESULTS_FILE).is_file() else sorted(root.rglob(RESULTS_FILE))
    if not files:
        raise ReportError(f"{root}: no {RESULTS_FILE} in it or below it (is it a run_route output directory?)")
    loaded: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        results = read_results(path)
        if results is None:
            raise ReportError(f"{path}: not a readable JSON object")
        loaded.append((path.parent, results))
    names = [str(r.get("scenario") or folder.name) for folder, r in loaded]
    unique = len(set(names)) == len(names)
    routes = [
        RouteRun(results, folder, name if unique else (folder.relative_to(root).as_posix() or name))
        for (folder, results), name in zip(loaded, names, strict=True)
    ]
    return Run(root, routes, run_summary(root, [r.results for r in routes]))


def run_summary(root: Path, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The suite summary: `summarize` over the routes, overlaid with summary.json when the run wrote one (so keys a
    newer summary adds, such as confidence intervals or the protocol, show up)."""
    summary = summarize([_scorable(r) for r in results])
    try:
        written = json.loads((root / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        written = None
    if isinstance(written, dict):
        summary.update({k: v for k, v in written.items() if k != "routes_detail"})
    return summary


def _scorable(results: Mapping[str, Any]) -> dict[str, Any]:
    """The keys `summarize` indexes, defaulted, so a partial or older results.json does not break the summary."""
    defaults = {"scenario": None, "driving_score": 0.0, "route_completion": 0.0, "infraction_penalty": 1.0}
    return {**defaults, **{k: v for k, v in results.items() if v is not None}}


def per_tag(routes: Sequence[RouteRun]) -> list[dict[str, Any]]:
    """One summary per tag over the routes carrying it, most frequent tag first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for route in routes:
        for tag in route_tags(route.results):
            groups.setdefault(tag, []).append(_scorable(route.results))
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [{"tag": tag, **summarize(group)} for tag, group in ordered]


def relative_url(target: Path, page_dir: Path) -> str:
    """`target` as a relative URL from a page in `page_dir`, so the folder can move and still open from disk."""
    return quote(Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix())

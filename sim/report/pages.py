"""The review pages: one per run (`report.html` beside the results) and an A/B comparison of two runs.

Pages are Jinja2 templates (sim/report/templates/) with Plotly figures; plotly.js is written once beside the page,
and videos are linked by relative paths, so the folder opens from disk and can be moved.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from plotly.offline import get_plotlyjs

from sim.core import infraction_label
from sim.report.figures import figure_json, route_timeline, timeline_end
from sim.report.runs import RouteRun, Run, load_run, per_tag, relative_url, route_tags
from sim.stats import compare_runs, format_interval

REPORT_FILE = "report.html"
EAGER_VIDEOS = 12  # videos whose metadata a page loads up front; the rest load when played or sought
SUMMARY_METRICS = (("driving_score", "DS", 1), ("route_completion", "RC", 1), ("infraction_penalty", "IS", 3))


def fmt(value: Any, digits: int = 1) -> str:
    """A number for a table cell; anything else as text, a dash for nothing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return "–" if value is None else str(value)


def signed(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sim.report", "templates"),
        autoescape=select_autoescape(("html", "j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, signed=signed)
    return env


_ENV = _environment()


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_page(template: str, out: Path, **context: Any) -> Path:
    """Render `template` to `out`, with plotly.js beside it (written once per folder and plotly version)."""
    script = out.parent / f"plotly-{plotly.__version__}.min.js"
    if not script.is_file():
        write_text_atomic(script, get_plotlyjs())
    page = _ENV.get_template(template).render(plotly_js=script.name, eager_videos=EAGER_VIDEOS, **context)
    write_text_atomic(out, page)
    return out


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "route"


@dataclass(frozen=True)
class RouteView:
    """What the templates show of one route, with URLs relative to the page."""

    id: str
    route: RouteRun
    video_url: str | None
    video_scale: float
    figure: str
    infractions: list[dict[str, Any]]

    @property
    def results(self) -> dict[str, Any]:
        return self.route.results

    @property
    def tags(self) -> list[str]:
        return route_tags(self.route.results)

    @property
    def infraction_summary(self) -> str:
        counts = self.results.get("infraction_counts")
        if not isinstance(counts, Mapping):
            counts = {}
            for i in self.infractions:
                counts[i["type"]] = counts.get(i["type"], 0) + 1
        return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "–"

    @property
    def latency(self) -> dict[str, Any]:
        value = self.results.get("planner_latency_ms")
        return value if isinstance(value, Mapping) else {}

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The meta-action timeline for the page's "decision at the cursor" box, in time order."""
        entries = [e for e in self.results.get("meta_actions") or [] if isinstance(e, Mapping)]
        return [
            {
                "time": float(e["time"]),
                "action": str(e.get("action", "?")),
                "reasoning": str(e.get("reasoning") or ""),
                "fallback": bool(e.get("fallback")),
            }
            for e in entries
            if isinstance(e.get("time"), int | float)
        ]

    @property
    def error(self) -> str | None:
        error = self.results.get("error")
        if isinstance(error, Mapping):
            return f"{error.get('kind', 'error')}: {error.get('message', '')}"
        return str(error) if error else None


def route_view(route: RouteRun, page_dir: Path, id_prefix: str = "", x_max: float | None = None) -> RouteView:
    scale = route.results.get("video_time_scale")
    infractions = [
        {"type": infraction_label(str(i.get("type", "infraction"))), "time": float(i["time"]), "other": i.get("other")}
        for i in route.results.get("infractions") or []
        if isinstance(i, Mapping) and isinstance(i.get("time"), int | float)
    ]
    return RouteView(
        id=f"{id_prefix}{slug(route.key)}",
        route=route,
        video_url=relative_url(route.video, page_dir) if route.video else None,
        video_scale=float(scale) if isinstance(scale, int | float) and scale > 0 else 1.0,
        figure=figure_json(route_timeline(route.results, x_max=x_max)),
        infractions=infractions,
    )


def _run_facts(run: Run) -> dict[str, str]:
    """Header facts that vary by run: planner, backend, scoring protocol, seeds (shown when present)."""
    facts: dict[str, str] = {}
    for key in ("planner", "backend", "protocol"):
        values = sorted({str(r.results[key]) for r in run.routes if r.results.get(key)})
        if values:
            facts[key] = ", ".join(values)
    if isinstance(run.summary.get("protocol"), str):
        facts["protocol"] = run.summary["protocol"]
    return facts


STAT_METRICS = (  # key, label, digits, scale (success as a percentage)
    ("driving_score", "DS", 1, 1.0),
    ("route_completion", "RC", 1, 1.0),
    ("infraction_penalty", "IS", 3, 1.0),
    ("success_rate", "success (%)", 0, 100.0),
)


def _stats_view(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """summary.json's `stats` (confidence intervals over routes and seeds) as the page's tables, or None."""
    stats = summary.get("stats")
    if not isinstance(stats, Mapping) or not isinstance(stats.get("overall"), Mapping):
        return None

    def cells(entry: Any) -> list[str]:
        entry = entry if isinstance(entry, Mapping) else {}
        return [
            format_interval(entry.get(k) or {}, digits, scale) if isinstance(entry.get(k), Mapping) else "–"
            for k, _, digits, scale in STAT_METRICS
        ]

    overall = []
    for key, label, digits, scale in STAT_METRICS:
        entry = stats["overall"].get(key)
        if not isinstance(entry, Mapping):
            continue
        std, ci = entry.get("std"), entry.get("ci95")
        overall.append(
            {
                "metric": key,
                "label": label,
                "mean": fmt(scale * entry["mean"], digits) if isinstance(entry.get("mean"), int | float) else "–",
                "std": fmt(scale * std, digits) if isinstance(std, int | float) else "–",
                "ci95": f"[{fmt(scale * ci[0], digits)}, {fmt(scale * ci[1], digits)}]" if ci else "–",
                "n": entry.get("n"),
            }
        )
    groups = []
    for kind, key in (("scenario", "per_scenario"), ("tag", "per_tag")):
        for name, entry in (stats.get(key) or {}).items():
            runs = (entry.get("driving_score") or {}).get("n") if isinstance(entry, Mapping) else None
            groups.append({"kind": kind, "name": str(name), "runs": runs, "cells": cells(entry)})
    return {
        "method": str(stats.get("method", "")),
        "overall": overall,
        "groups": groups,
        "labels": [m[1] for m in STAT_METRICS],
    }


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the review page of a run folder (a single route's or a suite's) to `out` (default
    `<run_dir>/report.html`) and return its path. Raises ReportError for a folder without results."""
    run = load_run(run_dir)
    out = Path(out) if out else run.root / REPORT_FILE
    views = [route_view(r, out.parent) for r in run.routes]
    return write_page(
        "run.html.j2",
        out,
        title=f"Review: {run.label}",
        run=run,
        facts=_run_facts(run),
        summary=run.summary,
        stats=_stats_view(run.summary),
        tags=per_tag(run.routes),
        routes=views,
    )


def write_report_or_warn(run_dir: str | Path, log: Any = print) -> Path | None:
    """`write_report` for the end of a run: a failure to draw the page is reported in one line and does not fail
    the run, whose results are already on disk (`python -m sim.report DIR` rebuilds the page later)."""
    try:
        path = write_report(run_dir)
    except Exception as err:  # the page is secondary to the results it reads; never lose a run over it
        log(f"warning: no report.html for {run_dir}: {type(err).__name__}: {err}")
        return None
    log(f"review page: {path}")
    return path


@dataclass(frozen=True)
class ComparedRoute:
    key: str
    a: RouteView | None
    b: RouteView | None

    def value(self, side: str, metric: str) -> float | None:
        view = self.a if side == "a" else self.b
        value = view.results.get(metric) if view else None
        return float(value) if isinstance(value, int | float) else None

    def delta(self, metric: str) -> float | None:
        a, b = self.value("a", metric), self.value("b", metric)
        return None if a is None or b is None else b - a

    @property
    def divergence(self) -> tuple[float, ...]:
        """Sort key, largest first: |dDS|, then |dRC|, then |dIS|, then a status change; one-sided routes last."""
        if self.a is None or self.b is None:
            return (-1.0,)
        status_changed = float(self.a.results.get("status") != self.b.results.get("status"))
        return (*(abs(self.delta(m) or 0.0) for m, _, _ in SUMMARY_METRICS), status_changed)


def compare_routes(a: Run, b: Run, page_dir: Path) -> list[ComparedRoute]:
    """Routes matched by key (scenario name), the most divergent first."""
    a_routes, b_routes = a.by_key(), b.by_key()
    rows = []
    for key in list(a_routes) + [k for k in b_routes if k not in a_routes]:
        a_route, b_route = a_routes.get(key), b_routes.get(key)
        x_max = max(timeline_end(r.results) for r in (a_route, b_route) if r)  # one time axis for both sides
        rows.append(
            ComparedRoute(
                key,
                route_view(a_route, page_dir, "a-", x_max) if a_route else None,
                route_view(b_route, page_dir, "b-", x_max) if b_route else None,
            )
        )
    return sorted(rows, key=lambda row: tuple(-x for x in row.divergence))


def _means(rows: Sequence[ComparedRoute], side: str) -> dict[str, float | None]:
    means: dict[str, float | None] = {}
    for metric, _, _ in SUMMARY_METRICS:
        values = [v for row in rows if (v := row.value(side, metric)) is not None]
        means[metric] = sum(values) / len(values) if values else None
    views = [row.a if side == "a" else row.b for row in rows]
    successes = [bool(view.results.get("success")) for view in views if view is not None]
    means["success_rate"] = 100.0 * sum(successes) / len(successes) if successes else None
    return means


def write_comparison(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Write an A/B page for two run folders (suites or single routes) and return its path. `out` defaults to
    `compare_<A>_vs_<B>/report.html` in the working directory."""
    a, b = load_run(run_a), load_run(run_b)
    out = Path(out) if out else Path.cwd() / f"compare_{slug(a.root.name)}_vs_{slug(b.root.name)}" / REPORT_FILE
    if out.suffix != ".html":
        out = out / REPORT_FILE
    rows = compare_routes(a, b, out.parent)
    common = [r for r in rows if r.a is not None and r.b is not None]
    differences = compare_runs([r.results for r in a.routes], [r.results for r in b.routes])
    return write_page(
        "compare.html.j2",
        out,
        title=f"Compare: {a.label} vs {b.label}",
        a=a,
        b=b,
        rows=rows,
        common=common,
        means={"a": _means(common, "a"), "b": _means(common, "b")},
        metrics=SUMMARY_METRICS,
        differences=difference_cells(differences),
        difference_routes=differences["driving_score"]["routes"],
    )


def difference_cells(differences: Mapping[str, Any]) -> list[str]:
    """B - A with its 95% interval, per column of the comparison's means table (DS, RC, IS, success %)."""
    return [format_interval(differences[k], digits, scale, signed=True) for k, _, digits, scale in STAT_METRICS]


def comparison_line(run_a: str | Path, run_b: str | Path) -> str:
    """One line for the console: the driving-score difference of two runs with its interval."""
    a, b = load_run(run_a), load_run(run_b)
    ds = compare_runs([r.results for r in a.routes], [r.results for r in b.routes], ("driving_score",))
    entry = ds["driving_score"]
    return (
        f"DS B - A: {format_interval(entry, 1, signed=True)} (95% CI; paired bootstrap over {entry['routes']} "
        f"routes both drove, {entry['n_a']} and {entry['n_b']} runs)"
    )

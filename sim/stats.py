"""Confidence intervals for closed-loop scores over routes and seeds, and for the difference between two runs.

Each metric is summarised as `{mean, std, ci95: [low, high], n}`: the mean over all route runs (what the suite
summary reports), their sample standard deviation, and a 95% percentile bootstrap interval of that mean that
resamples in two stages, routes with replacement and then, within each drawn route, its seeds with replacement; so
the interval carries both the spread between routes and the run-to-run spread of one route. `n` counts route runs.
With one run there is no spread to resample: `std` and `ci95` are null. scipy's `bootstrap` resamples one level
only, hence the few lines of numpy.

A comparison of two runs pairs them by route (the scenario name): routes are drawn once for both runs, seeds
within each drawn route separately for each run, and the interval is that of mean(B) - mean(A).
The bootstrap uses a fixed seed, so a summary is the same every time it is computed from the same results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METRICS = ("driving_score", "route_completion", "infraction_penalty", "success_rate")
RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0


def format_interval(stat: Mapping[str, Any], digits: int = 1, scale: float = 1.0, signed: bool = False) -> str:
    """`mean [low, high]` of a stats entry (or `difference [low, high]` of a comparison), the value alone without
    an interval, "-" without a value."""
    value = stat.get("mean", stat.get("difference"))
    if value is None:
        return "-"
    form = f"{{:{'+' if signed else ''}.{digits}f}}"
    text = form.format(scale * value)
    if stat.get("ci95"):
        low, high = stat["ci95"]
        text += f" [{form.format(scale * low)}, {form.format(scale * high)}]"
    return text


def metric_value(results: Mapping[str, Any], metric: str) -> float:
    """A route run's value of `metric` (success_rate: 1.0 for a success, else 0.0)."""
    if metric == "success_rate":
        return float(bool(results.get("success")))
    value = results.get(metric)
    return float(value) if isinstance(value, int | float) else 0.0


def route_tags(results: Mapping[str, Any]) -> list[str]:
    """A route's tags (scenario type and ability words), from `tags` and, where present, `abilities`."""
    tags: list[str] = []
    for key in ("tags", "abilities"):
        value = results.get(key)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            tags.extend(str(t) for t in value if str(t) not in tags)
    return tags


def _by_route(results: Sequence[Mapping[str, Any]], metric: str) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for r in results:
        groups.setdefault(str(r.get("scenario")), []).append(metric_value(r, metric))
    return groups


def _padded(groups: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([len(g) for g in groups])
    table = np.zeros((len(groups), counts.max()))
    for i, g in enumerate(groups):
        table[i, : len(g)] = g
    return table, counts


def _resampled_means(table: np.ndarray, counts: np.ndarray, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean over all runs of each resample: `picks` (resamples x routes) names the drawn routes; each drawn route's
    runs are drawn again from its own `counts` runs."""
    k = counts[picks]  # runs of each drawn route
    width = table.shape[1]
    inner = (rng.random((*picks.shape, width)) * k[..., None]).astype(np.int64)
    values = table[picks[..., None], inner]
    used = np.arange(width) < k[..., None]
    return (values * used).sum(axis=(1, 2)) / used.sum(axis=(1, 2))


def _interval(samples: np.ndarray) -> list[float]:
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return [float(low), float(high)]


def summarize_metric(groups: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """{mean, std, ci95, n} of the runs in `groups` (route -> its runs' values)."""
    values = np.array([v for g in groups.values() for v in g], dtype=float)
    n = len(values)
    out: dict[str, Any] = {"mean": float(values.mean()) if n else None, "std": None, "ci95": None, "n": n}
    if n < 2:
        return out
    table, counts = _padded(list(groups.values()))
    rng = np.random.default_rng(SEED)
    picks = rng.integers(0, len(counts), size=(RESAMPLES, len(counts)))
    out["std"] = float(values.std(ddof=1))
    out["ci95"] = _interval(_resampled_means(table, counts, picks, rng))
    return out


def metrics_stats(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m: summarize_metric(_by_route(results, m)) for m in METRICS}


def suite_stats(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summary statistics of a run: overall, per scenario (over its seeds) and per tag (over its routes and seeds)."""
    scenarios: dict[str, list[Mapping[str, Any]]] = {}
    tags: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        scenarios.setdefault(str(r.get("scenario")), []).append(r)
        for tag in route_tags(r):
            tags.setdefault(tag, []).append(r)
    return {
        "method": (
            f"{RESAMPLES} bootstrap resamples of routes, then of seeds within each route; "
            f"{100 * CONFIDENCE:.0f}% percentile interval of the mean"
        ),
        "overall": metrics_stats(results),
        "per_scenario": {name: metrics_stats(rs) for name, rs in sorted(scenarios.items())},
        "per_tag": {tag: metrics_stats(rs) for tag, rs in sorted(tags.items(), key=lambda kv: (-len(kv[1]), kv[0]))},
    }


def compare_runs(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], metrics: Sequence[str] = METRICS
) -> dict[str, Any]:
    """B - A per metric over the routes both runs drove: {difference, ci95, routes, n_a, n_b}; ci95 is null when
    neither run has a second route or seed to resample."""
    out: dict[str, Any] = {}
    for metric in metrics:
        groups_a, groups_b = _by_route(a, metric), _by_route(b, metric)
        common = sorted(set(groups_a) & set(groups_b))
        entry: dict[str, Any] = {"difference": None, "ci95": None, "routes": len(common), "n_a": 0, "n_b": 0}
        out[metric] = entry
        if not common:
            continue
        runs_a = [groups_a[k] for k in common]
        runs_b = [groups_b[k] for k in common]
        entry["n_a"], entry["n_b"] = sum(map(len, runs_a)), sum(map(len, runs_b))
        mean_a = float(np.mean([v for g in runs_a for v in g]))
        mean_b = float(np.mean([v for g in runs_b for v in g]))
        entry["difference"] = mean_b - mean_a
        if len(common) < 2 and entry["n_a"] < 2 and entry["n_b"] < 2:
            continue
        rng = np.random.default_rng(SEED)
        picks = rng.integers(0, len(common), size=(RESAMPLES, len(common)))
        table_a, counts_a = _padded(runs_a)
        table_b, counts_b = _padded(runs_b)
        deltas = _resampled_means(table_b, counts_b, picks, rng) - _resampled_means(table_a, counts_a, picks, rng)
        entry["ci95"] = _interval(deltas)
    return out

"""Confidence intervals over routes and seeds: they cover the true mean about as often as they claim, carry the
spread between routes (not only between runs), pair routes when two runs are compared, and say nothing when there
is nothing to resample."""

from __future__ import annotations

import numpy as np
import pytest

from sim.stats import compare_runs, format_interval, suite_stats, summarize_metric


def runs(values: dict[str, list[float]], metric: str = "driving_score", **extra) -> list[dict]:
    return [{"scenario": name, metric: v, **extra} for name, vs in values.items() for v in vs]


def test_the_interval_covers_the_true_mean_about_95_times_in_100() -> None:
    rng = np.random.default_rng(7)
    covered, trials = 0, 200
    for _ in range(trials):
        route_effects = rng.normal(60.0, 15.0, size=20)  # the suite's true mean is 60
        groups = {f"r{i}": list(effect + rng.normal(0.0, 10.0, size=3)) for i, effect in enumerate(route_effects)}
        low, high = summarize_metric(groups)["ci95"]
        covered += low <= 60.0 <= high
    assert 0.85 <= covered / trials <= 0.99  # percentile bootstrap with 20 routes runs slightly narrow


def test_routes_not_runs_are_the_unit_so_many_seeds_of_few_routes_do_not_shrink_the_interval() -> None:
    rng = np.random.default_rng(1)
    groups = {f"r{i}": list(base + rng.normal(0, 0.5, size=10)) for i, base in enumerate([0, 100, 0, 100])}
    two_level = summarize_metric(groups)
    flat = summarize_metric({f"run{i}": [v] for i, v in enumerate(v for g in groups.values() for v in g)})
    assert two_level["mean"] == pytest.approx(flat["mean"]) and two_level["n"] == flat["n"] == 40
    width = two_level["ci95"][1] - two_level["ci95"][0]
    assert width > 2.0 * (flat["ci95"][1] - flat["ci95"][0])  # 4 routes, not 40 independent runs
    assert width > 40.0


def test_one_route_under_several_seeds_is_a_bootstrap_over_its_seeds() -> None:
    stat = summarize_metric({"jaywalker": [21.0, 100.0, 100.0, 100.0]})
    assert stat["mean"] == pytest.approx(80.25) and stat["std"] == pytest.approx(39.5)
    assert 21.0 <= stat["ci95"][0] < stat["mean"] < stat["ci95"][1] == 100.0
    assert summarize_metric({"a": [50.0, 50.0]}) == {"mean": 50.0, "std": 0.0, "ci95": [50.0, 50.0], "n": 2}
    assert summarize_metric({"a": [50.0]}) == {"mean": 50.0, "std": None, "ci95": None, "n": 1}


def test_suite_stats_cover_the_four_metrics_overall_per_scenario_and_per_tag() -> None:
    results = [
        {"scenario": "a", "tags": ["junction"], "driving_score": 100.0, "route_completion": 100.0,
         "infraction_penalty": 1.0, "success": True},
        {"scenario": "a", "tags": ["junction"], "driving_score": 60.0, "route_completion": 100.0,
         "infraction_penalty": 0.6, "success": False},
        {"scenario": "b", "tags": ["junction", "night"], "abilities": ["braking"], "driving_score": 20.0,
         "route_completion": 40.0, "infraction_penalty": 0.5, "success": False},
    ]  # fmt: skip
    stats = suite_stats(results)
    assert set(stats["overall"]) == {"driving_score", "route_completion", "infraction_penalty", "success_rate"}
    assert stats["overall"]["success_rate"]["mean"] == pytest.approx(1 / 3)
    assert stats["overall"]["driving_score"]["mean"] == pytest.approx(60.0)
    assert stats["per_scenario"]["a"]["infraction_penalty"]["mean"] == pytest.approx(0.8)
    assert stats["per_scenario"]["b"]["driving_score"] == {"mean": 20.0, "std": None, "ci95": None, "n": 1}
    assert list(stats["per_tag"]) == ["junction", "braking", "night"]  # most runs first
    assert stats["per_tag"]["junction"]["driving_score"]["n"] == 3
    assert suite_stats(results) == stats  # fixed seed: the same summary every time


def test_a_comparison_pairs_routes_so_a_constant_gain_has_a_tight_interval() -> None:
    a = runs({"r0": [10.0, 10.0], "r1": [50.0, 50.0], "r2": [90.0, 90.0]})
    b = runs({"r0": [15.0, 15.0], "r1": [55.0, 55.0], "r2": [95.0, 95.0], "only_b": [0.0]})
    ds = compare_runs(a, b)["driving_score"]
    assert ds["difference"] == pytest.approx(5.0) and ds["ci95"] == pytest.approx([5.0, 5.0])
    assert (ds["routes"], ds["n_a"], ds["n_b"]) == (3, 6, 6)  # only the routes both drove
    noisy = compare_runs(a, runs({"r0": [0.0, 30.0], "r1": [40.0, 70.0], "r2": [80.0, 110.0]}))["driving_score"]
    assert noisy["difference"] == pytest.approx(5.0) and noisy["ci95"][0] < 5.0 < noisy["ci95"][1]
    assert compare_runs(a, runs({"x": [1.0]}))["driving_score"] == {
        "difference": None, "ci95": None, "routes": 0, "n_a": 0, "n_b": 0,
    }  # fmt: skip


def test_intervals_print_as_mean_and_bounds() -> None:
    assert format_interval({"mean": 0.5, "ci95": [0.25, 0.75]}, 0, 100.0) == "50 [25, 75]"
    assert format_interval({"difference": -2.0, "ci95": [-5.0, 1.0]}, 1, signed=True) == "-2.0 [-5.0, +1.0]"
    assert format_interval({"mean": 3.0, "ci95": None}) == "3.0" and format_interval({"mean": None}) == "-"

"""`controller=<default|mpc>` on run_route: the Hydra group selects the law, bad keys and values stop the run before
anything is simulated, and results.json reports the law's lateral tracking error and the MPC's solver counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from closed_loop_helpers import write_scenario
from hydra import compose, initialize_config_dir

from sim.builders import load_run_config
from sim.run_route import EXIT_BAD_INPUT, EXIT_OK, drive

REPO = Path(__file__).resolve().parents[2]
FAST = ["progress=false", "video.enabled=false", "sim.render=false", "results_every_s=0.5"]


def compose_run(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("run_route", overrides=[*FAST, *overrides])


def test_the_controller_group_selects_the_law() -> None:
    assert load_run_config(compose_run()).controller.law == "pid"
    mpc = load_run_config(compose_run("controller=mpc", "controller.mpc.horizon_steps=20")).controller
    assert mpc.law == "mpc" and mpc.lateral == "pure_pursuit" and mpc.mpc.horizon_steps == 20
    assert mpc.speed_step == 2.0  # the rest of the meta-action controller's config is the default group's


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("+controller.mpc.horizn=3", "horizn"),
        ("controller.mpc.horizon_steps=1", "horizon_steps"),
        ("controller.law=lqr", "law"),
        ("+controller.mpc.weights.comfort=1", "comfort"),
    ],
)
def test_bad_controller_config_exits_2_naming_the_field(tmp_path: Path, capsys, override: str, named: str) -> None:
    out = tmp_path / "out"
    code = drive(compose_run(f"scenario={write_scenario(tmp_path)}", f"output_dir={out}", "controller=mpc", override))
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert named in err and "controller" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("group", ["default", "mpc"])
def test_results_report_the_control_law(tmp_path: Path, group: str) -> None:
    out = tmp_path / "out"
    assert (
        drive(compose_run(f"scenario={write_scenario(tmp_path)}", f"output_dir={out}", f"controller={group}"))
        == EXIT_OK
    )
    results = json.loads((out / "results.json").read_text())
    assert results["status"] in ("Completed", "Perfect")
    report = results["controller"]
    assert report["law"] == ("mpc" if group == "mpc" else "pid")
    assert report["tracking"]["all"]["ticks"] == results["ticks"] and report["tracking"]["all"]["max_m"] < 0.3
    if group == "mpc":
        mpc = report["mpc"]
        assert mpc["ticks"] == results["ticks"] and mpc["fallback_total"] == sum(mpc["fallbacks"].values())
        assert 0 < mpc["tick_ms"]["p50"] <= mpc["tick_ms"]["p99"] <= mpc["tick_ms"]["max"]
    else:
        assert "mpc" not in report

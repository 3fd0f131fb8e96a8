"""Snapshots of the embedded world: a restored world continues bit for bit, here and in another process."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from process_helpers import Processes

from scenarios import load_scenario
from sim.core import VehicleControl
from sim.embedded.backend import EmbeddedBackend
from sim.embedded.snapshot import SnapshotError

REPO = Path(__file__).resolve().parents[3]
SCENARIO, SEED = "jaywalker", 3  # a scripted crossing: its trigger's closure must survive the snapshot


def controls(k: int) -> VehicleControl:
    return VehicleControl(throttle=0.5, steer=float(0.05 * np.sin(k / 7.0)), brake=0.3 if k % 50 > 45 else 0.0)


def continue_run(backend: EmbeddedBackend, ticks: int = 160) -> str:
    """Hash of every state and of some frames along the same controls."""
    digest = hashlib.sha256()
    for k in range(ticks):
        backend.step(controls(k))
        gt = backend.ground_truth()
        digest.update(repr((gt.ego, [(a.id, a.x, a.y, a.yaw, a.speed) for a in gt.actors], gt.lights)).encode())
        digest.update(repr(backend.events()).encode())
        if k % 40 == 0:
            digest.update(backend.observe().image.tobytes())
    return digest.hexdigest()


def started(render: bool = True) -> EmbeddedBackend:
    backend = EmbeddedBackend(render=render)
    backend.load(load_scenario(SCENARIO), SEED)
    for _ in range(40):
        backend.step(VehicleControl(throttle=0.4))
    return backend


CONTINUE_ELSEWHERE = """
import sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from test_snapshot import SCENARIO, SEED, continue_run
from scenarios import load_scenario
from sim.embedded.backend import EmbeddedBackend
backend = EmbeddedBackend()
backend.load(load_scenario(SCENARIO), SEED)
backend.restore(open(sys.argv[1], "rb").read())
print(continue_run(backend))
"""


def test_a_restored_world_continues_bit_for_bit_here_and_in_another_process(
    processes: Processes, tmp_path: Path
) -> None:
    backend = started()
    data = backend.snapshot()
    straight = continue_run(backend)
    backend.restore(data)
    assert continue_run(backend) == straight
    (tmp_path / "snap.bin").write_bytes(data)
    here = Path(__file__).parent
    code = [sys.executable, "-c", CONTINUE_ELSEWHERE, str(tmp_path / "snap.bin"), str(here), str(REPO / "tests")]
    done = processes.run(code, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == straight


def test_a_snapshot_leaves_the_town_out_and_refuses_another_scenario() -> None:
    backend = started(render=False)
    data = backend.snapshot()
    assert len(data) < 100_000  # the town, lane graph and sidewalks are referred to, not copied
    other = EmbeddedBackend(render=False)
    other.load(load_scenario("red_light_stop"), SEED)
    with pytest.raises(SnapshotError, match="jaywalker"):
        other.restore(data)

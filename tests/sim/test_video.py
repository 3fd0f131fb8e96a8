"""Review videos are browser-friendly H.264 and survive the run being killed; frames carry the overlays."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from closed_loop_helpers import write_scenario
from process_helpers import Processes

from sim.core import EgoState, Infraction, InfractionType, Route, WorldState
from sim.overlay import Hud, compose_frame, topdown, wrap_text
from sim.video import FfmpegWriter, VideoError

REPO = Path(__file__).resolve().parents[2]
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> dict[str, object]:
    """Codec and pixel format from ffmpeg's stream line, decode errors, and the number of decodable frames."""
    info = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    stream = re.search(r"Video: (\w+).*?, (yuv\w+|rgb\w+)", info)
    decode = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=60
    )
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return {
        "codec": stream.group(1) if stream else None,
        "pix_fmt": stream.group(2) if stream else None,
        "decode_rc": decode.returncode,
        "decode_errors": decode.stderr.strip(),
        "frames": frames,
    }


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, i = (path.read_bytes() if path.exists() else b""), [], 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        boxes.append(data[i + 4 : i + 8].decode("latin-1"))
        if size < 8:
            break
        i += size
    return boxes


def test_writer_makes_faststart_h264_yuv420p(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    writer = FfmpegWriter(path, 64, 48, fps=10)
    for k in range(25):
        writer.write(np.full((48, 64, 3), k * 10, dtype=np.uint8))
    writer.close()
    info = probe(path)
    assert (info["codec"], info["pix_fmt"], info["decode_rc"], info["frames"]) == ("h264", "yuv420p", 0, 25)
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat") and "moof" not in boxes  # plain MP4, index first


def test_writer_rejects_odd_sizes_and_wrong_frames(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="even"):
        FfmpegWriter(tmp_path / "x.mp4", 63, 48, fps=10)
    writer = FfmpegWriter(tmp_path / "y.mp4", 64, 48, fps=10)
    with pytest.raises(VideoError, match="64x48"):
        writer.write(np.zeros((48, 64), dtype=np.uint8))
    writer.close()


def _world() -> WorldState:
    route = Route(np.array([[0.0, 0.0], [100.0, 0.0]]), ("a", "a"))
    ego = EgoState(10.0, 0.0, 0.0, 5.0)
    return WorldState(0.0, ego, (), (), route, 10.0, "a", 13.9)


def test_frame_has_overlays_and_even_size() -> None:
    camera = np.full((270, 480, 3), 120, dtype=np.uint8)
    event = Infraction(InfractionType.RED_LIGHT, 3.0, (1.0, 2.0))
    reasoning = "the light ahead is red " * 12
    hud = Hud(3.2, 8.0, "Turn left in 40 m", "STOP, STRAIGHT", reasoning, False, 40.0, [event], True)
    frame = compose_frame(camera, topdown(_world()), hud, width=960)
    assert frame.shape == (540, 960, 3) and frame.dtype == np.uint8
    assert (frame[:, :, 0] > 200).sum() > 1000  # red border and labels drawn
    plain = compose_frame(camera, None, Hud(0.0, 0.0, "Follow the lane", None, None, False, 0.0, [], False), 640)
    assert plain.shape == (360, 640, 3)
    assert len(wrap_text("word " * 200, 300, 0.5)) == 3


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _run_route(processes: Processes, tmp_path: Path, *overrides: str) -> subprocess.Popen:
    scenario = write_scenario(tmp_path, criteria={"timeout_s": 300})
    cmd = [sys.executable, str(REPO / "sim" / "run_route.py"), f"scenario={scenario}", "planner=constant",
           "planner.speed=STOP", f"output_dir={tmp_path / 'out'}", "results_every_s=0.2", "progress=false",
           f"hydra.run.dir={tmp_path / 'hydra'}", *overrides]  # fmt: skip
    return processes.start(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_progress(proc: subprocess.Popen, results: Path, sim_s: float, limit_s: float = 90.0) -> dict:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            data = json.loads(results.read_text())
            if data["duration_s"] >= sim_s:
                return data
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError("the run made no progress")


def test_killed_run_leaves_playable_video_and_readable_partial_results(processes: Processes, tmp_path: Path) -> None:
    proc = _run_route(processes, tmp_path)
    out = tmp_path / "out"
    _wait_for_progress(proc, out / "results.json", sim_s=3.0)
    deadline = time.monotonic() + 60
    while top_level_boxes(out / "review.mp4").count("moof") < 3:  # two whole one-second fragments on disk
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    victims = [proc.pid, *_children(proc.pid)]  # Python and its ffmpeg: nothing gets to finish the file
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.2)
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "Running" and results["finished"] is False
    assert results["duration_s"] >= 3.0 and len(results["meta_actions"]) >= 6
    assert results["meta_actions"][0]["action"] == "STOP, STRAIGHT"
    info = probe(out / "review.mp4")
    assert (info["codec"], info["pix_fmt"], info["decode_rc"]) == ("h264", "yuv420p", 0), info
    assert info["frames"] >= 20  # at least the two one-second fragments at 10 fps


def test_terminated_run_is_marked_interrupted_and_its_video_finalised(processes: Processes, tmp_path: Path) -> None:
    proc = _run_route(processes, tmp_path)
    out = tmp_path / "out"
    _wait_for_progress(proc, out / "results.json", sim_s=2.0)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "Interrupted" and results["video"] == "review.mp4"
    info = probe(out / "review.mp4")
    assert info["decode_rc"] == 0 and info["frames"] >= 10
    boxes = top_level_boxes(out / "review.mp4")
    assert boxes.index("moov") < boxes.index("mdat") and "moof" not in boxes


def _decoded(path: Path) -> bytes:
    return subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.mark.slow
def test_two_runs_of_the_same_route_write_the_same_review_video(processes: Processes, tmp_path: Path) -> None:
    """Same scenario, seed and planner: the decoded review videos are identical (x264 with several threads encoded
    the same frames differently from run to run)."""
    decoded = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        cmd = [sys.executable, "sim/run_route.py", "scenario=red_light_stop", "planner=expert", "progress=false",
               f"output_dir={out}", f"hydra.run.dir={tmp_path / 'hydra'}"]  # fmt: skip
        assert processes.run(cmd, timeout=300, cwd=REPO).returncode == 0
        decoded.append(_decoded(out / "review.mp4"))
    assert len(decoded[0]) > 100 * 540 * 960 * 3
    assert decoded[0] == decoded[1]


def _interrupt_and_check(proc: subprocess.Popen, out: Path, sig: signal.Signals, limit_s: float) -> dict:
    """Send `sig`, demand exit 130 within `limit_s`, Interrupted results and, when one was begun, a playable video."""
    sent = time.monotonic()
    os.kill(proc.pid, sig)
    try:
        code = proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the run did not exit within {limit_s} s of {sig.name}") from None
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert code == 130, f"exit {code} after {sig.name}: {output[-2000:]}"
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "Interrupted", results["status"]
    if (out / "review.mp4").exists():
        info = probe(out / "review.mp4")
        assert info["decode_rc"] == 0, info
    return {"elapsed_s": time.monotonic() - sent, "frames": results.get("ticks", 0)}


@pytest.mark.slow
def test_sigterm_with_an_encoder_slower_than_the_drive_always_exits_130_quickly(
    processes: Processes, tmp_path: Path
) -> None:
    """The encoder runs at placebo quality through a one-frame queue, so the drive keeps waiting for it; a signal
    landing anywhere in that (queue full, feeder mid-write, remux) must still end the run cleanly and quickly."""
    for k in range(6):
        run_dir = tmp_path / f"r{k}"
        run_dir.mkdir()
        proc = _run_route(processes, run_dir, "video.preset=placebo", "video.queue_frames=1")
        _wait_for_progress(proc, run_dir / "out" / "results.json", sim_s=0.5 + 0.4 * k)
        sig = signal.SIGTERM if k % 2 == 0 else signal.SIGINT
        done = _interrupt_and_check(proc, run_dir / "out", sig, limit_s=15.0)
        assert done["elapsed_s"] < 12.0


@pytest.mark.slow
def test_a_signal_during_route_setup_ends_in_interrupted_results(processes: Processes, tmp_path: Path) -> None:
    """Signals within half a second of the first results.json land while the world is built and Panda3D starts."""
    for k in range(8):
        run_dir = tmp_path / f"r{k}"
        run_dir.mkdir()
        proc = _run_route(processes, run_dir)
        results = run_dir / "out" / "results.json"
        deadline = time.monotonic() + 60
        while not results.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "no results.json appeared"
            time.sleep(0.01)
        time.sleep(0.07 * k)
        _interrupt_and_check(proc, run_dir / "out", signal.SIGINT if k % 2 else signal.SIGTERM, limit_s=30.0)

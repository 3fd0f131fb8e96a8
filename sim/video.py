"""Review videos: H.264 MP4 streamed to the ffmpeg binary shipped by imageio-ffmpeg.

While recording, the file is a fragmented MP4 (an empty moov up front, then one fragment per keyframe, one keyframe a
second, each flushed to disk as it is muxed), so a run killed at any moment leaves a file that plays up to its last
complete fragment. ffmpeg runs in its
own session: Ctrl-C reaches only Python, which closes the pipe cleanly, and if Python dies outright ffmpeg sees the
pipe close and finishes the file itself. A clean close remuxes (stream copy, no re-encode) into a plain MP4 with the
index at the front (`+faststart`), the most widely playable form.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.callbacks import RunCallback, RunContext, RunOutcome, StepInfo, TickInfo
from sim.core import Infraction
from sim.overlay import Hud, compose_frame, topdown
from sim.status import Status

FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"
WAIT_SLICE_S = 0.2  # no wait on the frame queue or the feeder is longer than this without looking around
INTERRUPTED_CLOSE_S = 5.0  # after Ctrl-C / SIGTERM, how long ffmpeg may take to finish the file


class VideoError(RuntimeError):
    pass


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class FfmpegWriter:
    """Streams RGB frames of one fixed size into an H.264 (yuv420p) MP4.

    A feeder thread does the blocking pipe writes (they release the GIL), so the simulation goes on while ffmpeg
    encodes; at most `queue_frames` frames wait in memory, after which `write` blocks."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        crf: int = 23,
        preset: str = "veryfast",
        threads: int = 1,
        queue_frames: int = 8,
    ) -> None:
        if width % 2 or height % 2:
            raise VideoError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (height, width)
        self.frames = 0
        self.killed = False  # close() ran out of time and killed ffmpeg
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # ffmpeg's stderr, open for the writer's lifetime
        gop = max(1, round(fps))
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "pipe:0",
            "-an", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-g", str(gop), "-threads", str(threads), "-movflags", FRAGMENTED,
            "-flush_packets", "1", "-f", "mp4", str(self.path),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
        )
        self._pending: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_frames)
        self._failed: BaseException | None = None
        self._abandoned = threading.Event()  # close() gave up waiting: the feeder drops what is left and exits
        self._feeder = threading.Thread(target=self._feed, name="ffmpeg-feeder", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        while not self._abandoned.is_set():
            try:
                data = self._pending.get(timeout=WAIT_SLICE_S)
            except queue.Empty:
                continue
            if data is None:
                break
            if self._failed is None:
                try:
                    stdin.write(data)
                except (OSError, ValueError) as err:
                    self._failed = err
        with contextlib.suppress(OSError, ValueError):
            stdin.close()

    def write(self, frame: np.ndarray) -> None:
        """Queue a frame; waits while the queue is full (ffmpeg slower than the drive), never past ffmpeg's death."""
        if frame.shape[:2] != self.size or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise VideoError(f"frame must be {self.size[1]}x{self.size[0]} RGB uint8, got {frame.shape} {frame.dtype}")
        data = np.ascontiguousarray(frame).tobytes()
        while True:
            if self._failed is not None or self._proc.poll() is not None:
                raise VideoError(f"ffmpeg stopped accepting frames: {self._stderr() or self._failed}")
            try:
                self._pending.put(data, timeout=WAIT_SLICE_S)
                break
            except queue.Full:
                continue
        self.frames += 1

    def close(self, faststart: bool = True, timeout_s: float = 120.0) -> None:
        """Finish the file within `timeout_s`; with `faststart`, remux it to a non-fragmented MP4 (kept fragmented if
        that fails). Past the deadline ffmpeg is killed: the fragmented file then plays up to its last fragment."""
        deadline = time.monotonic() + timeout_s
        sentinel_sent = False
        while not sentinel_sent and self._feeder.is_alive() and time.monotonic() < deadline:
            try:
                self._pending.put(None, timeout=WAIT_SLICE_S)
                sentinel_sent = True
            except queue.Full:
                continue
        self._feeder.join(max(0.0, deadline - time.monotonic()))
        try:
            code = self._proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._abandoned.set()
            self._proc.kill()  # the fragments already on disk stay playable
            self._proc.wait()
            self._feeder.join(WAIT_SLICE_S * 4)
            self._log.close()
            self.killed = True
            return
        log = self._stderr()
        self._log.close()
        if code != 0:
            raise VideoError(f"ffmpeg exited with {code}: {log}")
        if faststart and self.frames:
            remux(self.path)

    def _stderr(self) -> str:
        try:
            self._log.seek(0)
            return self._log.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""


def remux(path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.faststart{path.suffix}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-c", "copy",
           "-movflags", "+faststart", str(tmp)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, start_new_session=True)
    if done.returncode == 0:
        os.replace(tmp, path)
    else:
        tmp.unlink(missing_ok=True)
        warnings.warn(f"kept the fragmented video {path}: remux failed: {done.stderr.strip()}", stacklevel=2)


@dataclass(frozen=True)
class VideoConfig:
    enabled: bool = True
    every_n_ticks: int = 2  # one frame every n simulator ticks
    fps: float | None = None  # None: real time (1 / (dt * every_n_ticks))
    width: int = 960  # frame width in pixels; height follows the camera's aspect ratio
    crf: int = 23
    preset: str = "veryfast"
    threads: int = 1  # x264 with more threads encodes the same frames differently from run to run
    bev: bool = True
    bev_size_px: int = 224  # drawn at this size; scaled only when it differs from the inset
    bev_range_m: float = 60.0
    flash_s: float = 1.5  # how long an infraction keeps the frame border red
    faststart: bool = True  # remux to a plain MP4 at the end of the run
    queue_frames: int = 8  # frames waiting for ffmpeg before the drive waits for the encoder

    def __post_init__(self) -> None:
        if self.every_n_ticks < 1:
            raise ValueError(f"every_n_ticks must be >= 1, got {self.every_n_ticks}")
        if self.width < 64 or self.width % 2:
            raise ValueError(f"width must be even and >= 64, got {self.width}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be positive or null, got {self.fps}")
        if self.queue_frames < 1:
            raise ValueError(f"queue_frames must be >= 1, got {self.queue_frames}")

    def time_scale(self, dt: float) -> float:
        """Video seconds per simulated second: 1.0 in real time (fps null); below 1 when `fps` speeds it up."""
        return 1.0 if self.fps is None or dt <= 0 else 1.0 / (self.fps * dt * self.every_n_ticks)


class VideoRecorder(RunCallback):
    """Draws and streams review frames. A broken writer is reported once and switched off: the drive goes on."""

    def __init__(self, path: str | Path, config: VideoConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or VideoConfig()
        self.writer: FfmpegWriter | None = None
        self.error: str | None = None

    def on_start(self, context: RunContext) -> None:
        self.context = context
        # dt is 0 when the backend could not even be created; no frame is drawn then.
        self.fps = self.config.fps or (1.0 / (context.dt * self.config.every_n_ticks) if context.dt > 0 else 1.0)
        self.infractions: list[Infraction] = []
        self.route_length = 0.0
        self.bev_renderer: Any = None
        self.writer, self.error = None, None

    def on_loaded(self, context: RunContext, world: Any) -> None:
        self.route_length = world.route.length
        cfg = self.config
        self.bev_renderer = _bev_renderer(context.backend, cfg.bev_size_px, cfg.bev_range_m) if cfg.bev else None

    def on_step(self, info: StepInfo) -> None:
        self.infractions.extend(info.events)

    def on_tick(self, info: TickInfo) -> None:
        if self.error is not None or info.tick % self.config.every_n_ticks:
            return
        try:
            frame = self._frame(info)
            if self.writer is None:
                self.writer = FfmpegWriter(
                    self.path, frame.shape[1], frame.shape[0], self.fps, self.config.crf, self.config.preset,
                    self.config.threads, self.config.queue_frames,
                )  # fmt: skip
            self.writer.write(frame)
        except (VideoError, OSError) as err:
            self._fail(err)

    def on_end(self, outcome: RunOutcome) -> None:
        if self.writer is not None:
            interrupted = outcome.status is Status.INTERRUPTED
            try:
                self.writer.close(self.config.faststart, INTERRUPTED_CLOSE_S if interrupted else 120.0)
            except (VideoError, OSError) as err:
                self._fail(err)
            self.writer = None

    def _fail(self, err: Exception) -> None:
        self.error = str(err)
        warnings.warn(f"review video disabled: {err}", stacklevel=2)

    def _frame(self, info: TickInfo) -> np.ndarray:
        obs = info.observation.get()
        world, plan = info.world, info.plan
        recent = [e for e in self.infractions if world.time - e.time <= self.config.flash_s]
        hud = Hud(
            time=world.time,
            speed_mps=world.ego.speed,
            navigation=obs.navigation,
            action=str(plan.action) if plan else None,
            reasoning=plan.reasoning if plan else None,
            fallback=bool(plan and plan.fallback),
            route_completion=100.0 * info.progress_m / self.route_length if self.route_length else 0.0,
            infractions=self.infractions,
            flash=bool(recent),
            throttle=info.control.throttle,
            brake=info.control.brake,
            steer=info.control.steer,
        )
        return compose_frame(obs.image, self._bev(world) if self.config.bev else None, hud, self.config.width)

    def _bev(self, world: Any) -> np.ndarray:
        if self.bev_renderer is not None:
            return np.asarray(self.bev_renderer.render(world))
        return topdown(world, self.config.bev_size_px, self.config.bev_range_m)


def _bev_renderer(backend: Any, size_px: int, range_m: float) -> Any:
    """The embedded BEV renderer when the backend exposes its road network; None: draw the plain top-down view."""
    try:
        network = backend.network
    except (AttributeError, RuntimeError):
        return None
    from sim.embedded.bev import BevRenderer

    return BevRenderer(network, size_px, range_m)

"""Ctrl-C and SIGTERM as a request to stop, honoured where it is safe: between ticks, not inside whatever runs.

A signal handler that raises can land anywhere: inside a queue's lock, half way through importing an extension
module, in the middle of writing a file. Here the handler only records the request; the closed-loop runner checks it
between ticks and while it waits for a planner, ends the route as "Interrupted" and lets every callback finish its
files. A second signal while the first is pending raises KeyboardInterrupt at once, for a user who insists.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by a signal (or by `request()`); read by whoever runs the loop."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum
        self._event.set()

    def wait(self, timeout_s: float | None) -> bool:
        """Sleep until a stop is requested or `timeout_s` passes; True when requested."""
        return self._event.wait(timeout_s)

    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum is not None else "stop"
        return f"interrupted by {name}"

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
        self.request(signum)

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Route SIGINT and SIGTERM to this request for the duration (main thread only), then restore the handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in HANDLED}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

"""One console line for a whole fan-out: tasks done of the total, failures, rate and time left (tqdm)."""

from __future__ import annotations

from typing import Any


class FanOutProgress:
    """`done` counts tasks finished before this run too (a resumed run starts part way); the rate and the time left
    count only this run's."""

    def __init__(self, total: int, done: int = 0, unit: str = "route", enabled: bool = True) -> None:
        from tqdm import tqdm

        self.enabled = enabled
        self.failures = 0
        self._tqdm = tqdm
        self.bar: Any = tqdm(
            total=total,
            initial=done,
            unit=unit,
            desc=f"{unit}s",
            disable=not enabled,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        self.bar.set_postfix(failed=0, refresh=False)

    def finished(self, failed: bool) -> None:
        self.failures += int(failed)
        self.bar.set_postfix(failed=self.failures, refresh=False)
        self.bar.update(1)

    def write(self, line: str) -> None:
        """A log line above the bar (the bar is redrawn under it)."""
        if self.enabled:
            self._tqdm.write(line)
        else:
            print(line)

    def close(self) -> None:
        self.bar.close()

"""What every benchmark writes beside its numbers: the spread of repeats, where it ran, and the JSON it leaves."""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def machine_info(cpus: list[int]) -> dict[str, Any]:
    """Where a benchmark ran; `load_average_after` is added when it ends."""
    return {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores_in_machine": os.cpu_count(),
        "pinned_to_cpus": cpus,
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def write_result(result: dict[str, Any], out: Path, printed: Any = None) -> None:
    """Record the load average at the end, write `result` as JSON to `out` and print `printed` (default: all)."""
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result if printed is None else printed, indent=2))

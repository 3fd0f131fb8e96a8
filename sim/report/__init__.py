"""Static HTML review pages for closed-loop runs and training runs (open from disk, no server).

- `write_report(run_dir)`: `report.html` for a single route or a suite (summary, per-tag table, per-route video
  with a timeline of speed, meta-actions, reasoning and clickable infractions). `sim/run_route.py` writes it at the
  end of every run; `python -m sim.report DIR` rebuilds it.
- `write_comparison(run_a, run_b, out)`: the A/B page (`python -m sim.report --compare A B`).
- `write_training_report(run_dir, evaluations)`: curves and closed-loop evaluations of a training run
  (`python -m sim.report --training RUN_DIR`).
"""

from sim.report.pages import REPORT_FILE, write_comparison, write_report, write_report_or_warn
from sim.report.runs import ReportError, load_run
from sim.report.training_page import write_training_report

__all__ = [
    "REPORT_FILE",
    "ReportError",
    "load_run",
    "write_comparison",
    "write_report",
    "write_report_or_warn",
    "write_training_report",
]

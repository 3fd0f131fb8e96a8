"""Build review pages from run folders.

    python -m sim.report DIR                      # DIR/report.html for a single route or a suite
    python -m sim.report --compare RUN_A RUN_B [--out PATH]
    python -m sim.report --training RUN_DIR [--out PATH]

Exit codes: 0 written; 2 bad input (a folder without results), reported in one line.
"""

from __future__ import annotations

import argparse
import sys

from sim.report import ReportError, write_comparison, write_report, write_training_report
from sim.report.pages import comparison_line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", help="a sim/run_route.py output folder (single route or suite)")
    parser.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="an A/B page of two run folders")
    parser.add_argument("--training", metavar="RUN_DIR", help="a training run folder (SFT / GRPO / pipeline)")
    parser.add_argument("--out", help="where to write the page (default: report.html in the run folder; for "
                        "--compare, compare_<A>_vs_<B>/report.html here)")  # fmt: skip
    args = parser.parse_args(argv)
    chosen = [x for x in (args.run_dir, args.compare, args.training) if x]
    if len(chosen) != 1:
        parser.error("give exactly one of DIR, --compare RUN_A RUN_B, --training RUN_DIR")
    try:
        if args.compare:
            path = write_comparison(args.compare[0], args.compare[1], args.out)
            print(comparison_line(args.compare[0], args.compare[1]))
        elif args.training:
            path = write_training_report(args.training, out=args.out)
        else:
            path = write_report(args.run_dir, args.out)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m monitoring.dashboards [DIR]``: write the Grafana dashboards' JSON files into DIR."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from monitoring.dashboards import DASHBOARDS, DEFAULT_DIR, write


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring.dashboards",
        description="Write the Grafana dashboards (" + ", ".join(DASHBOARDS) + ") as JSON files. "
        "No server is contacted and no setting is read from the environment.",
    )
    parser.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=DEFAULT_DIR,
        help=f"where to write them (default: {DEFAULT_DIR}, which the chart turns into ConfigMaps)",
    )
    args = parser.parse_args(argv)
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

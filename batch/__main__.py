"""``python -m batch`` (and ``spark-submit .../batch/__main__.py``): score a portfolio from settings.

The chart's SparkApplication runs this file with spark-submit; its settings come from the
``CREDIT_BATCH_*`` environment and from ``--name value`` flags (``--engine spark --as_of ...``,
any ``BatchSettings`` field). ``credit-scoring batch-score`` is the same job with a progress
display (and the embedded MLflow when no tracking URI is set). Prints the summary as JSON; exits
1 on an input error, 2 on bad settings.
"""

from __future__ import annotations

import argparse
import sys

if __package__ in (None, ""):
    # Run as a file (spark-submit): its folder is not a package root, and a module of this
    # package must never shadow a top-level one (``features``, ``metrics`` ...).
    sys.path.pop(0)


def _parser() -> argparse.ArgumentParser:
    from batch.settings import BatchSettings
    from credit_scoring.settings_help import environment_help

    parser = argparse.ArgumentParser(
        prog="python -m batch",
        description="Score a portfolio with the registry model, as the online endpoint would "
        "(docs/batch.md). Every setting below is also a flag: --input FILE, --engine spark, ...",
        epilog="\n".join(environment_help(BatchSettings)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    import json
    import logging

    from pydantic import ValidationError

    from batch.inputs import InputError
    from batch.job import run
    from batch.settings import BatchSettings

    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        _parser().print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = BatchSettings(_cli_parse_args=args)  # type: ignore[call-arg]
    except (ValidationError, SystemExit) as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run(settings)
    except (InputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

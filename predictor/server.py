"""Entry point: flags and settings built once (``configure``), then the model served (``main``).

``python -m predictor --help`` prints KServe's flags, ours, and every ``CREDIT_*`` setting with its
default and meaning, and exits without contacting anything.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from predictor.settings import PredictorSettings
from serving.settings import Launch, launch, server_argument_parser

__all__ = ["Launch", "build_parser", "configure", "main"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = server_argument_parser(
        "Credit-risk predictor: the MLflow registry's XGBoost booster over KServe v1/v2 REST and gRPC.",
        model_name="credit-risk",
        settings=(PredictorSettings,),
    )
    parser.add_argument(
        "--model_uri",
        default=None,
        help="models:/<name>@<alias> or models:/<name>/<version> (CREDIT_MODEL_URI; "
        "default models:/credit-risk@champion)",
    )
    parser.add_argument(
        "--poll_interval",
        type=float,
        default=None,
        help="Seconds between alias checks (CREDIT_POLL_INTERVAL_SECONDS; default 30)",
    )
    parser.add_argument(
        "--nthread",
        type=int,
        default=None,
        help="XGBoost threads (CREDIT_NTHREAD; default: container CPU limit, else 1)",
    )
    return parser


def configure(argv: Sequence[str] | None = None) -> Launch[PredictorSettings]:
    """Flags over environment over defaults, checked once (a bad value exits naming it)."""
    args = build_parser().parse_args(argv)
    return launch(
        args,
        PredictorSettings,
        "predictor",
        model_uri=args.model_uri,
        poll_interval_seconds=args.poll_interval,
        nthread=args.nthread,
    )


def main(argv: Sequence[str] | None = None) -> None:
    launch = configure(argv)
    settings = launch.settings
    launch.start_logging()
    settings.export_environment()
    threads = settings.threads()
    # Before xgboost (and its OpenMP runtime) is first imported: no pool larger than the CPU limit.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

    from predictor.metrics import PredictorMetrics
    from predictor.model import CreditRiskModel
    from predictor.registry import ModelRef, Registry
    from predictor.scoring import MicroBatcher
    from predictor.watcher import ModelWatcher

    metrics = PredictorMetrics.create()
    registry = Registry(
        ModelRef.parse(settings.model_uri), threads=threads, download_dir=settings.download_dir
    )
    watcher = ModelWatcher(
        registry,
        metrics,
        settings.poll_interval_seconds,
        backoff=settings.startup_backoff_seconds,
        backoff_max=settings.startup_backoff_max_seconds,
    )
    batcher = MicroBatcher(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="score"), settings.inline_max_rows
    )
    model = CreditRiskModel(launch.model_name, watcher, batcher, metrics, settings.max_rows)
    logger.info(
        "predictor %s: following %s every %.0fs, %d XGBoost thread(s)",
        launch.model_name,
        registry.ref,
        settings.poll_interval_seconds,
        threads,
    )
    launch.serve([model], routes=model.fast_routes())

"""Entry point: flags and settings built once, then the model served over REST and gRPC."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pydantic import ValidationError

from credit_scoring.serving import (
    ServerOptions,
    configure_logging,
    load_settings,
    serve,
    server_argument_parser,
)
from predictor.settings import PredictorSettings

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = server_argument_parser(
        "Credit-risk predictor: the MLflow registry's XGBoost booster over KServe v1/v2 REST and gRPC.",
        model_name="credit-risk",
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


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            PredictorSettings,
            model_uri=args.model_uri,
            poll_interval_seconds=args.poll_interval,
            nthread=args.nthread,
        )
    except ValidationError as exc:
        raise SystemExit(f"invalid predictor settings:\n{exc}") from exc
    configure_logging(args.log_config_file)
    settings.export_environment()
    threads = settings.threads()
    # Before xgboost (and its OpenMP runtime) is first imported: no pool larger than the CPU limit.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

    from predictor.metrics import PredictorMetrics
    from predictor.model import CreditRiskModel
    from predictor.registry import ModelRef, Registry
    from predictor.reloader import ModelWatcher
    from predictor.scoring import Scorer

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
    scorer = Scorer(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="score"), settings.inline_max_rows
    )
    model = CreditRiskModel(args.model_name, watcher, scorer, metrics, settings.max_rows)
    options = ServerOptions.from_args(args, settings)
    logger.info(
        "predictor %s: following %s every %.0fs, %d XGBoost thread(s)",
        args.model_name,
        registry.ref,
        settings.poll_interval_seconds,
        threads,
    )
    serve([model], options, routes=model.fast_routes(), max_body_bytes=settings.max_body_bytes)

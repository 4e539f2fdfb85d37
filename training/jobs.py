"""The foundation's jobs as small composable functions: prepare, apply, materialize, train.

The CLI commands (``credit-scoring data|features|train|demo``) are thin wrappers over these;
the local stack and the tests compose them the same way. Training is given the MLflow tracking
URI; it never starts a server (the CLI starts the embedded one when none is configured).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from feature_store import open_store
from training.data import PreparedData, load_prepared, prepare
from training.feature_repo import ApplyResult, apply, materialize, materialize_incremental
from training.settings import TrainingSettings

if TYPE_CHECKING:
    from feast import FeatureStore

    from training.pipeline import Progress, TrainingResult
    from training.search import SearchProgress

__all__ = [
    "apply_features",
    "feature_store",
    "materialize_features",
    "prepare_data",
    "run_training",
]


def prepare_data(settings: TrainingSettings) -> PreparedData:
    return prepare(settings.resolved_data_dir)


def feature_store(settings: TrainingSettings) -> FeatureStore:
    return open_store(
        settings.resolved_feature_store_config, settings.resolved_feature_repo, settings.feast_env()
    )


def apply_features(settings: TrainingSettings) -> ApplyResult:
    load_prepared(settings.resolved_data_dir)  # fail early, naming the command that makes the data
    return apply(feature_store(settings), settings.resolved_data_dir)


def materialize_features(settings: TrainingSettings, *, incremental: bool = False) -> str:
    """Full backfill (default) or Feast's incremental load up to now (a full one when the
    online store lost its marker: ``training.feature_repo.materialize_incremental``)."""
    store = feature_store(settings)
    if not incremental:
        start, end = materialize(store)
        return f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}"
    start, end, full = materialize_incremental(store)
    how = "full backfill: the online store had no materialization marker" if full else "incremental"
    return f"{start:%Y-%m-%d} .. {end:%Y-%m-%dT%H:%M:%S} ({how})"


def run_training(
    settings: TrainingSettings,
    uri: str,
    progress: Progress | None = None,
    search_progress: SearchProgress | None = None,
) -> TrainingResult:
    """Train, search, register and gate a new version (``result.accepted`` says what the gate did).

    Raises ``ExceptionFileError`` for an unreadable or invalid fairness exception, before any work.
    """
    # Imported here: XGBoost, scikit-learn and matplotlib are not needed to prepare or apply.
    from governance.exception import load_exception
    from training.data import APPLICATIONS_FILE, PROFILE_FILE
    from training.model import ModelConfig
    from training.pipeline import train_and_register

    exception = load_exception(settings.fairness_exception) if settings.fairness_exception else None
    data = load_prepared(settings.resolved_data_dir)
    config = ModelConfig(seed=settings.seed, nthread=settings.threads)
    return train_and_register(
        feature_store(settings),
        data.applications,
        tracking_uri=uri,
        model_name=settings.model_name,
        experiment=settings.experiment,
        config=config,
        search=settings.search(),
        exception=exception,
        progress=progress or (lambda _step: None),
        search_progress=search_progress,
        source_files=[data.data_dir / PROFILE_FILE, data.data_dir / APPLICATIONS_FILE],
        card_dir=settings.model_card_dir,
    )

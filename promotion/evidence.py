"""What the registry knows about a model version: offline metrics, fairness audits, governance.

- Offline metrics: the training run's ``test_*`` metrics (out-of-time window, training/evaluation.py).
- Fairness audits: the run's ``reports/fairness_<attribute>.csv`` tables (AIR per group).
- Governance (issue #12 builds the producers): the registration fairness gate's verdict, as the
  model-version tag ``fairness_gate`` (JSON ``{"status": "passed"|"exception"|"failed", ...}``),
  and the model card, as the run artifact ``model_card/model_card.md``. A promotion refuses a
  version without them ("missing evidence"): evidence that was never produced is not a pass.

Aliases live here too: resolving, moving and deleting them is the registry half of a promotion.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from credit_scoring.errors import RegistryUnavailable

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FAIRNESS_GATE_TAG",
    "MODEL_CARD_ARTIFACT",
    "PREVIOUS_CHAMPION",
    "Governance",
    "Registry",
    "VersionEvidence",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
"""Set by ``promote champion`` on the outgoing champion; ``rollback`` restores it."""
FAIRNESS_GATE_TAG = "fairness_gate"
MODEL_CARD_ARTIFACT = "model_card/model_card.md"
_FAIRNESS_PREFIX = "reports/fairness_"


@dataclass(frozen=True)
class Governance:
    fairness_status: str | None
    """passed | exception | failed, or None when the version carries no verdict."""
    fairness_detail: dict[str, Any]
    model_card: str | None
    """The card's Markdown, or None when the version has none."""


@dataclass(frozen=True)
class VersionEvidence:
    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    """The run's out-of-time test metrics, without the ``test_`` prefix."""
    fairness: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    governance: Governance = Governance(None, {}, None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "metrics": self.metrics,
            "fairness": self.fairness,
            "fairness_gate": {"status": self.governance.fairness_status, **self.governance.fairness_detail},
            "model_card": self.governance.model_card is not None,
        }


class Registry:
    """The MLflow Model Registry calls a promotion makes (``MlflowClient`` underneath)."""

    def __init__(self, client: Any, model_name: str) -> None:
        self.client = client
        self.name = model_name

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args)
        except MlflowException as exc:
            raise RegistryUnavailable(f"MLflow registry: {what}: {exc.message}") from exc
        except OSError as exc:
            raise RegistryUnavailable(f"MLflow registry unreachable ({what}): {exc}") from exc

    # ------------------------------------------------------------------ aliases
    def alias(self, alias: str) -> str | None:
        """The version ``alias`` points to, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, alias).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise RegistryUnavailable(f"MLflow registry: alias {alias}: {exc.message}") from exc
        except OSError as exc:
            raise RegistryUnavailable(f"MLflow registry unreachable: {exc}") from exc

    def aliases(self) -> dict[str, str]:
        model = self._call(f"model {self.name}", self.client.get_registered_model, self.name)
        return {str(k): str(v) for k, v in model.aliases.items()}

    def set_alias(self, alias: str, version: str) -> None:
        self._call(f"set {alias}", self.client.set_registered_model_alias, self.name, alias, version)

    def delete_alias(self, alias: str) -> None:
        if self.alias(alias) is not None:
            self._call(f"delete {alias}", self.client.delete_registered_model_alias, self.name, alias)

    def exists(self, version: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_model_version(self.name, version)
        except MlflowException:
            return False
        return True

    # ------------------------------------------------------------------ evidence
    def evidence(self, version: str) -> VersionEvidence:
        mv = self._call(f"version {version}", self.client.get_model_version, self.name, version)
        run_id = mv.run_id or (mv.tags or {}).get("run_id")
        metrics: dict[str, float] = {}
        fairness: dict[str, list[dict[str, Any]]] = {}
        card = None
        if run_id:
            run = self._call(f"run {run_id}", self.client.get_run, run_id)
            metrics = {
                k.removeprefix("test_"): float(v)
                for k, v in run.data.metrics.items()
                if k.startswith("test_")
            }
            fairness = self._fairness(run_id)
            card = self._text(run_id, MODEL_CARD_ARTIFACT)
        return VersionEvidence(
            name=self.name,
            version=str(mv.version),
            run_id=run_id,
            aliases=tuple(sorted(mv.aliases or ())),
            metrics=metrics,
            fairness=fairness,
            governance=Governance(*_fairness_gate((mv.tags or {}).get(FAIRNESS_GATE_TAG)), card),
        )

    def _fairness(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        listed = self._call("artifacts", self.client.list_artifacts, run_id, "reports")
        out = {}
        for item in listed:
            name = Path(item.path).name
            if item.path.startswith(_FAIRNESS_PREFIX) and name.endswith(".csv"):
                text = self._text(run_id, item.path)
                if text is not None:
                    table = pd.read_csv(io.StringIO(text))
                    out[name.removeprefix("fairness_").removesuffix(".csv")] = table.to_dict(orient="records")
        return out

    def _text(self, run_id: str, path: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError
        from mlflow.exceptions import MlflowException

        try:
            with tempfile.TemporaryDirectory(prefix="credit-evidence-") as tmp:
                local = self.client.download_artifacts(run_id, path, tmp)
                return Path(local).read_text(encoding="utf-8")
        except (MlflowException, OSError, BotoCoreError, ClientError):
            return None  # absent: the caller reports missing evidence


def _fairness_gate(raw: str | None) -> tuple[str | None, dict[str, Any]]:
    if not raw:
        return None, {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw.strip().lower(), {}
    if isinstance(parsed, dict):
        status = parsed.get("status")
        return (str(status).lower() if status else None), {k: v for k, v in parsed.items() if k != "status"}
    return str(parsed).lower(), {}

"""The credit-risk predictor: a ``kserve.Model`` serving the MLflow registry's XGBoost booster.

Run it with ``python -m predictor --model_name credit-risk --http_port 8080 --grpc_port 8081``;
see ``docs/predictor.md``.
"""

from __future__ import annotations

__all__ = ["CreditRiskModel", "PredictorSettings", "main"]


def __getattr__(name: str) -> object:
    # Lazy: importing kserve parses sys.argv, which must not happen on ``import predictor``.
    if name == "CreditRiskModel":
        from predictor.model import CreditRiskModel

        return CreditRiskModel
    if name == "PredictorSettings":
        from predictor.settings import PredictorSettings

        return PredictorSettings
    if name == "main":
        from predictor.server import main

        return main
    raise AttributeError(name)

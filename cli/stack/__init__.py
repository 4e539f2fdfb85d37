"""The local stack: MLflow, Redis, predictor and transformer as supervised local processes."""

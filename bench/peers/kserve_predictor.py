"""A stock KServe custom predictor for the benchmark: what a user writes from KServe's docs.

``kserve.Model`` + ``ModelServer`` with the default data plane (FastAPI, pydantic v2 request
models), the booster file loaded with ``xgboost.Booster`` and ``inplace_predict`` on the
``as_numpy()`` of the first input; the output ``probability`` is the PD (``binary:logistic``).
The one change from stock: REST binds 127.0.0.1 (kserve 0.21 hard-codes 0.0.0.0).
Run: python bench/peers/kserve_predictor.py --model_name credit-risk --model_file model.ubj
     --http_port N --enable_grpc false
"""

from __future__ import annotations

import argparse

import kserve
import numpy as np
import xgboost as xgb
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.utils import generate_uuid

from bench.peers.loopback import bind_rest_to_loopback


class XGBoostPredictor(Model):
    def __init__(self, name: str, model_file: str) -> None:
        super().__init__(name)
        self.model_file = model_file
        self.load()

    def load(self) -> bool:
        self.booster = xgb.Booster(model_file=self.model_file)
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        features = payload.inputs[0].as_numpy()
        probability = self.booster.inplace_predict(features).astype(np.float64)
        output = InferOutput(name="probability", shape=list(probability.shape), datatype="FP64")
        output.set_data_from_numpy(probability, binary_data=False)
        return InferResponse(
            model_name=self.name, infer_outputs=[output], response_id=payload.id or generate_uuid()
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_file", required=True)
    args, _ = parser.parse_known_args()
    bind_rest_to_loopback()
    ModelServer().start([XGBoostPredictor(args.model_name, args.model_file)])

"""A stock KServe transformer for the benchmark: it only forwards to its predictor.

``kserve.Model`` with KServe's own ``preprocess``/``postprocess`` (identity) and ``predict``
(KServe's REST v2 client to ``--predictor_host``), no features, no reasons, no logging: the
cheapest transformer -> predictor hop stock KServe offers. The one change from stock: REST binds
127.0.0.1 (kserve 0.21 hard-codes 0.0.0.0).
Run: python bench/peers/kserve_transformer.py --model_name credit-risk --predictor_host
     127.0.0.1:N --predictor_protocol v2 --http_port M --enable_grpc false
"""

from __future__ import annotations

import argparse

import kserve
from kserve import Model, ModelServer

from bench.peers.loopback import bind_rest_to_loopback


class ForwardingTransformer(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ready = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    args, _ = parser.parse_known_args()
    bind_rest_to_loopback()
    ModelServer().start([ForwardingTransformer(args.model_name)])

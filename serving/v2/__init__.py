"""The Open Inference Protocol v2 wire module: one codec for both servers and the predictor client.

- ``tensors``: ``Tensor``, the datatype table, shapes, the binary layout, ``INFERENCE_HEADER``;
- ``messages``: ``InferenceRequest`` / ``InferenceResponse``, one type whatever the transport;
- ``rest``: REST JSON and the binary tensor extension, both directions (the hot path, ours);
- ``kserve``: to and from KServe's ``InferRequest`` / ``InferResponse`` (KServe's REST routes,
  gRPC on both sides).
"""

from serving.v2.messages import InferenceRequest, InferenceResponse, RequestedOutput
from serving.v2.tensors import DATATYPES, INFERENCE_HEADER, Tensor, is_shape

__all__ = [
    "DATATYPES",
    "INFERENCE_HEADER",
    "InferenceRequest",
    "InferenceResponse",
    "RequestedOutput",
    "Tensor",
    "is_shape",
]

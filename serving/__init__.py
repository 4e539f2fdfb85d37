"""What both KServe servers (predictor and transformer) share, and nothing else.

- ``serving.v2``: the Open Inference Protocol v2 wire module (REST JSON, binary extension, gRPC);
- ``serving.asgi``: the outermost ASGI layer (request id, body limit, fast routes);
- ``serving.errors``: errors to HTTP and gRPC, rendered in one place;
- ``serving.context``: the request-id rule;
- ``serving.settings``: ``ServerSettings``, KServe's command line, ``ServerOptions``;
- ``serving.server``: ``serve()`` over KServe's ``ModelServer`` (the shims, pinned to KServe).

It depends on the contract (``credit_scoring``) and KServe, never on a server package.
"""

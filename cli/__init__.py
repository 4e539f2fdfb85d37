"""The ``credit-scoring`` command line and the local stack: tools on top of every component.

Nothing below imports this package: the contract (``credit_scoring``), the servers, training and
monitoring know nothing of the CLI, the local stack or the embedded MLflow server.
"""

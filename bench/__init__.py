"""``make bench``: the serving path side by side with MLServer and stock KServe (``python -m bench``)."""


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what failed and where its log is."""

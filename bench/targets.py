"""Load targets: the pre-built requests each side-by-side run sends, and how answers are checked.

Requests rotate over real applications (``BenchEnv.workload``); every target checks a sample of
its answers (``bench.payloads``), so nobody can look fast by answering something else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bench import payloads
from bench.environment import Workload
from bench.loadgen import Target, build_request
from bench.runs import Bench
from bench.servers import MODEL, TRANSFORMERS
from cli.stack.supervisor import LOCALHOST, Supervised

__all__ = ["ours_batch", "ours_e2e", "predictor", "stock_pair"]


def predictor(
    name: str,
    server: Supervised,
    rows: np.ndarray,
    outputs: Sequence[str],
    check_outputs: Sequence[str],
    servers: list[Supervised] | None = None,
    rows_per_request: int = 1,
) -> Bench:
    """v2 REST, ``rows_per_request`` FP32 rows of the workload per request (JSON)."""
    pool = min(len(rows) // rows_per_request, 512)
    path = f"/v2/models/{MODEL}/infer"
    requests = [
        build_request(
            LOCALHOST,
            server.port,
            path,
            payloads.predictor_body(rows[k * rows_per_request : (k + 1) * rows_per_request], outputs),
        )
        for k in range(pool)
    ]
    check = payloads.check_probability(check_outputs, rows_per_request)
    return Bench(Target(name, LOCALHOST, server.port, requests, check, rows_per_request), servers or [server])


def stock_pair(
    name: str, running: Mapping[str, Supervised], rows: np.ndarray, rows_per_request: int = 1
) -> Bench:
    """The stock forwarding transformer in front of the stock predictor (both servers' CPU)."""
    return predictor(
        name,
        running["stock-transformer"],
        rows,
        (),
        ("probability",),
        servers=[running["stock-transformer"], running["stock-predictor"]],
        rows_per_request=rows_per_request,
    )


def ours_e2e(
    running: Mapping[str, Supervised],
    workload: Workload,
    api_key: str,
    database: str = "sqlite",
    transformer: str | None = None,
    name: str | None = None,
) -> Bench:
    """One application per v2 request through our transformer logging to ``database`` (or the
    server named ``transformer``, as target ``name``)."""
    t = running[transformer or TRANSFORMERS[database]]
    requests = [
        build_request(
            LOCALHOST,
            t.port,
            "/v2/models/credit-scoring/infer",
            payloads.transformer_v2_body([a]),
            headers={"x-api-key": api_key},
        )
        for a in workload.applications[:512]
    ]
    name = name or ("ours-e2e" if database == "sqlite" else f"ours-e2e-{database}")
    return Bench(
        Target(name, LOCALHOST, t.port, requests, payloads.check_credit_answer),
        [t, running["ours-predictor"]],
        f"{t.url}/metrics",
    )


def ours_batch(
    running: Mapping[str, Supervised],
    workload: Workload,
    batch_size: int,
    api_key: str,
    database: str = "sqlite",
) -> Bench:
    """``batch_size`` applications per v1 request through our transformer logging to ``database``."""
    t = running[TRANSFORMERS[database]]
    apps = workload.applications
    size = min(batch_size, len(apps))
    doubled = apps * 2
    requests = [
        build_request(
            LOCALHOST,
            t.port,
            "/v1/models/credit-scoring:predict",
            payloads.transformer_v1_body(doubled[k * 131 % len(apps) :][:size]),
            headers={"x-api-key": api_key},
        )
        for k in range(8)
    ]
    name = "ours-batch" if database == "sqlite" else f"ours-batch-{database}"
    return Bench(
        Target(name, LOCALHOST, t.port, requests, payloads.check_batch_answers(size), size),
        [t, running["ours-predictor"]],
        f"{t.url}/metrics",
    )

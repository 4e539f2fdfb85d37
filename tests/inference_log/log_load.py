"""A process that logs inference records under load until SIGTERM, like a serving process.

``python -m tests.inference_log.log_load DB_URL SPILL_DIR COUNT_FILE``: submits batches of 10
records as fast as it can; SIGTERM stops the loop (a server stops accepting requests), then the
process exits normally and the writer's exit hook flushes. COUNT_FILE receives the number of
records whose ``submit`` returned (the "successful responses").
"""

from __future__ import annotations

import signal
import sys
import time
import uuid
from pathlib import Path
from types import FrameType

import numpy as np

from credit_scoring.features import feature_names
from inference_log import ApplicantHasher, InferenceLogWriter, Role, records_from_batch


def main() -> None:
    url, spill_dir, count_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    stop = False

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    writer = InferenceLogWriter(url, spill_dir, batch_size=200, flush_interval=0.2).start()
    hasher = ApplicantHasher(b"load-test-key-0123456789")
    rng = np.random.default_rng(7)
    submitted = 0
    (count_file.parent / "started").write_text("1")
    while not stop:
        matrix = rng.uniform(0, 100, size=(10, len(feature_names()))).astype(np.float32)
        records = records_from_batch(
            request_id=uuid.uuid4().hex,
            applicant_ids=[f"a{i}" for i in range(10)],
            hasher=hasher,
            matrix=matrix,
            pd=rng.uniform(0, 1, 10),
            score=rng.uniform(500, 700, 10),
            decisions=["approve"] * 10,
            risk_bands=None,
            reason_codes=[[]] * 10,
            thin_file=[False] * 10,
            model_name="credit-risk",
            model_version="1",
            model_alias="champion",
            role=Role.CHAMPION,
            latency_ms=1.0,
        )
        writer.submit(records)
        submitted += len(records)
        time.sleep(0.001)
    count_file.write_text(str(submitted))
    # No explicit close: the exit hook must do it, as it does in a server stopped by SIGTERM.


if __name__ == "__main__":
    main()

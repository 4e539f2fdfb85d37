"""Spill full, on a running transformer under steady load: the inference-log database goes down,
records spill until the spill directory reaches its cap (CREDIT_INFERENCE_LOG_SPILL_MAX_BYTES),
then new records are dropped and counted while clients keep getting their answers; when the
database is back the spill is replayed exactly once. The log then holds every answered
application except those counted dropped, and no duplicates."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import PostgresServer
from tests.monitoring.conftest import restart_postgres
from tests.monitoring.test_log_durability_live import FAST_LOG, Load, count_rows
from tests.servers import eventually
from tests.transformer.conftest import Launcher, Server

CAP = 200_000  # bytes: a few hundred records (~0.8 kB each), reached within seconds under the load below
# The writer spills what it took from the queue as one batch, and a batch that would take the spill
# beyond the cap is refused whole; with the default 5,000 records a batch (megabytes) every batch
# would be beyond this tiny cap, so the writer takes 20 at a time here, far below it, as 5,000 are
# far below the real 512 MiB. (At 50 a batch, ~42 kB, a 60 kB cap held one batch: flaky in CI.)
BATCH = 20
SMALL_BATCHES = {"inference_log_batch_size": str(BATCH)}


def test_a_full_spill_drops_and_counts_and_clients_never_notice(
    launcher: Launcher, private_postgres: PostgresServer, credit_env, tmp_path: Path
):
    url = private_postgres.url(private_postgres.create_database())
    predictor = launcher.predictor()
    transformer: Server = launcher.transformer(
        predictor, inference_log_url=url, inference_log_spill_max_bytes=str(CAP), **FAST_LOG, **SMALL_BATCHES
    )
    metric = transformer.metric
    assert metric("credit_inference_log_spill_max_bytes") == CAP
    with Load(transformer, credit_env.applicant_ids, clients=2) as load:
        eventually(lambda: load.answered > 100, 120, "under load")
        private_postgres.stop()
        eventually(
            lambda: metric("credit_inference_log_records_total", outcome="dropped") > 50, 120, "dropping"
        )
        before = load.answered
        eventually(lambda: load.answered > before + 100, 60, "answering with the spill full")
        held = metric("credit_inference_log_spill_bytes")
        spilled = metric("credit_inference_log_records_total", outcome="spilled")
        assert 0 < held <= CAP
        # Full means full: a batch was refused because it did not fit, so the room left is less
        # than one batch (twice the mean record size: approvals and declines differ in length).
        assert CAP - held < 2 * BATCH * held / spilled, (held, spilled)
        restart_postgres(private_postgres, tmp_path / "pg-restart")
        eventually(
            lambda: metric("credit_inference_log_records_total", outcome="replayed") > 0, 60, "replaying"
        )
    assert load.failed == 0  # the clients never saw the outage nor the full spill
    dropped = metric("credit_inference_log_records_total", outcome="dropped")
    eventually(lambda: count_rows(url) == load.answered - dropped, 60, "every record not dropped in the log")
    time.sleep(1.0)
    assert count_rows(url) == load.answered - dropped  # and no more (no duplicates from the replay)
    assert metric("credit_inference_log_records_total", outcome="replayed") == metric(
        "credit_inference_log_records_total", outcome="spilled"
    )
    assert metric("credit_inference_log_spill_bytes") == 0  # replayed: room again
    log = transformer.log()
    assert "inference log spill full" in log
    assert log.count("inference log spill full") < 20  # one line per 10 s, not one per batch
    print(f"{load.answered} answered, {dropped:.0f} dropped at the {CAP}-byte cap, the rest logged once")

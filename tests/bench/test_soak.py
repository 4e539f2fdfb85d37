"""``make soak``'s run, short: a steady rate against the real predictor and transformer (started
as ``make bench`` starts them) gives zero errors, and the result has its shape."""

from __future__ import annotations

import json

from bench.environment import BenchEnv
from bench.servers import TRANSFORMERS, Servers
from bench.settings import BenchSettings
from bench.soak import PATH, main, soak
from cli.stack.supervisor import LOCALHOST, ProcessGroup

SECONDS = 30.0


def test_a_short_soak_has_zero_errors(bench_env: BenchEnv, tmp_path):
    settings = BenchSettings()
    with ProcessGroup(tmp_path / "logs", ready_timeout=240).running() as procs:
        servers = Servers(procs, settings, tmp_path, print)
        servers.start_ours(bench_env, None)
        transformer = servers.running[TRANSFORMERS["sqlite"]]
        pids = {p.name: p.pid for p in procs.processes}
        result = soak(
            f"http://{LOCALHOST}:{transformer.port}{PATH}",
            bench_env.workload.applications,
            pids,
            seconds=SECONDS,
            rate=20.0,
            window=5.0,
            warmup=10.0,
            headers={"x-api-key": servers.api_key},
        )
    assert result.errors == 0, result.error_kinds
    assert result.requests >= 0.8 * SECONDS * 20.0  # the rate was kept (loosely: a shared machine)
    assert len(result.windows) >= 5
    assert set(result.rss) == set(pids)
    assert all(r["end_mb"] > 0 for r in result.rss.values())
    json.dumps(result.as_dict())


def test_arguments_are_bounded(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--seconds", "0"])
    assert "--seconds must be within" in capsys.readouterr().err

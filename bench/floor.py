"""The floor: the scoring work in one process, without HTTP, timed stage by stage.

Per application (1 row) and per batch (``batch_size`` rows), the same steps the served path takes:
validate the JSON request with the shared schema, read the features with the transformer's own
``OnlineFeatures`` (one pipelined Redis round trip, Feast's on-demand UDF, the model matrix),
predict margins with a 1-thread booster, score and decide with the model version's policy,
exact TreeSHAP contributions only for the refer/decline rows (the predictor's look-up tables when
they apply to this model, else XGBoost's ``pred_contribs``) and their top reasons, and the JSON
answer. What HTTP, the transformer->predictor hop and the servers' frameworks add on top is the
difference between these numbers and the served ones.

Also timed, for reference: the single calls the issue lists (1-row predict, TreeSHAP, Feast's
``get_online_features``, a Redis round trip), the two online-feature readers the transformer can
use (``profiles_direct_*``: the pipelined Redis read, the default; ``profiles_feast_async_*``:
Feast's ``get_online_features_async``) for 1 and ``batch_size`` applicants, and the two ways to
compute the derived ratios (Feast's on-demand view vs the function it wraps).
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import io
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from bench.environment import BenchEnv
from credit_scoring.features import derive, feature_names, feature_types
from credit_scoring.policy import NEEDS_REASONS, Decision, thin_file
from credit_scoring.reasons import top_reasons
from credit_scoring.schema import parse_applications

__all__ = ["STAGES", "FloorResult", "measure_floor"]

STAGES = ("validate", "features", "predict", "decide", "reasons", "answer")
_NAMES = feature_names()
_TYPES = feature_types()


@dataclass
class FloorResult:
    single_us: dict[str, float]
    """Mean microseconds per stage, one application per call (slowest 1% of calls left out)."""
    batch_us: dict[str, float]
    """Median microseconds per stage, one batch per call."""
    batch_size: int
    reasons_method: str
    """How the floor computed contributions: the predictor's tables or XGBoost's pred_contribs."""
    adverse_share: float
    """Share of the workload's applications that are refer/decline (they need TreeSHAP)."""
    thin_share: float
    reference_us: dict[str, float]
    profile: list[dict[str, Any]]
    """cProfile of the single-application loop: the top functions by own time."""


class _Pipeline:
    """The scoring steps, each timed on its own."""

    def __init__(self, env: BenchEnv, features: Any) -> None:
        import xgboost as xgb

        self.xgb = xgb
        self.features = features
        self.policy = env.policy
        self.booster = xgb.Booster(model_file=str(env.model.booster_file))
        self.booster.set_param({"nthread": 1})  # one application never needs more than one thread
        self.tables, self.reasons_method = self._tables()

    def _tables(self) -> tuple[Any, str]:
        """The predictor's exact TreeSHAP tables when they cover this model (its own code, read
        only); XGBoost's pred_contribs otherwise."""
        try:
            from predictor import treeshap

            bias = float(
                self.booster.predict(self.dmatrix(np.full((1, len(_NAMES)), np.nan)), pred_contribs=True)[
                    0, -1
                ]
            )
            tables = treeshap.build(self.booster, bias)
        except (ImportError, AttributeError, TypeError, ValueError):
            tables = None
        if tables is None:
            return None, "xgboost pred_contribs"
        return tables, "TreeSHAP tables (predictor/treeshap.py)"

    def dmatrix(self, matrix: np.ndarray) -> Any:
        return self.xgb.DMatrix(
            matrix,
            missing=np.nan,
            feature_names=_NAMES,
            feature_types=_TYPES,
            enable_categorical=True,
            nthread=1,  # XGBoost's default (all cores) spins OpenMP threads: ms on a shared machine
        )

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        if self.tables is not None:
            return np.asarray(self.tables.contributions(matrix))
        return np.asarray(self.booster.predict(self.dmatrix(matrix), pred_contribs=True))

    async def run(self, body: bytes, timings: dict[str, list[float]] | None) -> bytes:
        clock = time.perf_counter_ns
        t0 = clock()
        apps = parse_applications(orjson.loads(body)["instances"], 100_000)
        t1 = clock()
        batch = await self.features.lookup(apps)
        t2 = clock()
        margin = self.booster.inplace_predict(batch.matrix, predict_type="margin").astype(np.float64)
        pd = 1.0 / (1.0 + np.exp(-margin))
        t3 = clock()
        thin = thin_file(batch.has_profile)
        score = self.policy.scale.score_from_margin(margin)
        decisions = self.policy.decide(score, thin)
        bands = self.policy.band(score)
        t4 = clock()
        adverse = [i for i, d in enumerate(decisions) if d in NEEDS_REASONS]
        reasons: dict[int, list[dict[str, object]]] = {}
        if adverse:
            contribs = self.contributions(batch.matrix[adverse])
            for row, i in enumerate(adverse):
                top = top_reasons(contribs[row, :-1], _NAMES, self.policy.max_reasons)
                reasons[i] = [r.as_dict() for r in top]
        t5 = clock()
        pds, scores = pd.tolist(), score.tolist()
        out = orjson.dumps(
            [
                {
                    "applicant_id": a.applicant_id,
                    "pd": pds[i],
                    "score": scores[i],
                    "risk_band": bands[i],
                    "decision": decisions[i].value,
                    "reasons": reasons.get(i, []),
                    "thin_file": bool(thin[i]),
                }
                for i, a in enumerate(apps)
            ]
        )
        t6 = clock()
        if timings is not None:
            marks = (t0, t1, t2, t3, t4, t5, t6)
            for k, stage in enumerate(STAGES):
                timings[stage].append((marks[k + 1] - marks[k]) / 1000.0)
        return out

    def decisions(self, matrix: np.ndarray, thin: np.ndarray) -> list[Decision]:
        margin = self.booster.inplace_predict(matrix, predict_type="margin").astype(np.float64)
        return self.policy.decide(self.policy.scale.score_from_margin(margin), thin)


def _median_us(samples: list[float]) -> float:
    return round(statistics.median(samples), 1) if samples else float("nan")


def _trimmed_mean_us(samples: list[float]) -> float:
    """Mean without the slowest 1%: what throughput depends on (a stage that runs for some
    applications only, like reasons, has a median near zero), without the machine's hiccups."""
    if not samples:
        return float("nan")
    kept = sorted(samples)[: max(1, int(len(samples) * 0.99))]
    return round(sum(kept) / len(kept), 1)


def _time(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    return _median_us(samples)


async def _time_async(fn: Callable[[], Any], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        await fn()
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    return _median_us(samples)


async def reader_timings(store: Any, ids: list[str], sizes: tuple[int, ...] = (1, 1000)) -> dict[str, float]:
    """Both profile readers on the same applicants: median µs per read of ``size`` applicants."""
    from transformer.feast_read import FeastProfileReader
    from transformer.online_features import ProfileReader, ServiceLayout
    from transformer.redis_read import RedisProfileReader

    layout = ServiceLayout.resolve(store, "credit_model_v1")
    readers: dict[str, ProfileReader] = {
        "direct": RedisProfileReader.from_store(store, layout),
        "feast_async": FeastProfileReader(store, layout),
    }
    out: dict[str, float] = {}
    try:
        for size in sizes:
            batch = (ids * (size // max(len(ids), 1) + 1))[:size]
            for kind, reader in readers.items():
                await reader.read(batch)  # warm: connections, value caches, Feast's registry cache
                out[f"profiles_{kind}_{size}"] = await _time_async(
                    functools.partial(reader.read, batch), 200 if size == 1 else 10
                )
    finally:
        for reader in readers.values():
            await reader.close()
    return out


def _profile_rows(profiler: cProfile.Profile, limit: int = 15) -> list[dict[str, Any]]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]  # untyped in typeshed
    for (filename, line, name), (_, calls, tottime, cumtime, _) in raw.items():
        rows.append(
            {
                "function": f"{_short_path(filename)}:{line}({name})",
                "calls": calls,
                "own_ms": round(tottime * 1000, 2),
                "cumulative_ms": round(cumtime * 1000, 2),
            }
        )
    rows.sort(key=lambda r: r["own_ms"], reverse=True)
    total = sum(r["own_ms"] for r in rows) or 1.0
    for r in rows:
        r["own_share"] = round(r["own_ms"] / total, 3)
    return rows[:limit]


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


async def _measure(env: BenchEnv, *, rows: int, batches: int, batch_size: int, profile: bool) -> FloorResult:
    from transformer.online_features import OnlineFeatures

    features = OnlineFeatures.from_repo(
        env.feature_repo, env.feature_store_config, "credit_model_v1", read="direct"
    )
    try:
        pipe = _Pipeline(env, features)
        apps = env.workload.applications
        singles = [orjson.dumps({"instances": [a]}) for a in apps]
        for body in singles[:50]:  # warm: connections, value caches, XGBoost's first call
            await pipe.run(body, None)
        single: dict[str, list[float]] = {s: [] for s in STAGES}
        for k in range(rows):
            await pipe.run(singles[k % len(singles)], single)
        batch: dict[str, list[float]] = {s: [] for s in STAGES}
        size = min(batch_size, len(apps))
        doubled = apps * 2
        bodies = [orjson.dumps({"instances": doubled[k * 97 : k * 97 + size]}) for k in range(batches)]
        await pipe.run(bodies[0], None)
        for body in bodies:
            await pipe.run(body, batch)

        whole = await features.lookup(parse_applications(apps, len(apps)))
        decisions = pipe.decisions(whole.matrix, thin_file(whole.has_profile))
        adverse_share = sum(d in NEEDS_REASONS for d in decisions) / len(decisions)
        reference = await _reference(env, pipe, whole.matrix, features)
        cprofile: list[dict[str, Any]] = []
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for k in range(min(rows, 300)):
                await pipe.run(singles[k % len(singles)], None)
            profiler.disable()
            cprofile = _profile_rows(profiler)
        return FloorResult(
            single_us={s: _trimmed_mean_us(v) for s, v in single.items()},
            batch_us={s: _median_us(v) for s, v in batch.items()},
            batch_size=size,
            reasons_method=pipe.reasons_method,
            adverse_share=round(adverse_share, 3),
            thin_share=round(float(thin_file(whole.has_profile).mean()), 3),
            reference_us=reference,
            profile=cprofile,
        )
    finally:
        await features.close()


async def _reference(env: BenchEnv, pipe: _Pipeline, matrix: np.ndarray, features: Any) -> dict[str, float]:
    """Single calls, on this machine now: what each part costs on its own."""
    import redis

    from feature_store import open_store

    one, big = matrix[:1], matrix[: min(1000, len(matrix))]
    dm_one, dm_big = pipe.dmatrix(one), pipe.dmatrix(big)
    store = open_store(env.feature_store_config, env.feature_repo)
    service = store.get_feature_service("credit_model_v1")
    odfv = store.get_on_demand_feature_view("application_ratios")
    apps = env.workload.applications
    rows_one = [dict(apps[0])]
    rows_big = [dict(a) for a in apps[: len(big)]]
    # What the transformer hands the on-demand view for one application (profile + request fields).
    columns = dict((await features.lookup(parse_applications(apps[:1], 1))).columns)
    client = redis.Redis(host="127.0.0.1", port=env.redis_port)
    out = {
        "booster_predict_1_row": _time(lambda: pipe.booster.inplace_predict(one), 200),
        "xgboost_treeshap_1_row": _time(lambda: pipe.booster.predict(dm_one, pred_contribs=True), 100),
        f"xgboost_treeshap_{len(big)}_rows": _time(
            lambda: pipe.booster.predict(dm_big, pred_contribs=True), 3
        ),
        "redis_ping_round_trip": _time(client.ping, 200),
        "feast_get_online_features_1": _time(
            lambda: store.get_online_features(features=service, entity_rows=rows_one).to_dict(), 50
        ),
        f"feast_get_online_features_{len(rows_big)}": _time(
            lambda: store.get_online_features(features=service, entity_rows=rows_big).to_dict(), 3
        ),
        "feast_odfv_transform_dict_1": _time(lambda: odfv.transform_dict(columns), 200),
        "derive_1 (the function the ODFV wraps)": _time(lambda: derive(columns), 200),
    }
    if pipe.tables is not None:
        out["tables_treeshap_1_row"] = _time(lambda: pipe.tables.contributions(one), 100)
        out[f"tables_treeshap_{len(big)}_rows"] = _time(lambda: pipe.tables.contributions(big), 5)
    out.update(await reader_timings(store, [a["applicant_id"] for a in apps], (1, len(big))))
    client.close()
    return out


def measure_floor(
    env: BenchEnv, *, rows: int, batches: int, batch_size: int, profile: bool = True
) -> FloorResult:
    return asyncio.run(_measure(env, rows=rows, batches=batches, batch_size=batch_size, profile=profile))

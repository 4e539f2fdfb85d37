"""The floor: the scoring work in one process, without HTTP, timed stage by stage.

Per application (1 row) and per batch (``batch_size`` rows), the same steps the served path takes:
validate the JSON request with the shared schema, read the features with the transformer's own
``OnlineFeatures`` (one pipelined Redis round trip, Feast's on-demand UDF, the model matrix),
predict margins with a 1-thread booster, score and decide with the model version's policy,
exact TreeSHAP contributions only for the refer/decline rows and their top reasons, and the
JSON answer. What HTTP, the transformer->predictor hop and the servers' frameworks add on top
is the difference between these numbers and the served ones.

Also timed for reference: Feast's own ``get_online_features`` (what the direct read replaces) and
the single calls the issue lists (1-row predict, 1-row TreeSHAP).
"""

from __future__ import annotations

import asyncio
import cProfile
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
from credit_scoring.features import feature_names, feature_types
from credit_scoring.reasons import top_reasons
from credit_scoring.scaling import Decision
from credit_scoring.schema import parse_applications

__all__ = ["STAGES", "FloorResult", "measure_floor"]

STAGES = ("validate", "features", "predict", "decide", "reasons", "answer")
_ADVERSE = (Decision.REFER, Decision.DECLINE)
_NAMES = feature_names()
_TYPES = feature_types()


@dataclass
class FloorResult:
    single_us: dict[str, float]
    """Median microseconds per stage, one application per call."""
    batch_us: dict[str, float]
    """Median microseconds per stage, one batch per call."""
    batch_size: int
    adverse_share: float
    """Share of the workload's applications that are refer/decline (they need TreeSHAP)."""
    thin_share: float
    reference_us: dict[str, float]
    profile: list[dict[str, Any]]
    """cProfile of the single-application loop: the top functions by own time."""


class _Pipeline:
    """The scoring steps, each a small function so they can be timed one by one."""

    def __init__(self, env: BenchEnv, features: Any) -> None:
        import xgboost as xgb

        self.xgb = xgb
        self.features = features
        self.policy = env.policy
        self.booster = xgb.Booster(model_file=str(env.model.booster_file))
        self.booster.set_param({"nthread": 1})  # one application never needs more than one thread

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
        thin = ~batch.found
        score = self.policy.scale.score_from_margin(margin)
        decisions = self.policy.decide(score, thin)
        bands = self.policy.band(score)
        t4 = clock()
        adverse = [i for i, d in enumerate(decisions) if d in _ADVERSE]
        reasons: dict[int, list[dict[str, object]]] = {}
        if adverse:
            contribs = self.booster.predict(self.dmatrix(batch.matrix[adverse]), pred_contribs=True)
            for row, i in enumerate(adverse):
                reasons[i] = [
                    r.as_dict() for r in top_reasons(contribs[row, :-1], _NAMES, self.policy.max_reasons)
                ]
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
            for stage, (a, b) in zip(
                STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)), strict=True
            ):
                timings[stage].append((b - a) / 1000.0)
        return out

    def dmatrix(self, matrix: np.ndarray) -> Any:
        return self.xgb.DMatrix(
            matrix,
            missing=np.nan,
            feature_names=_NAMES,
            feature_types=_TYPES,
            enable_categorical=True,
            nthread=1,  # XGBoost's default (all cores) spins OpenMP threads: ms on a shared machine
        )

    def decisions(self, matrix: np.ndarray, thin: np.ndarray) -> list[Decision]:
        margin = self.booster.inplace_predict(matrix, predict_type="margin").astype(np.float64)
        return self.policy.decide(self.policy.scale.score_from_margin(margin), thin)


def _median_us(samples: list[float]) -> float:
    return round(statistics.median(samples), 1) if samples else float("nan")


def _time(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    return _median_us(samples)


def _profile_rows(profiler: cProfile.Profile, limit: int = 15) -> list[dict[str, Any]]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
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
        bodies = [orjson.dumps({"instances": (apps * 2)[k * 97 : k * 97 + size]}) for k in range(batches)]
        await pipe.run(bodies[0], None)
        for body in bodies:
            await pipe.run(body, batch)

        whole = await features.lookup(parse_applications(apps, len(apps)))
        decisions = pipe.decisions(whole.matrix, ~whole.found)
        adverse_share = sum(d in _ADVERSE for d in decisions) / len(decisions)
        thin_share = float((~whole.found).mean())

        reference = _reference(env, pipe, whole.matrix)
        cprofile: list[dict[str, Any]] = []
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for k in range(min(rows, 300)):
                await pipe.run(singles[k % len(singles)], None)
            profiler.disable()
            cprofile = _profile_rows(profiler)
        return FloorResult(
            single_us={s: _median_us(v) for s, v in single.items()},
            batch_us={s: _median_us(v) for s, v in batch.items()},
            batch_size=size,
            adverse_share=round(adverse_share, 3),
            thin_share=round(thin_share, 3),
            reference_us=reference,
            profile=cprofile,
        )
    finally:
        await features.close()


def _reference(env: BenchEnv, pipe: _Pipeline, matrix: np.ndarray) -> dict[str, float]:
    """The single calls the issue lists, on this machine now."""
    from credit_scoring.feature_store import open_store

    one = matrix[:1]
    dm_one = pipe.dmatrix(one)
    big = matrix[: min(1000, len(matrix))]
    dm_big = pipe.dmatrix(big)
    store = open_store(env.feature_store_config, env.feature_repo)
    service = store.get_feature_service("credit_model_v1")
    ids = [a["applicant_id"] for a in env.workload.applications]
    extra = {k: [a[k] for a in env.workload.applications[:1]] for k in ("amount", "price", "term")}
    extra_big = {k: [a[k] for a in env.workload.applications[:1000]] for k in ("amount", "price", "term")}

    def feast_one() -> object:
        return store.get_online_features(
            features=service, entity_rows=[{"applicant_id": ids[0], **{k: v[0] for k, v in extra.items()}}]
        ).to_dict()

    def feast_big() -> object:
        rows = [
            {"applicant_id": ids[i], **{k: v[i] for k, v in extra_big.items()}}
            for i in range(len(extra_big["amount"]))
        ]
        return store.get_online_features(features=service, entity_rows=rows).to_dict()

    feast_one()
    return {
        "booster_predict_1_row": _time(lambda: pipe.booster.inplace_predict(one), 200),
        "treeshap_1_row": _time(lambda: pipe.booster.predict(dm_one, pred_contribs=True), 100),
        f"treeshap_{len(big)}_rows": _time(lambda: pipe.booster.predict(dm_big, pred_contribs=True), 3),
        "feast_get_online_features_1": _time(feast_one, 50),
        f"feast_get_online_features_{len(extra_big['amount'])}": _time(feast_big, 3),
    }


def measure_floor(
    env: BenchEnv, *, rows: int, batches: int, batch_size: int, profile: bool = True
) -> FloorResult:
    return asyncio.run(_measure(env, rows=rows, batches=batches, batch_size=batch_size, profile=profile))

"""The batch-filled score histogram exposes what prometheus_client's own Histogram would."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

from transformer.metrics import ScoreHistogram

BUCKETS = tuple(float(s) for s in range(350, 901, 25))


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_batches_fill_the_same_buckets_count_and_sum_as_observing_one_by_one():
    rng = np.random.default_rng(1)
    # Values on the bounds (le is inclusive), below the first and above the last bucket.
    batches = [
        [350.0, 375.0, 900.0, 349.9, 900.1, 1200.0, 100.0],
        rng.uniform(300, 950, 1000).round(2).tolist(),
        rng.uniform(500, 700, 10).tolist(),
    ]
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram(
        "credit_score", "Scores given, by model version.", ["model_version"], buckets=BUCKETS, registry=theirs
    )
    batched = ScoreHistogram("credit_score", "Scores given, by model version.", BUCKETS)
    ours.register(batched)
    for version, batch in zip(["1", "2", "1"], batches, strict=True):
        for value in batch:
            histogram.labels(model_version=version).observe(value)
        batched.observe_many(version, batch)
    expected, got = _samples(theirs), _samples(ours)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert np.isclose(got[key], value, rtol=1e-12), key
    assert got[("credit_score_count", (("model_version", "1"),))] == 17

"""The split router's hash: exact share, sticky, monotone, the same in every process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformer.routing import BUCKETS, bucket, challenger_rows

IDS = [f"applicant-{i:05d}" for i in range(10_000)]


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 75, 90])
def test_share_of_10000_applicants_is_within_one_point(percent: int):
    share = challenger_rows(IDS, percent, salt="1").mean() * 100
    assert abs(share - percent) <= 1.0, share


def test_share_is_unbiased_across_challenger_versions():
    """Sampling error, not a biased hash: over 40 versions the mean share is the setting, and the
    spread is the binomial one (sd = sqrt(p(1-p)/N), 0.5 points at 50% over 10,000)."""
    buckets = np.array([[bucket(a, str(version)) for a in IDS] for version in range(1, 41)])
    for percent in (10, 25, 50):
        shares = (buckets < percent).mean(axis=1) * 100
        expected_sd = 100 * np.sqrt(percent / 100 * (1 - percent / 100) / len(IDS))
        assert abs(shares.mean() - percent) < 3 * expected_sd / np.sqrt(len(shares)), shares.mean()
        assert shares.std() < 1.5 * expected_sd, (shares.std(), expected_sd)
        assert (np.abs(shares - percent) <= 1.0).mean() >= 0.9, shares


def test_buckets_are_uniform():
    counts = np.bincount([bucket(a, "3") for a in IDS], minlength=BUCKETS)
    expected = len(IDS) / BUCKETS
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 150, chi2  # 99 degrees of freedom: p < 0.001 above ~149


def test_same_applicant_same_side_every_time():
    first = challenger_rows(IDS, 30, salt="4")
    again = challenger_rows(list(reversed(IDS)), 30, salt="4")[::-1]
    assert (first == again).all()
    # One applicant alone, or inside any batch, gets the same side.
    for i in range(0, len(IDS), 997):
        assert challenger_rows([IDS[i]], 30, salt="4")[0] == first[i]


def test_raising_the_percentage_keeps_the_challengers_applicants():
    previous = challenger_rows(IDS, 0, salt="5")
    for percent in (1, 5, 10, 25, 50, 90, 100):
        now = challenger_rows(IDS, percent, salt="5")
        assert (now | ~previous).all(), f"an applicant left the challenger at {percent}%"
        assert now.sum() >= previous.sum()
        previous = now


def test_a_new_challenger_version_draws_a_new_sample():
    v3 = challenger_rows(IDS, 50, salt="3")
    v4 = challenger_rows(IDS, 50, salt="4")
    overlap = (v3 & v4).sum() / v3.sum()
    assert 0.45 < overlap < 0.55, overlap  # independent draws: about half of v3's are v4's too


def test_edges_need_no_salt_and_bad_percent_is_refused():
    assert not challenger_rows(IDS[:10], 0, salt="").any()
    assert challenger_rows(IDS[:10], 100, salt="").all()
    with pytest.raises(ValueError, match="0 to 100"):
        challenger_rows(IDS[:10], 101, salt="1")


def test_buckets_are_the_same_in_another_process():
    """Deterministic, not process-salted (PYTHONHASHSEED differs): every replica agrees."""
    sample = IDS[:200]
    code = (
        "import sys; from transformer.routing import bucket; "
        "print(','.join(str(bucket(a, '9')) for a in sys.stdin.read().split()))"
    )
    outputs = set()
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=" ".join(sample),
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[2],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        outputs.add(done.stdout.strip())
    assert outputs == {",".join(str(bucket(a, "9")) for a in sample)}

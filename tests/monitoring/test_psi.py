"""PSI on bins fixed by the reference (credit convention)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring.psi import EPSILON, FixedBins, psi


def test_psi_formula_by_hand():
    ref = np.array([0.5, 0.3, 0.2])
    cur = np.array([0.3, 0.3, 0.4])
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + 0 + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert psi(ref, cur) == pytest.approx(expected)
    assert psi(ref, ref) == 0.0


def test_empty_bin_is_floored_not_infinite():
    value = psi(np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2]))
    assert math.isfinite(value)
    assert value == pytest.approx(
        2 * (-0.1) * math.log(0.4 / 0.5) + (0.2 - EPSILON) * math.log(0.2 / EPSILON)
    )


def test_reference_deciles_are_the_bins():
    reference = np.arange(1, 1001, dtype=float)
    bins = FixedBins.numeric(reference)
    assert len(bins.edges or ()) == 9
    assert bins.reference_shares[:10] == pytest.approx([0.1] * 10)
    assert bins.reference_shares[10] == 0.0  # missing bin
    assert bins.psi(reference) == pytest.approx(0.0)


def test_bins_do_not_move_with_the_current_sample():
    """Everything above the reference's maximum falls in the last decile: a shift to the right
    concentrates mass there (large PSI), where joint binning would spread it out again."""
    rng = np.random.default_rng(0)
    reference = rng.normal(100, 10, 5000)
    bins = FixedBins.numeric(reference)
    shifted = reference + 40
    shares = bins.shares(shifted)
    assert shares[9] > 0.99
    assert bins.psi(shifted) > 2.0


def test_stable_sample_is_small_and_shift_is_large():
    rng = np.random.default_rng(1)
    reference = rng.lognormal(5, 0.5, 3000)
    bins = FixedBins.numeric(reference)
    assert bins.psi(rng.lognormal(5, 0.5, 1000)) < 0.05
    assert bins.psi(rng.lognormal(5, 0.5, 1000) * 0.6) > 0.25


def test_missing_values_have_their_own_bin():
    reference = np.array([1.0, 2.0, 3.0, 4.0] * 250)
    bins = FixedBins.numeric(reference)
    current = np.array([1.0, 2.0, np.nan, np.nan] * 250)
    assert bins.shares(current)[-1] == pytest.approx(0.5)
    assert bins.psi(current) > 0.25


def test_point_mass_gives_fewer_wider_bins():
    reference = np.r_[np.zeros(800), np.linspace(1, 1000, 200)]
    bins = FixedBins.numeric(reference)
    assert bins.edges is not None
    assert bins.edges[0] == 0.0
    assert len(bins.edges) < 9
    assert bins.reference_shares[0] == pytest.approx(0.8)


def test_categorical_levels_and_unseen_level():
    reference = np.array([0.0] * 600 + [1.0] * 300 + [2.0] * 100)
    bins = FixedBins.categorical(reference)
    assert bins.levels == (0.0, 1.0, 2.0)
    assert bins.labels == ["=0", "=1", "=2", "other", "missing"]
    assert bins.psi(reference) == pytest.approx(0.0)
    current = np.array([0.0] * 500 + [5.0] * 500)  # a level the reference never saw
    shares = bins.shares(current)
    assert shares[3] == pytest.approx(0.5)
    assert bins.psi(current) > 1.0


def test_all_missing_reference_does_not_crash():
    bins = FixedBins.numeric(np.full(10, np.nan))
    assert bins.psi(np.full(5, np.nan)) == pytest.approx(0.0)
    assert bins.psi(np.ones(5)) > 1.0

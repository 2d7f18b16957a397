"""RFM scores: ties, skew, the complete segment map and tiers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from crmhub.core.errors import InputError
from crmhub.plugins.scoring.models import rfm, segments


def test_equal_values_always_get_equal_scores() -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(0, 12, 5000).astype(float)
    scores = rfm.score(values)
    for v in np.unique(values):
        assert len(np.unique(scores[values == v])) == 1
    # And the scores never decrease with the value.
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(scores[order]) >= 0)


def test_continuous_values_give_quintiles() -> None:
    values = np.random.default_rng(2).gamma(2.0, 30.0, 10_000)
    counts = np.bincount(rfm.score(values), minlength=6)[1:]
    assert list(counts) == [2000] * 5


def test_recency_scores_recent_customers_higher() -> None:
    days = np.array([1, 5, 30, 90, 400, 400])
    r = rfm.score(days, higher_is_better=False)
    assert list(r) == [5, 4, 3, 2, 1, 1]


def test_skewed_frequency_still_spreads_over_all_scores() -> None:
    # Given: 80 % one-order customers, the rest with a geometric tail.
    rng = np.random.default_rng(3)
    n = 100_000
    orders = np.where(rng.random(n) < 0.8, 1, 1 + rng.geometric(0.4, n))
    # When
    f = rfm.score(orders)
    # Then: the one-order mass is one bin at the bottom; the rest spread over 2..5.
    assert np.all(f[orders == 1] == 1)
    counts = np.bincount(f, minlength=6)[1:]
    assert counts[0] == np.count_nonzero(orders == 1)
    assert np.all(counts[1:] > 0.02 * n)
    # Naive quintile cut points would put every repeat customer in the top bin or two.
    naive = np.unique(np.quantile(orders, [0.2, 0.4, 0.6, 0.8]))
    assert naive.size <= 2


def test_heavy_value_at_the_top_does_not_swallow_the_rest() -> None:
    values = np.r_[np.arange(10), np.full(40, 100)]
    b = rfm.fit_bins(values)
    assert list(b.scores) == [1, 2, 3, 4, 5]
    assert b.counts[-1] == 40


def test_few_distinct_values_spread_over_the_scale() -> None:
    assert list(rfm.score([1, 2, 2])) == [1, 5, 5]
    assert list(rfm.score([1, 2, 3])) == [1, 3, 5]
    assert list(rfm.score([7, 7, 7])) == [3, 3, 3]  # everybody equal: the middle score


def test_new_values_are_scored_against_learnt_cut_points() -> None:
    b = rfm.fit_bins(np.arange(100))
    assert list(b.score([-5, 0, 19, 20, 99, 1000])) == [1, 1, 1, 2, 5, 5]
    assert b.range_of(2) == (20.0, 39.0)
    r = rfm.fit_bins(np.arange(100), higher_is_better=False)
    assert r.range_of(5) == (0.0, 19.0)


@pytest.mark.parametrize("n_bins", [3, 4, 5, 6, 10])
def test_every_combination_lands_in_exactly_one_segment(n_bins: int) -> None:
    seen = set()
    for r, f, m in itertools.product(range(1, n_bins + 1), repeat=3):
        r5 = int(segments.to_grid5(r, n_bins))
        fm5 = int(segments.to_grid5(segments.fm_score(f, m), n_bins))
        owners = [name for name in segments.SEGMENTS if segments.in_segment(name, r5, fm5)]
        assert len(owners) == 1, (r, f, m, owners)
        assert rfm.rfm_segment(r, f, m, n_bins) == owners[0]
        seen.add(owners[0])
    if n_bins >= 5:
        assert seen == set(segments.SEGMENTS)


def test_all_125_combinations_on_the_default_grid() -> None:
    combos = np.array(list(itertools.product(range(1, 6), repeat=3)))
    codes = segments.segment_codes(combos[:, 0], combos[:, 1], combos[:, 2])
    assert codes.shape == (125,)
    assert np.all((codes >= 0) & (codes < len(segments.SEGMENTS)))
    assert rfm.rfm_segment(5, 5, 5) == "Champions"
    assert rfm.rfm_segment(5, 1, 1) == "New"
    assert rfm.rfm_segment(1, 1, 1) == "Lost"
    assert rfm.rfm_segment(1, 5, 5) == "Can't Lose Them"


def test_every_segment_has_a_tier() -> None:
    assert set(segments.TIERS) == set(segments.SEGMENTS)
    assert set(segments.TIERS.values()) == {"core", "potential", "ordinary", "churned"}
    assert rfm.tier_of("Champions") == "core"
    with pytest.raises(InputError):
        rfm.tier_of("Sleeping Beauty")


def test_rfm_scores_vectorised_segments_tiers_and_explanation() -> None:
    days = np.array([6, 200, 30, 400])
    orders = np.array([1, 9, 3, 1])
    spend = np.array([20.0, 900.0, 120.0, 15.0])
    s = rfm.rfm_scores(days, orders, spend)
    assert list(s.segment) == [
        rfm.rfm_segment(int(r), int(f), int(m)) for r, f, m in zip(s.r, s.f, s.m)
    ]
    assert list(s.tier) == [rfm.tier_of(name) for name in s.segment]
    text = rfm.explain_rfm(s, 0, days[0], orders[0], spend[0])
    assert text.startswith("R=5 because last order 6 days ago (R=5: 6-6 days)")
    assert "F=1 because 1 order" in text


def test_docs_table_matches_the_code() -> None:
    from pathlib import Path

    doc = Path(__file__).parents[3] / "docs" / "scoring.md"
    text = doc.read_text(encoding="utf-8")
    for r5 in range(5, 0, -1):
        row = [segments.SEGMENTS[segments.GRID[r5, fm5]] for fm5 in range(1, 6)]
        assert f"| **R={r5}** | " + " | ".join(row) + " |" in text

"""Summaries from transactions, and collapsing identical customers into weighted rows."""

from __future__ import annotations

import numpy as np
import pytest

from crmhub.core.errors import InputError
from crmhub.plugins.scoring.models import bgnbd, gamma_gamma, mbgnbd, pareto_nbd, simulate, summary


def test_same_day_orders_are_one_purchase_and_later_orders_are_cut() -> None:
    s = summary.summarize(
        ["b", "a", "a", "a", "a", "b", "c"],
        np.array(
            [
                "2025-01-10T09:00",
                "2025-01-01T08:00",
                "2025-01-01T20:00",
                "2025-01-08",
                "2025-01-15",
                "2025-02-01",
                "2025-02-01",
            ],
            dtype="datetime64[s]",
        ),
        [5.0, 10.0, 15.0, 30.0, 50.0, 7.0, 1.0],
        calibration_end="2025-01-15",
        time_unit="days",
    )
    assert list(s.customer) == ["a", "b"]  # "c" starts after the end; b's 2nd order is cut
    assert list(s.x) == [2, 0]
    assert list(s.t_x) == [14, 0]
    assert list(s.T) == [14, 5]
    assert list(s.monetary) == [40.0, 0.0]  # repeat purchases only: (30 + 50) / 2
    assert list(s.days_since_last) == [0, 5]
    assert s.first[0] == np.datetime64("2025-01-01")


def test_weeks_are_days_over_seven() -> None:
    days = summary.summarize(
        [1, 1], ["2025-01-01", "2025-01-11"], calibration_end="2025-01-15", time_unit="days"
    )
    weeks = summary.summarize(
        [1, 1], ["2025-01-01", "2025-01-11"], calibration_end="2025-01-15", time_unit="weeks"
    )
    assert weeks.t_x[0] == pytest.approx(days.t_x[0] / 7)
    assert weeks.T[0] == pytest.approx(days.T[0] / 7)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InputError):
        summary.summarize([1], ["2025-01-01"], calibration_end="2024-01-01")
    with pytest.raises(InputError):
        summary.summarize([1, 2], ["2025-01-01"], calibration_end="2025-02-01")
    with pytest.raises(InputError):
        summary.summarize(
            [1],
            ["2025-01-01"],
            calibration_end="2025-02-01",
            time_unit="months",  # type: ignore[arg-type]
        )
    with pytest.raises(InputError):
        bgnbd.fit([1, 0], [5, 0], [4, 3])  # t_x > T


def test_summary_of_simulated_transactions_matches_the_simulation() -> None:
    sim = simulate.bgnbd(5000, (0.243, 4.414, 0.793, 2.426), np.full(5000, 39.0), seed=3)
    tx = simulate.transactions(sim, (6.25, 3.74, 15.44), calibration_end="1997-09-30", seed=4)
    s = summary.summarize(tx.customer, tx.when, tx.amount, calibration_end="1997-09-30")
    assert len(s) == 5000
    assert np.all(s.T == 39.0)
    # Purchases on the same day merge, and times round to whole days.
    assert np.all(s.x <= sim.x)
    assert np.mean(s.x == sim.x) > 0.97
    same = s.x == sim.x
    assert np.all(np.abs(s.t_x - sim.t_x)[same] <= 1 / 7 + 1e-9)


def test_collapse_weights_and_inverse(cdnow: summary.Summary) -> None:
    rows = summary.collapse(cdnow.x, cdnow.t_x, cdnow.T)
    assert rows.weight.sum() == len(cdnow)
    assert len(rows.x) < len(cdnow) / 2
    np.testing.assert_array_equal(rows.x[rows.inverse], cdnow.x)
    np.testing.assert_array_equal(rows.t_x[rows.inverse], cdnow.t_x)
    np.testing.assert_array_equal(rows.T[rows.inverse], cdnow.T)


@pytest.mark.parametrize("model", [bgnbd, mbgnbd, pareto_nbd])
def test_collapsed_weighted_likelihood_equals_uncollapsed(cdnow: summary.Summary, model) -> None:
    rows = summary.collapse(cdnow.x, cdnow.t_x, cdnow.T)
    params = (0.3, 5.0, 0.8, 2.0) if model is not pareto_nbd else (0.55, 10.6, 0.6, 11.7)
    full = model.log_likelihood(cdnow.x, cdnow.t_x, cdnow.T, params)
    collapsed = model.log_likelihood(rows.x, rows.t_x, rows.T, params, weights=rows.weight)
    assert collapsed == pytest.approx(full, rel=1e-12)


def test_collapsed_fit_equals_uncollapsed_fit(cdnow: summary.Summary) -> None:
    rows = summary.collapse(cdnow.x, cdnow.t_x, cdnow.T)
    full = bgnbd.fit(cdnow.x, cdnow.t_x, cdnow.T)
    collapsed = bgnbd.fit(rows.x, rows.t_x, rows.T, rows.weight)
    np.testing.assert_allclose(collapsed.params, full.params, rtol=1e-6)
    assert collapsed.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-12)
    assert collapsed.n == full.n


def test_gamma_gamma_weights_count_rows(cdnow: summary.Summary) -> None:
    params = (6.25, 3.74, 15.44)
    doubled = np.concatenate([cdnow.x, cdnow.x]), np.concatenate([cdnow.monetary, cdnow.monetary])
    assert gamma_gamma.log_likelihood(
        cdnow.x, cdnow.monetary, params, weights=np.full(len(cdnow), 2.0)
    ) == pytest.approx(gamma_gamma.log_likelihood(*doubled, params), rel=1e-12)

"""Churn risk, health score and the small-shop heuristics."""

from __future__ import annotations

import numpy as np
import pytest

from crmhub.core.errors import InputError
from crmhub.plugins.scoring.models import bgnbd, churn, health, heuristics, mbgnbd, summary


def test_usual_gap_shrinks_towards_the_shop_gap() -> None:
    gap = churn.usual_gap([0, 1, 9], [0, 10, 90], shop_gap_days=30)
    assert list(gap) == [30, 20, 12]


def test_shop_gap_is_the_median_own_gap() -> None:
    assert churn.shop_gap([0, 1, 2, 4], [0, 10, 40, 200]) == 20
    assert churn.shop_gap([0, 0], [0, 0]) == churn.DEFAULT_GAP_DAYS


def test_overdue_squash_points() -> None:
    assert list(churn.overdue_score([0, 1, 2, 4])) == pytest.approx([0, 0.2, 0.5, 0.8])


def test_churn_risk_blends_model_and_overdue() -> None:
    c = churn.churn_risk([0.9, 0.2], [2, 2], [60, 60], [10, 90], shop_gap_days=30)
    # usual gap (60 + 30) / 3 = 30 days; overdue ratios 1/3 and 3.
    assert list(c.usual_gap_days) == [30, 30]
    assert c.overdue_ratio == pytest.approx([1 / 3, 3])
    expected = 0.5 * (1 - np.array([0.9, 0.2])) + 0.5 * churn.overdue_score([1 / 3, 3])
    assert c.risk == pytest.approx(expected)
    assert "P(alive) 0.90" in churn.explain_churn(c, 0)
    assert "last order 90 days ago, 3.0x the usual gap of 30 days" in churn.explain_churn(c, 1)


def test_one_order_customers_use_the_shop_gap_and_bgnbd_gives_them_no_model_risk(cdnow) -> None:
    days = summary.DAYS_PER_UNIT["weeks"]
    x, t_x, silent = cdnow.x, cdnow.t_x * days, (cdnow.T - cdnow.t_x) * days
    bg = bgnbd.fit(cdnow.x, cdnow.t_x, cdnow.T)
    mbg = mbgnbd.fit(cdnow.x, cdnow.t_x, cdnow.T)
    one = x == 0
    with_bg = churn.churn_risk(bg.p_alive(cdnow.x, cdnow.t_x, cdnow.T), x, t_x, silent)
    with_mbg = churn.churn_risk(
        mbg.p_alive(cdnow.x, cdnow.t_x, cdnow.T), x, t_x, silent, model="MBG/NBD"
    )
    assert np.all(with_bg.usual_gap_days[one] == with_bg.shop_gap_days)
    # BG/NBD: P(alive) = 1, so one-order customers' risk is at most the overdue weight.
    assert np.all(with_bg.risk[one] <= 0.5)
    assert np.all(with_mbg.risk[one] > with_bg.risk[one])


def test_churn_without_a_model_is_the_overdue_part() -> None:
    c = churn.churn_risk(None, [1], [20], [40], shop_gap_days=20)
    assert c.risk[0] == pytest.approx(float(churn.overdue_score(2.0)))
    assert "P(alive)" not in churn.explain_churn(c, 0)
    with pytest.raises(InputError):
        churn.churn_risk(None, [1], [20], [40], model_weight=1.5)


def test_health_weights_bands_and_missing_components() -> None:
    h = health.health(
        [0, 0, 200],
        [30, 30, 30],
        orders_now=[2, 2, 0],
        orders_before=[1, 2, 3],
        emails_sent=[10, 0, 10],
        emails_opened=[4, 0, 0],
        emails_clicked=[1, 0, 0],
        nps=[10, np.nan, 0],
        csat=[np.nan, np.nan, 1],
        orders_total=[5, 5, 4],
        refunded_orders=[0, 0, 2],
        complaints=[0, 0, 2],
    )
    c = h.components
    assert c["recency"][0] == 1.0
    assert c["frequency_trend"] == pytest.approx([0.5 + 0.5 / 3, 0.5, 0.0])
    assert np.isnan(c["spend_trend"]).all()
    assert c["engagement"] == pytest.approx([1.0, np.nan, 0.0], nan_ok=True)
    assert c["satisfaction"] == pytest.approx([1.0, np.nan, 0.0], nan_ok=True)
    assert c["refunds"] == pytest.approx([1.0, 1.0, 0.1])
    # Customer 2 has recency, frequency trend and refunds only: weights 30, 15, 10.
    assert h.score[1] == pytest.approx(100 * (0.30 * 1 + 0.15 * 0.5 + 0.10 * 1) / 0.55)
    assert list(h.band) == ["green", "green", "red"]
    text = health.explain_health(h, 2)
    assert text.startswith(f"Health {h.score[2]:.0f} (red): recency")
    assert "engagement 0.00 x15% (opened 0 and clicked 0 of 10 emails)" in text
    assert "spend trend n/a (no data)" in text


def test_health_rejects_bad_weights() -> None:
    with pytest.raises(InputError):
        health.health([1], [1], weights={"recency": 1.0})


def test_band_edges() -> None:
    assert list(health.band_of([70, 69.9, 40, 39.9])) == ["green", "yellow", "yellow", "red"]


def test_heuristics_are_chosen_below_the_threshold_or_without_convergence() -> None:
    x = np.r_[np.zeros(100), np.ones(29)]
    assert "only 29 customers" in heuristics.heuristic_reason(x)
    x = np.r_[np.zeros(100), np.ones(30)]
    assert heuristics.heuristic_reason(x) is None

    class NotConverged:
        converged = False
        message = "ABNORMAL"

    assert "did not converge (ABNORMAL)" in heuristics.heuristic_reason(x, NotConverged())


def test_continuation_rates_are_smoothed_shares_who_went_on() -> None:
    x = np.r_[np.zeros(60), np.ones(30), np.full(10, 2)]
    rates = heuristics.continuation_rates(x)
    assert rates[0] == pytest.approx(41 / 102)  # 40 of 100 went on
    assert rates[60] == pytest.approx(11 / 42)  # 10 of 40 went on
    assert rates[-1] == pytest.approx(1 / 12)  # none of 10 went on


def test_heuristic_scores_and_explanation() -> None:
    x = np.array([0, 0, 3, 3])
    t_x = np.array([0, 0, 90, 90])
    silent = np.array([10, 300, 10, 300])
    h = heuristics.heuristic_scores(
        x, t_x, silent, [0, 0, 40, 40], reason="only 2 customers ...", shop_spend=25.0
    )
    assert h.p_alive[0] > h.p_alive[1] and h.p_alive[2] > h.p_alive[3]
    assert np.all((h.p_alive > 0) & (h.p_alive < 1))
    assert np.all(np.diff(h.expected_purchases[[0, 1]]) < 0)
    assert list(h.spend) == [25, 25, 40, 40]
    assert np.all(h.clv <= h.spend * h.expected_purchases + 1e-9)
    text = heuristics.explain_heuristic(h, 3)
    assert text.startswith("Heuristic used because only 2 customers ...")
    assert "300 days ago" in text


@pytest.mark.parametrize("model", [bgnbd, mbgnbd])
def test_fits_without_repeat_purchases_say_so_instead_of_converging(model) -> None:
    fit = model.fit(np.zeros(50), np.zeros(50), np.full(50, 30.0))
    assert not fit.converged
    assert "no repeat purchases" in fit.message
    assert "did not converge" in heuristics.heuristic_reason(np.r_[np.zeros(50), np.ones(40)], fit)

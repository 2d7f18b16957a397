"""Every score of every customer, as arrays: RFM, tier, P(alive), purchases, CLV, churn, health.

Model quantities are computed once per distinct ``(x, t_x, T)`` row and expanded, so a
million customers cost a few tens of thousands of model evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crmhub.plugins.scoring.activity import Activity
from crmhub.plugins.scoring.data import CustomerInputs, FloatArray
from crmhub.plugins.scoring.fit import LABELS, Fitted, fit_models
from crmhub.plugins.scoring.models import churn, gamma_gamma, health, heuristics, rfm
from crmhub.plugins.scoring.models.summary import DAYS_PER_UNIT
from crmhub.plugins.scoring.settings import ScoringSettings
from crmhub.plugins.scoring.timing import Timings


@dataclass(frozen=True)
class Scores:
    """Scores aligned with the inputs, plus the objects that explain them."""

    inputs: CustomerInputs
    activity: Activity
    fitted: Fitted
    rfm: rfm.RFMScores
    frequency: FloatArray  # F input (orders, or orders in the look-back)
    monetary: FloatArray  # M input (spend, or spend in the look-back)
    segment: npt.NDArray[Any]
    tier: npt.NDArray[Any]
    p_alive: FloatArray
    expected_purchases: FloatArray
    spend: FloatArray  # expected spend per future purchase
    clv: FloatArray
    churn: churn.ChurnRisk
    health: health.Health
    heuristic: heuristics.HeuristicScores | None
    settings: ScoringSettings

    @property
    def model_label(self) -> str:
        """Readable name of what produced P(alive): ``MBG/NBD`` or ``heuristic``."""
        return LABELS[self.fitted.model]


def _model_scores(
    inputs: CustomerInputs, fitted: Fitted, unit: float, settings: ScoringSettings
) -> tuple[FloatArray, FloatArray, FloatArray]:
    rows, fit = fitted.rows, fitted.purchases
    alive = fit.p_alive(rows.x, rows.t_x, rows.T)[rows.inverse]
    horizon = settings.horizon_days / unit
    expected = fit.expected_purchases(horizon, rows.x, rows.t_x, rows.T)[rows.inverse]
    discounted = gamma_gamma.discounted_purchases(
        fit, rows.x, rows.t_x, rows.T, months=settings.clv_months,
        discount_rate=settings.discount_rate, discount_per=settings.discount_per,
        time_unit=settings.time_unit, rows=rows,
    )
    return alive, expected, discounted


def shop_spend(inputs: CustomerInputs) -> float:
    """Spend assumed for one-order customers without a spend model: the repeat buyers' mean
    repeat spend, or the shop's mean order value when nobody bought twice."""
    repeat = (inputs.x > 0) & (inputs.repeat_mean > 0)
    if np.any(repeat):
        return float(inputs.repeat_mean[repeat].mean())
    return float(inputs.revenue.sum() / max(inputs.orders.sum(), 1.0))


def _own_spend(inputs: CustomerInputs) -> FloatArray:
    """Fallback spend: own mean repeat spend, else :func:`shop_spend`."""
    return np.where(inputs.x > 0, inputs.repeat_mean, shop_spend(inputs))


def compute_scores(
    inputs: CustomerInputs, activity: Activity, settings: ScoringSettings, *, timer: Timings | None = None
) -> Scores:
    """Fit (or fall back) and score every customer of ``inputs``."""
    timer = timer or Timings()
    x, t_x_days, days_since = inputs.x, inputs.t_x_days, inputs.days_since_last
    monetary = inputs.repeat_mean
    with timer.section("fit"):
        fitted = fit_models(x, t_x_days, inputs.age_days, monetary, settings, timer)

    with timer.section("rfm"):
        if activity.lookback_orders is not None and activity.lookback_spend is not None:
            frequency, spend_total = activity.lookback_orders, activity.lookback_spend
        else:
            frequency, spend_total = inputs.orders, inputs.revenue
        scores = rfm.rfm_scores(days_since, frequency, spend_total, settings.n_bins)
        segment, tier = scores.segment, scores.tier
    with timer.section("score"):
        return _finish(inputs, activity, settings, fitted, scores, frequency, spend_total, segment, tier)


def _finish(
    inputs: CustomerInputs, activity: Activity, settings: ScoringSettings, fitted: Fitted,
    scores: rfm.RFMScores, frequency: FloatArray, spend_total: FloatArray,
    segment: npt.NDArray[Any], tier: npt.NDArray[Any],
) -> Scores:
    unit = DAYS_PER_UNIT[settings.time_unit]
    x, t_x_days, days_since = inputs.x, inputs.t_x_days, inputs.days_since_last
    monetary = inputs.repeat_mean
    heuristic = None
    if fitted.purchases is None:
        heuristic = heuristics.heuristic_scores(
            x, t_x_days, days_since, monetary, reason=fitted.reason or "",
            shop_spend=shop_spend(inputs),
            horizon_days=settings.horizon_days, months=settings.clv_months,
            discount_rate=settings.discount_rate, discount_per=settings.discount_per,
        )
        alive, expected, spend, value = (
            heuristic.p_alive, heuristic.expected_purchases, heuristic.spend, heuristic.clv
        )
    else:
        alive, expected, discounted = _model_scores(inputs, fitted, unit, settings)
        if fitted.spend is not None:
            spend = gamma_gamma.expected_spend(x, monetary, fitted.spend)
        else:
            spend = _own_spend(inputs)
        value = spend * discounted

    risk = churn.churn_risk(
        alive, x, t_x_days, days_since, model_weight=settings.churn_model_weight,
        model=LABELS[fitted.model],
    )
    a = activity
    state = health.health(
        days_since, risk.usual_gap_days,
        orders_now=a.orders_now, orders_before=a.orders_before,
        spend_now=a.spend_now, spend_before=a.spend_before,
        emails_sent=a.emails_sent, emails_opened=a.emails_opened, emails_clicked=a.emails_clicked,
        nps=a.nps, csat=a.csat, orders_total=inputs.orders, refunded_orders=inputs.refunded_orders,
        complaints=a.complaints, weights={**health.HEALTH_WEIGHTS, **(settings.health_weights or {})},
    )
    return Scores(
        inputs=inputs, activity=activity, fitted=fitted, rfm=scores, frequency=frequency,
        monetary=spend_total, segment=segment, tier=tier, p_alive=alive,
        expected_purchases=expected, spend=spend, clv=value, churn=risk, health=state,
        heuristic=heuristic, settings=settings,
    )

"""Transparent fallbacks for shops too small (or too odd) for a purchase model.

A purchase model is fitted only when at least :data:`MIN_REPEAT_BUYERS` (30) customers have
a repeat purchase, and its result is used only if the fit converged. Otherwise:

- continuation rate ``π_x``: of the customers who made at least ``x`` repeat purchases,
  the share who made more, ``(n(>x) + 1) / (n(>=x) + 2)`` (Laplace-smoothed; levels with
  fewer than 10 customers are pooled with the level below);
- usual gap ``g = (t_x + g_shop) / (x + 1)`` days, as in :mod:`.churn`;
- ``P(alive) = π e^(-d/g) / (π e^(-d/g) + 1 - π)`` after ``d`` silent days: the chance
  that a customer who would come back (prior ``π``) has not yet done so, given purchases
  arrive at rate ``1/g``;
- expected purchases in the next ``t`` days: ``P(alive) · (1 - e^(-(1-π) t / g)) / (1 - π)``
  (purchases at rate ``1/g`` and, after each one, a ``1 - π`` chance of stopping);
- CLV: those purchases month by month, discounted as in :func:`.gamma_gamma.clv`, times the
  customer's mean repeat spend (the shop's mean order value for one-order customers).

Each result carries the reason the heuristic was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._arrays import ArrayLike, FloatArray, broadcast
from .churn import shop_gap, usual_gap
from .gamma_gamma import DAYS_PER_MONTH, monthly_rate

#: Below this many repeat buyers no purchase model is fitted.
MIN_REPEAT_BUYERS = 30
#: Frequency levels with fewer customers are pooled with the level below.
MIN_LEVEL_SIZE = 10


def heuristic_reason(
    x: ArrayLike, fit: Any = None, *, min_repeat_buyers: int = MIN_REPEAT_BUYERS
) -> str | None:
    """Why the heuristics must be used instead of a model, or ``None`` if the model is fine.

    :param x: repeat purchases per customer.
    :param fit: the model fit, if one was attempted (anything with ``converged``).
    """
    repeat = int(np.count_nonzero(np.asarray(x) > 0))
    if repeat < min_repeat_buyers:
        return (
            f"only {repeat} customers have a repeat purchase; at least {min_repeat_buyers} "
            "are needed to fit a purchase model"
        )
    if fit is not None and not getattr(fit, "converged", False):
        message = getattr(fit, "message", "")
        return (
            f"the purchase model fit did not converge ({message})"
            if message
            else "the purchase model fit did not converge"
        )
    return None


def continuation_rates(x: ArrayLike) -> FloatArray:
    """``π_x`` for every customer: the smoothed share of customers at its level who went on."""
    xs = np.asarray(x, dtype=np.int64)
    counts = np.bincount(xs)
    at_least = np.cumsum(counts[::-1])[::-1]  # n(>= k)
    more = at_least - counts  # n(> k)
    rates = (more + 1.0) / (at_least + 2.0)
    # Pool thin levels: a level with too few customers borrows the rate of the level below.
    for k in range(1, rates.size):
        if at_least[k] < MIN_LEVEL_SIZE:
            rates[k] = rates[k - 1]
    return rates[xs]


@dataclass(frozen=True)
class HeuristicScores:
    """Heuristic P(alive), expected purchases and CLV with everything needed to explain them."""

    p_alive: FloatArray
    expected_purchases: FloatArray  # over horizon_days
    clv: FloatArray
    continuation: FloatArray
    usual_gap_days: FloatArray
    days_since_last: FloatArray
    spend: FloatArray
    horizon_days: float
    shop_gap_days: float
    reason: str


def _expected(alive: FloatArray, pi: FloatArray, gap: FloatArray, days: float) -> FloatArray:
    k = (1.0 - pi) / gap
    return alive * -np.expm1(-k * days) / (1.0 - pi)


def heuristic_scores(
    x: ArrayLike,
    t_x_days: ArrayLike,
    days_since_last: ArrayLike,
    monetary: ArrayLike,
    *,
    reason: str,
    shop_spend: float | None = None,
    horizon_days: float = 365.0,
    months: int = 12,
    discount_rate: float = 0.01,
    discount_per: Literal["month", "year"] = "month",
) -> HeuristicScores:
    """Heuristic P(alive), expected purchases (next ``horizon_days``) and CLV (next ``months``).

    :param x: repeat purchases; ``t_x_days``: first to last purchase in days.
    :param days_since_last: days from the last purchase to now.
    :param monetary: mean repeat spend per customer (ignored where ``x == 0``).
    :param reason: why the heuristic is used (from :func:`heuristic_reason`), kept for
        explanations.
    :param shop_spend: spend assumed for one-order customers; by default the mean repeat
        spend of the repeat buyers (0 if there are none: pass the mean order value then).
    """
    xs, ts, ds, ms = broadcast(
        ("x", x),
        ("t_x_days", t_x_days),
        ("days_since_last", days_since_last),
        ("monetary", monetary),
    )
    g0 = shop_gap(xs, ts)
    gap = usual_gap(xs, ts, g0)
    pi = np.clip(continuation_rates(xs), 1e-6, 1 - 1e-6)
    stay = pi * np.exp(-ds / gap)
    alive = stay / (stay + 1.0 - pi)
    if shop_spend is None:
        repeat = (xs > 0) & (ms > 0)
        shop_spend = float(ms[repeat].mean()) if np.any(repeat) else 0.0
    spend = np.where(xs > 0, ms, shop_spend)
    d = monthly_rate(discount_rate, discount_per)
    value = np.zeros_like(xs)
    previous = np.zeros_like(xs)
    for month in range(1, months + 1):
        cumulative = _expected(alive, pi, gap, month * DAYS_PER_MONTH)
        value += (cumulative - previous) / (1.0 + d) ** month
        previous = cumulative
    return HeuristicScores(
        alive,
        _expected(alive, pi, gap, horizon_days),
        spend * value,
        pi,
        gap,
        ds,
        spend,
        horizon_days,
        g0,
        reason,
    )


def explain_heuristic(h: HeuristicScores, i: int) -> str:
    """One line saying that (and why) a heuristic was used and how customer ``i`` scored."""
    return (
        f"Heuristic used because {h.reason}. P(alive) {h.p_alive[i]:.2f}: "
        f"{h.continuation[i]:.0%} of customers at this purchase count bought again, and the "
        f"last order was {h.days_since_last[i]:.0f} days ago against a usual gap of "
        f"{h.usual_gap_days[i]:.0f} days; expected {h.expected_purchases[i]:.2f} purchases in "
        f"the next {h.horizon_days:.0f} days at {h.spend[i]:.2f} each; CLV {h.clv[i]:.2f}"
    )

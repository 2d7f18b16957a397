"""Churn risk: a blend of the model's (1 - P(alive)) and how overdue the next order is.

::

    usual gap   g = (t_x + g_shop) / (x + 1)          days; own gaps shrunk to the shop's
    overdue     ρ = days_since_last / g
    squashed    o = ρ² / (ρ² + 4)                      0 on time ... 0.5 at twice the gap ... -> 1
    risk          = w · (1 - P(alive)) + (1 - w) · o   w = 0.5 by default

``t_x / x`` is a customer's own mean gap between purchase days; adding one pseudo-gap of
the shop's typical length ``g_shop`` (the median own gap of repeat buyers) keeps a
customer with one quick repeat order from looking overdue after a week, and gives a
one-order customer (x = 0, no gap of their own) the shop's typical gap. If the shop has no
repeat buyers at all, ``g_shop`` falls back to :data:`DEFAULT_GAP_DAYS`.

One-order customers under BG/NBD have P(alive) = 1, so their risk comes from the overdue
part alone (at most 1 - w): use MBG/NBD or Pareto/NBD for P(alive) in shops where most
customers buy once. Without a model (``p_alive=None``) the risk is the overdue part alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crmhub.core.errors import InputError

from ._arrays import ArrayLike, FloatArray, broadcast

#: Typical gap (days) assumed when a shop has no repeat buyers to learn one from.
DEFAULT_GAP_DAYS = 90.0
#: Weight of (1 - P(alive)) in the blend; the overdue part gets the rest.
DEFAULT_MODEL_WEIGHT = 0.5


@dataclass(frozen=True)
class ChurnRisk:
    """Churn risk of every customer and the inputs it was computed from."""

    risk: FloatArray
    p_alive: FloatArray  # NaN when no model was given
    days_since_last: FloatArray
    usual_gap_days: FloatArray
    overdue_ratio: FloatArray
    overdue: FloatArray
    model_weight: float
    shop_gap_days: float
    model: str


def shop_gap(x: ArrayLike, t_x_days: ArrayLike) -> float:
    """The shop's typical gap: median of the repeat buyers' own mean gaps ``t_x / x`` (days).

    Falls back to :data:`DEFAULT_GAP_DAYS` when nobody has a repeat purchase.
    """
    xs, ts = broadcast(("x", x), ("t_x_days", t_x_days))
    repeat = xs > 0
    if not np.any(repeat):
        return DEFAULT_GAP_DAYS
    return float(max(np.median(ts[repeat] / xs[repeat]), 1.0))


def usual_gap(x: ArrayLike, t_x_days: ArrayLike, shop_gap_days: float) -> FloatArray:
    """Each customer's usual gap in days: ``(t_x + shop_gap) / (x + 1)``."""
    xs, ts = broadcast(("x", x), ("t_x_days", t_x_days))
    return (ts + shop_gap_days) / (xs + 1.0)


def overdue_score(ratio: ArrayLike) -> FloatArray:
    """Squash an overdue ratio into 0..1: ``ρ² / (ρ² + 4)`` (0.2 at 1×, 0.5 at 2×, 0.8 at 4×)."""
    r = np.maximum(np.asarray(ratio, dtype=np.float64), 0.0)
    return r * r / (r * r + 4.0)


def churn_risk(
    p_alive: ArrayLike | None,
    x: ArrayLike,
    t_x_days: ArrayLike,
    days_since_last: ArrayLike,
    *,
    shop_gap_days: float | None = None,
    model_weight: float = DEFAULT_MODEL_WEIGHT,
    model: str = "BG/NBD",
) -> ChurnRisk:
    """Churn risk in 0..1 for every customer (formula in the module docstring).

    :param p_alive: P(alive) from a purchase model, or ``None`` to use the overdue part only.
    :param x: repeat purchases; ``t_x_days``: first to last purchase, in days.
    :param days_since_last: days from the last purchase to now.
    :param shop_gap_days: the shop's typical gap; computed with :func:`shop_gap` if omitted.
    :param model_weight: weight ``w`` of ``1 - P(alive)``.
    :param model: name of the model behind ``p_alive``, for explanations.
    """
    if not 0.0 <= model_weight <= 1.0:
        raise InputError("model_weight must lie in 0..1")
    xs, ts, ds = broadcast(("x", x), ("t_x_days", t_x_days), ("days_since_last", days_since_last))
    g0 = shop_gap(xs, ts) if shop_gap_days is None else float(shop_gap_days)
    gap = usual_gap(xs, ts, g0)
    ratio = ds / gap
    overdue = overdue_score(ratio)
    if p_alive is None:
        pa = np.full_like(xs, np.nan)
        weight = 0.0
        risk = overdue
    else:
        pa = broadcast(("p_alive", p_alive), ("x", xs))[0]
        weight = model_weight
        risk = weight * (1.0 - pa) + (1.0 - weight) * overdue
    return ChurnRisk(
        np.clip(risk, 0.0, 1.0),
        pa,
        ds,
        gap,
        ratio,
        overdue,
        weight,
        g0,
        model if p_alive is not None else "none",
    )


def explain_churn(c: ChurnRisk, i: int) -> str:
    """One line saying why customer ``i`` has its churn risk."""
    parts = [f"Churn risk {c.risk[i]:.2f}:"]
    if c.model_weight > 0:
        parts.append(f"P(alive) {c.p_alive[i]:.2f} ({c.model}, weight {c.model_weight:.0%});")
    parts.append(
        f"last order {c.days_since_last[i]:.0f} days ago, {c.overdue_ratio[i]:.1f}x the usual gap "
        f"of {c.usual_gap_days[i]:.0f} days (overdue score {c.overdue[i]:.2f}, "
        f"weight {1 - c.model_weight:.0%})"
    )
    return " ".join(parts)

"""Customer health 0-100 from six components, each scored 0..1 (NaN = no data).

==================  ======  =============================================================
component           weight  score
==================  ======  =============================================================
recency             30 %    1 - overdue score of days since last order / usual gap
                            (see :mod:`.churn`)
frequency trend     15 %    0.5 + 0.5 · (orders now - orders before) / (now + before),
                            over two equal windows; no data when both are 0
spend trend         15 %    the same with spend
engagement          15 %    mean of min(1, open rate / 40 %) and min(1, click rate / 10 %)
                            (whichever is tracked); no data when no email was sent
satisfaction        15 %    mean of NPS answer / 10 and (CSAT - 1) / 4, whichever exist
refunds/complaints  10 %    max(0, 1 - refunded orders / orders - 0.2 · complaints)
==================  ======  =============================================================

``health = 100 · Σ weight · score / Σ weight`` over the components that have data, so a
shop without email or surveys is not punished for it. Bands: green >= 70, yellow >= 40,
red below 40.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crmhub.core.errors import InputError

from ._arrays import ArrayLike, FloatArray, broadcast
from .churn import overdue_score

HEALTH_WEIGHTS: dict[str, float] = {
    "recency": 0.30,
    "frequency_trend": 0.15,
    "spend_trend": 0.15,
    "engagement": 0.15,
    "satisfaction": 0.15,
    "refunds": 0.10,
}
GREEN_FROM = 70.0
YELLOW_FROM = 40.0
#: Open and click rates that count as fully engaged.
FULL_OPEN_RATE = 0.40
FULL_CLICK_RATE = 0.10
COMPLAINT_PENALTY = 0.2


@dataclass(frozen=True)
class Health:
    """Health score, band and the 0..1 components with the raw inputs behind them."""

    score: FloatArray
    band: npt.NDArray[np.str_]
    components: dict[str, FloatArray]
    inputs: dict[str, FloatArray] = field(repr=False)
    weights: dict[str, float]


def _opt(value: ArrayLike | None, n: int) -> FloatArray:
    if value is None:
        return np.full(n, np.nan)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)


def trend(now: ArrayLike, before: ArrayLike) -> FloatArray:
    """``0.5 + 0.5 · (now - before) / (now + before)``: 0 = stopped, 0.5 = flat, 1 = new."""
    a, b = broadcast(("now", now), ("before", before))
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 0.5 + 0.5 * (a - b) / total, np.nan)


def band_of(score: ArrayLike) -> npt.NDArray[np.str_]:
    """Band of health scores: ``green`` >= 70, ``yellow`` >= 40, ``red`` below, ``""`` for NaN."""
    s = np.asarray(score, dtype=np.float64)
    return np.select(
        [s >= GREEN_FROM, s >= YELLOW_FROM, s < YELLOW_FROM], ["green", "yellow", "red"], ""
    )


def health(
    days_since_last: ArrayLike,
    usual_gap_days: ArrayLike,
    *,
    orders_now: ArrayLike | None = None,
    orders_before: ArrayLike | None = None,
    spend_now: ArrayLike | None = None,
    spend_before: ArrayLike | None = None,
    emails_sent: ArrayLike | None = None,
    emails_opened: ArrayLike | None = None,
    emails_clicked: ArrayLike | None = None,
    nps: ArrayLike | None = None,
    csat: ArrayLike | None = None,
    orders_total: ArrayLike | None = None,
    refunded_orders: ArrayLike | None = None,
    complaints: ArrayLike | None = None,
    weights: dict[str, float] | None = None,
) -> Health:
    """Health of every customer (formula and weights in the module docstring).

    Every optional input is an array (or scalar) aligned with ``days_since_last``; NaN or
    ``None`` means "no data" and drops that component for that customer.

    :param days_since_last: days since the last order.
    :param usual_gap_days: the customer's usual gap (:func:`.churn.usual_gap`).
    :param orders_now: orders in the recent window (e.g. last 90 days).
    :param orders_before: orders in the window of equal length before it.
    :param emails_opened: emails opened at least once; ``emails_clicked`` likewise.
    :param nps: latest NPS answer 0..10; ``csat`` latest CSAT answer 1..5.
    :param weights: override :data:`HEALTH_WEIGHTS` (same keys).
    """
    w = dict(HEALTH_WEIGHTS if weights is None else weights)
    if set(w) != set(HEALTH_WEIGHTS) or any(v < 0 for v in w.values()):
        raise InputError(f"health weights need the keys {sorted(HEALTH_WEIGHTS)} with values >= 0")
    ds, gap = broadcast(("days_since_last", days_since_last), ("usual_gap_days", usual_gap_days))
    n = ds.shape[0]
    raw = {
        name: _opt(value, n)
        for name, value in {
            "orders_now": orders_now,
            "orders_before": orders_before,
            "spend_now": spend_now,
            "spend_before": spend_before,
            "emails_sent": emails_sent,
            "emails_opened": emails_opened,
            "emails_clicked": emails_clicked,
            "nps": nps,
            "csat": csat,
            "orders_total": orders_total,
            "refunded_orders": refunded_orders,
            "complaints": complaints,
        }.items()
    }
    raw["days_since_last"], raw["usual_gap_days"] = ds, gap

    with np.errstate(invalid="ignore", divide="ignore"):
        sent = raw["emails_sent"]
        rates = np.vstack(
            [
                np.minimum(1, np.clip(raw["emails_opened"] / sent, 0, 1) / FULL_OPEN_RATE),
                np.minimum(1, np.clip(raw["emails_clicked"] / sent, 0, 1) / FULL_CLICK_RATE),
            ]
        )
        known = np.isfinite(rates).sum(axis=0)
        engagement = np.where((sent > 0) & (known > 0), np.nansum(rates, axis=0) / known, np.nan)
        answers = np.vstack([raw["nps"] / 10.0, (raw["csat"] - 1.0) / 4.0])
        answered = np.isfinite(answers).sum(axis=0)
        satisfaction = np.where(answered > 0, np.nansum(answers, axis=0) / answered, np.nan)
        refund_ratio = np.where(
            raw["orders_total"] > 0,
            np.nan_to_num(raw["refunded_orders"]) / raw["orders_total"],
            np.nan,
        )
        has_refund_data = np.isfinite(refund_ratio) | np.isfinite(raw["complaints"])
        refunds = np.where(
            has_refund_data,
            np.clip(
                1.0
                - np.nan_to_num(refund_ratio)
                - COMPLAINT_PENALTY * np.nan_to_num(raw["complaints"]),
                0.0,
                1.0,
            ),
            np.nan,
        )
    components = {
        "recency": 1.0 - overdue_score(ds / gap),
        "frequency_trend": trend(raw["orders_now"], raw["orders_before"]),
        "spend_trend": trend(raw["spend_now"], raw["spend_before"]),
        "engagement": engagement,
        "satisfaction": np.clip(satisfaction, 0.0, 1.0),
        "refunds": refunds,
    }
    num = np.zeros(n)
    den = np.zeros(n)
    for name, comp in components.items():
        has = np.isfinite(comp)
        num += np.where(has, w[name] * np.nan_to_num(comp), 0.0)
        den += np.where(has, w[name], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, 100.0 * num / den, np.nan)
    return Health(score, band_of(score), components, raw, w)


_LABELS = {
    "recency": "recency",
    "frequency_trend": "frequency trend",
    "spend_trend": "spend trend",
    "engagement": "engagement",
    "satisfaction": "satisfaction",
    "refunds": "refunds/complaints",
}


def _count(value: float, noun: str) -> str:
    return f"{value:.0f} {noun}" + ("" if value == 1 else "s")


def _why(h: Health, name: str, i: int) -> str:
    v = {k: float(a[i]) for k, a in h.inputs.items()}
    if name == "recency":
        days, gap = v["days_since_last"], v["usual_gap_days"]
        return f"last order {_count(days, 'day')} ago, usual gap {gap:.0f} days"
    if name == "frequency_trend":
        now, before = v["orders_now"], v["orders_before"]
        return f"{_count(now, 'order')} in the recent window vs {before:.0f} before"
    if name == "spend_trend":
        return f"spend {v['spend_now']:.2f} in the recent window vs {v['spend_before']:.2f} before"
    if name == "engagement":
        acts = [
            f"opened {v['emails_opened']:.0f}" if np.isfinite(v["emails_opened"]) else "",
            f"clicked {v['emails_clicked']:.0f}" if np.isfinite(v["emails_clicked"]) else "",
        ]
        return f"{' and '.join(a for a in acts if a)} of {_count(v['emails_sent'], 'email')}"
    if name == "satisfaction":
        answers = [
            f"NPS {v['nps']:.0f}" if np.isfinite(v["nps"]) else "",
            f"CSAT {v['csat']:.0f}" if np.isfinite(v["csat"]) else "",
        ]
        return ", ".join(a for a in answers if a)
    facts = []
    if np.isfinite(v["orders_total"]) and v["orders_total"] > 0:
        refunded = np.nan_to_num(v["refunded_orders"])
        facts.append(f"{refunded:.0f} of {_count(v['orders_total'], 'order')} refunded")
    if np.isfinite(v["complaints"]):
        facts.append(_count(v["complaints"], "complaint"))
    return ", ".join(facts)


def explain_health(h: Health, i: int) -> str:
    """One line listing the score, band and every component with its reason and weight."""
    if not np.isfinite(h.score[i]):
        return "Health unknown: no data"
    parts = []
    for name, comp in h.components.items():
        label = _LABELS[name]
        if np.isfinite(comp[i]):
            parts.append(f"{label} {comp[i]:.2f} x{h.weights[name]:.0%} ({_why(h, name, i)})")
        else:
            parts.append(f"{label} n/a (no data)")
    return f"Health {h.score[i]:.0f} ({h.band[i]}): " + "; ".join(parts)

"""Pure-math core of the scoring plugin: numpy/scipy functions, no database.

A tour in six lines::

    from crmhub.plugins.scoring.models import summary, bgnbd, gamma_gamma

    s = summary.summarize(customer_ids, order_dates, order_totals,
                          calibration_end="2025-06-30", time_unit="weeks")
    rows = summary.collapse(s.x, s.t_x, s.T)            # identical customers -> weights
    purchases = bgnbd.fit(rows.x, rows.t_x, rows.T, rows.weight)
    spend = gamma_gamma.fit(s.x, s.monetary)
    value = gamma_gamma.clv(purchases, spend, s.x, s.t_x, s.T, s.monetary, months=12)

One module per model, each with ``fit``, ``log_likelihood``, ``p_alive`` and
``expected_purchases`` over plain arrays (purchase models), or the spend and scoring
equivalents:

- :mod:`.summary`: transactions -> per-customer ``x, t_x, T, monetary``; ``collapse``.
- :mod:`.bgnbd`, :mod:`.mbgnbd`, :mod:`.pareto_nbd`: purchase models.
- :mod:`.gamma_gamma`: spend model, ``expected_spend`` and ``clv``.
- :mod:`.rfm` and :mod:`.segments`: tie-consistent RFM scores, segments and tiers.
- :mod:`.churn`, :mod:`.health`: blended churn risk and health 0-100 with explanations.
- :mod:`.heuristics`: fallbacks for small shops or fits that do not converge.
- :mod:`.simulate`: synthetic customers for tests and benchmarks.

The maths, assumptions and references are in ``docs/scoring.md``.
"""

from __future__ import annotations

from . import (
    bgnbd,
    churn,
    gamma_gamma,
    health,
    heuristics,
    mbgnbd,
    pareto_nbd,
    rfm,
    segments,
    simulate,
    summary,
)

__all__ = [
    "bgnbd",
    "churn",
    "gamma_gamma",
    "health",
    "heuristics",
    "mbgnbd",
    "pareto_nbd",
    "rfm",
    "segments",
    "simulate",
    "summary",
]

"""Fit the configured purchase models and Gamma-Gamma, or decide on the heuristics.

The primary model (``model`` setting) scores customers; ``compare_models`` are fitted on
the same collapsed rows and reported (their log-likelihoods are comparable: same data,
same unit). Nothing is fitted below ``min_repeat_buyers`` customers with a repeat
purchase; a primary fit that does not converge also hands over to the heuristics. The
spend model is used only when it converged with ``q > 1`` (the population mean spend
exists); otherwise spend falls back to each customer's own mean repeat spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crmhub.plugins.scoring.models import bgnbd, gamma_gamma, heuristics, mbgnbd, pareto_nbd
from crmhub.plugins.scoring.models.summary import DAYS_PER_UNIT, Collapsed, collapse
from crmhub.plugins.scoring.settings import ScoringSettings
from crmhub.plugins.scoring.timing import Timings

MODULES: dict[str, Any] = {"bgnbd": bgnbd, "mbgnbd": mbgnbd, "pareto_nbd": pareto_nbd}
LABELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto_nbd": "Pareto/NBD", "heuristic": "heuristic"}
PARAMETERS = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
    "gamma_gamma": ("p", "q", "gamma"),
}


@dataclass
class Fitted:
    """What the run fitted and what it uses."""

    rows: Collapsed
    model: str  # a key of MODULES, or "heuristic"
    purchases: Any | None  # the primary fit, when used
    spend: Any | None  # the Gamma-Gamma fit, when used
    reason: str | None  # why the heuristics are used
    spend_reason: str | None  # why the spend model is not used
    fits: dict[str, Any] = field(default_factory=dict)  # every fit attempted, by name

    def summary(self) -> dict[str, dict[str, Any]]:
        """Parameters, log-likelihood and convergence of every model fitted (run summary)."""
        out: dict[str, dict[str, Any]] = {}
        for name, fit in self.fits.items():
            entry: dict[str, Any] = {p: float(getattr(fit, p)) for p in PARAMETERS[name]}
            entry.update(
                log_likelihood=float(fit.log_likelihood), n=float(fit.n),
                converged=bool(fit.converged), iterations=int(fit.iterations),
            )
            out[name] = entry
        return out


def collapse_days(x: np.ndarray, t_x_days: np.ndarray, age_days: np.ndarray, unit: float) -> Collapsed:
    """:func:`~.models.summary.collapse` for whole-day times, with one integer sort key
    instead of a three-way float sort; ``t_x`` and ``T`` come back in model units."""
    xs, ts, Ts = (np.asarray(a, dtype=np.int64) for a in (x, t_x_days, age_days))
    if xs.size == 0 or min(xs.min(), ts.min(), Ts.min()) < 0 or max(ts.max(), Ts.max()) >= 1 << 21:
        return collapse(x, t_x_days / unit, age_days / unit)
    key = (xs << 42) | (ts << 21) | Ts
    unique, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    mask = (1 << 21) - 1
    return Collapsed(
        (unique >> 42).astype(np.float64), ((unique >> 21) & mask) / unit, (unique & mask) / unit,
        counts.astype(np.float64), inverse.reshape(-1).astype(np.int64),
    )


def fit_models(
    x: np.ndarray, t_x_days: np.ndarray, age_days: np.ndarray, monetary: np.ndarray,
    settings: ScoringSettings, timer: Timings | None = None,
) -> Fitted:
    """Fit on one customer summary (times in whole days)."""
    timer = timer or Timings()
    with timer.section("collapse"):
        rows = collapse_days(x, t_x_days, age_days, DAYS_PER_UNIT[settings.time_unit])
    fits: dict[str, Any] = {}
    reason = heuristics.heuristic_reason(x, min_repeat_buyers=settings.min_repeat_buyers)
    if reason is None:
        for name in dict.fromkeys([settings.model, *settings.compare_models]):
            fits[name] = MODULES[name].fit(rows.x, rows.t_x, rows.T, rows.weight)
        reason = heuristics.heuristic_reason(
            x, fits[settings.model], min_repeat_buyers=settings.min_repeat_buyers
        )
    spend, spend_reason = None, None
    buyers = int(np.count_nonzero((x > 0) & (monetary > 0)))
    if buyers < settings.min_repeat_buyers:
        spend_reason = (
            f"only {buyers} customers have repeat purchases with positive spend; at least "
            f"{settings.min_repeat_buyers} are needed to fit the spend model"
        )
    else:
        fits["gamma_gamma"] = fit = gamma_gamma.fit(x, monetary)
        if not fit.converged:
            spend_reason = f"the spend model fit did not converge ({fit.message})"
        elif fit.q <= 1:
            spend_reason = f"the spend model has q = {fit.q:.2f} <= 1 (no population mean spend)"
        else:
            spend = fit
    return Fitted(
        rows=rows,
        model="heuristic" if reason else settings.model,
        purchases=None if reason else fits[settings.model],
        spend=spend,
        reason=reason,
        spend_reason=spend_reason,
        fits=fits,
    )

"""Gamma-Gamma spend model and customer lifetime value (Fader & Hardie 2013 note).

Each transaction of a customer is worth z ~ Gamma(p, ν), the customer's ν ~ Gamma(q, γ),
so the mean ``m`` of a customer's ``x`` repeat transactions has the density::

    f(m | x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m^(px-1) · x^(px) / (γ + m x)^(px+q)

The model is fitted on repeat buyers only (``x > 0`` and ``m > 0``) with ``m`` the mean of the
repeat transactions (the first one is excluded), and it assumes spend per transaction is
independent of the purchase frequency: check :func:`frequency_spend_correlation` first.
The population mean spend per transaction is ``p γ / (q - 1)``, finite only for ``q > 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
from scipy.special import digamma, gammaln, polygamma

from crmhub.core.errors import InputError

from ._arrays import ArrayLike, FloatArray, as_weights, broadcast, dot, unpack
from ._optimize import minimize_log_params
from .summary import DAYS_PER_UNIT, Collapsed, TimeUnit, collapse

NAMES = ("p", "q", "gamma")
#: Mean month length used to turn months into model time units (365.25 / 12 days).
DAYS_PER_MONTH = 365.25 / 12


class GammaGammaParams(NamedTuple):
    """Gamma-Gamma parameters: transaction value shape p, Gamma(q, gamma) on its rate."""

    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class GammaGammaFit:
    """A fitted Gamma-Gamma model; ``n`` is the number of repeat buyers it was fitted on."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n: float
    converged: bool
    iterations: int = 0
    message: str = ""

    @property
    def params(self) -> GammaGammaParams:
        """The parameters as a :class:`GammaGammaParams` tuple."""
        return GammaGammaParams(self.p, self.q, self.gamma)

    def expected_spend(self, x: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """Shortcut for :func:`expected_spend` with these parameters."""
        return expected_spend(x, monetary, self)


class PurchaseModel(Protocol):
    """Anything with ``expected_purchases(t, x, t_x, T)``: every fitted purchase model."""

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchases in the next ``t`` time units."""
        ...


def _repeat_buyers(
    x: ArrayLike, monetary: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xs, ms = broadcast(("x", x), ("monetary", monetary))
    w = as_weights(weights, xs.shape[0])
    keep = (xs > 0) & (ms > 0) & (w > 0)
    return xs[keep], ms[keep], w[keep]


def _row_ll(p: float, q: float, g: float, x: FloatArray, m: FloatArray) -> FloatArray:
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


def log_likelihood(
    x: ArrayLike, monetary: ArrayLike, params: Any, weights: ArrayLike | None = None
) -> float:
    """Total log-likelihood of the repeat buyers among the rows (others are ignored)."""
    p, q, g = unpack(params, NAMES)
    xs, ms, w = _repeat_buyers(x, monetary, weights)
    return dot(w, _row_ll(p, q, g, xs, ms))


@dataclass(frozen=True)
class _Spend:
    """Repeat buyers laid out for the fit: terms that depend on x alone are grouped by x."""

    w: FloatArray  # weight of every repeat buyer
    w_x: FloatArray  # w * x
    mx: FloatArray  # m * x, total repeat spend
    ux: FloatArray  # distinct x
    wu: FloatArray  # total weight of each distinct x
    total: float
    wx_log_m: float  # Σ w x log m
    w_log_m: float  # Σ w log m
    wx_log_x: float  # Σ w x log x

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _Spend:
        """Precompute everything that does not depend on the parameters."""
        ux, inv = np.unique(x, return_inverse=True)
        log_m = np.log(m)
        w_x = w * x
        return cls(
            w=w,
            w_x=w_x,
            mx=m * x,
            ux=ux,
            wu=np.bincount(inv, weights=w, minlength=ux.size).astype(np.float64),
            total=float(w.sum()),
            wx_log_m=dot(w_x, log_m),
            w_log_m=dot(w, log_m),
            wx_log_x=dot(w_x, np.log(x)),
        )


def _objective(theta: FloatArray, d: _Spend, penalizer: float) -> tuple[float, FloatArray]:
    """Weighted mean negative log-likelihood and gradient in log-parameters.

    Only ``log(γ + m x)`` and ``1 / (γ + m x)`` are computed per customer; the Gamma-function
    terms depend on x alone and are evaluated once per distinct x.
    """
    p, q, g = np.exp(theta)
    pu = p * d.ux
    shifted = g + d.mx
    log_gmx = np.log(shifted)
    inv_gmx = 1.0 / shifted
    wx_log_gmx = dot(d.w_x, log_gmx)
    w_log_gmx = dot(d.w, log_gmx)
    ll = (
        d.wu @ (gammaln(pu + q) - gammaln(pu))
        - d.total * (gammaln(q) - q * np.log(g))
        + p * (d.wx_log_m + d.wx_log_x - wx_log_gmx)
        - d.w_log_m
        - q * w_log_gmx
    )
    psi = digamma(pu + q)
    g_p = d.wu @ (d.ux * (psi - digamma(pu))) + d.wx_log_m + d.wx_log_x - wx_log_gmx
    g_q = d.wu @ psi - d.total * (digamma(q) - np.log(g)) - w_log_gmx
    g_g = d.total * q / g - p * dot(d.w_x, inv_gmx) - q * dot(d.w, inv_gmx)
    grad = np.array([g_p, g_q, g_g]) * np.array([p, q, g])
    value = -ll / d.total + penalizer * float(theta @ theta)
    return value, -grad / d.total + 2.0 * penalizer * theta


def _hessian(theta: FloatArray, d: _Spend, penalizer: float) -> FloatArray:
    """Hessian of the mean negative log-likelihood in log-parameters (see ``_objective``)."""
    p, q, g = np.exp(theta)
    pu = p * d.ux
    inv = 1.0 / (g + d.mx)
    inv2 = inv * inv
    tri_pq, tri_p = polygamma(1, pu + q), polygamma(1, pu)
    psi = digamma(pu + q)
    s_wx_inv, s_w_inv = dot(d.w_x, inv), dot(d.w, inv)
    s_wx_inv2, s_w_inv2 = dot(d.w_x, inv2), dot(d.w, inv2)
    # First derivatives in natural parameters (as in _objective).
    l_p = (
        d.wu @ (d.ux * (psi - digamma(pu))) + d.wx_log_m + d.wx_log_x - dot(d.w_x, np.log(g + d.mx))
    )
    l_q = d.wu @ psi - d.total * (digamma(q) - np.log(g)) - dot(d.w, np.log(g + d.mx))
    l_g = d.total * q / g - p * s_wx_inv - q * s_w_inv
    # Second derivatives in natural parameters.
    l_pp = d.wu @ (d.ux**2 * (tri_pq - tri_p))
    l_pq = d.wu @ (d.ux * tri_pq)
    l_pg = -s_wx_inv
    l_qq = d.wu @ tri_pq - d.total * polygamma(1, q)
    l_qg = d.total / g - s_w_inv
    l_gg = -d.total * q / g**2 + p * s_wx_inv2 + q * s_w_inv2
    nat = np.array([[l_pp, l_pq, l_pg], [l_pq, l_qq, l_qg], [l_pg, l_qg, l_gg]])
    phi = np.array([p, q, g])
    hess = nat * np.outer(phi, phi) + np.diag(phi * np.array([l_p, l_q, l_g]))
    return -hess / d.total + 2.0 * penalizer * np.eye(3)


def fit(
    x: ArrayLike,
    monetary: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    penalizer: float = 0.0,
    start: ArrayLike | None = None,
) -> GammaGammaFit:
    """Fit the Gamma-Gamma model on the repeat buyers among the rows.

    :param x: repeat purchases per customer; rows with ``x == 0`` are skipped.
    :param monetary: mean value of each customer's repeat purchases; rows with
        ``monetary <= 0`` (refunds exceeding spend) are skipped.
    :param weights: optional row weights.
    :param penalizer: optional ridge penalty on the log-parameters.
    :param start: optional starting ``(p, q, gamma)``; by default p = 2, q = 3 and gamma
        equal to the mean spend.
    """
    xs, ms, w = _repeat_buyers(x, monetary, weights)
    total = float(w.sum())
    if total == 0:
        raise InputError(
            "the Gamma-Gamma model needs at least one repeat buyer with positive spend"
        )
    # Fit on spend divided by its mean, so that the parameters do not depend on the currency:
    # gamma scales with spend, and the log-likelihood shifts by -N·ln(scale).
    scale = dot(w, ms) / total
    if start is None:
        theta0 = np.log(np.array([2.0, 3.0, 1.0]))
    else:
        theta0 = np.log(np.asarray(start, dtype=np.float64) / np.array([1.0, 1.0, scale]))
    data = _Spend.of(xs, ms / scale, w)
    opt = minimize_log_params(
        lambda th: _objective(th, data, penalizer),
        theta0,
        hessian=lambda th: _hessian(th, data, penalizer),
    )
    p, q, g = (float(v) for v in np.exp(opt.theta))
    ll_scaled = -_objective(opt.theta, data, 0.0)[0] * total
    return GammaGammaFit(
        p,
        q,
        g * scale,
        log_likelihood=float(ll_scaled - total * np.log(scale)),
        n=total,
        converged=opt.converged,
        iterations=opt.iterations,
        message=opt.message,
    )


def expected_spend(x: ArrayLike, monetary: ArrayLike, params: Any) -> FloatArray:
    """Conditional expected value of a customer's future transactions.

    ``p (γ + x m) / (p x + q - 1)``: a weighted mean of the population mean ``p γ / (q - 1)``
    and the customer's own mean ``m``, the latter weighing more the more repeat purchases
    there are. Customers with ``x == 0`` get the population mean. NaN where ``q <= 1`` and
    ``x == 0`` (the population mean does not exist).
    """
    p, q, g = unpack(params, NAMES)
    xs, ms = broadcast(("x", x), ("monetary", monetary))
    ms = np.where(xs > 0, ms, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = p * (g + xs * ms) / (p * xs + q - 1.0)
    return np.where(p * xs + q > 1.0, out, np.nan)


def frequency_spend_correlation(x: ArrayLike, monetary: ArrayLike) -> float:
    """Pearson correlation of ``x`` and ``monetary`` among repeat buyers (should be near 0)."""
    xs, ms, _ = _repeat_buyers(x, monetary, None)
    if xs.size < 3 or np.std(xs) == 0 or np.std(ms) == 0:
        return float("nan")
    return float(np.corrcoef(xs, ms)[0, 1])


def monthly_rate(discount_rate: float, per: Literal["month", "year"]) -> float:
    """The monthly discount rate equivalent to ``discount_rate`` per month or per year."""
    if per == "month":
        return float(discount_rate)
    if per == "year":
        return float((1.0 + discount_rate) ** (1.0 / 12.0) - 1.0)
    raise InputError(f"discount period must be 'month' or 'year', got {per!r}")


def discounted_purchases(
    purchases: PurchaseModel,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    months: int = 12,
    discount_rate: float = 0.01,
    discount_per: Literal["month", "year"] = "month",
    time_unit: TimeUnit = "weeks",
    periods_per_month: float | None = None,
    rows: Collapsed | None = None,
) -> FloatArray:
    """Expected purchases in each of the next ``months`` months, discounted to today and summed.

    Month ``k`` contributes ``(E[X(k)] - E[X(k-1)]) / (1 + d)^k``. Computed once per distinct
    ``(x, t_x, T)`` and expanded, so a million customers cost a few hundred thousand calls.
    Pass ``rows=collapse(x, t_x, T)`` if you already have it, to skip collapsing again.
    """
    if months < 1:
        raise InputError("months must be at least 1")
    step = (
        periods_per_month
        if periods_per_month is not None
        else DAYS_PER_MONTH / DAYS_PER_UNIT[time_unit]
    )
    d = monthly_rate(discount_rate, discount_per)
    if rows is None:
        rows = collapse(x, t_x, T)
    total = np.zeros(rows.x.shape[0])
    previous = np.zeros(rows.x.shape[0])
    for k in range(1, months + 1):
        cumulative = purchases.expected_purchases(k * step, rows.x, rows.t_x, rows.T)
        total += (cumulative - previous) / (1.0 + d) ** k
        previous = cumulative
    return total[rows.inverse]


def clv(
    purchases: PurchaseModel,
    spend: Any,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    months: int = 12,
    discount_rate: float = 0.01,
    discount_per: Literal["month", "year"] = "month",
    time_unit: TimeUnit = "weeks",
    periods_per_month: float | None = None,
    rows: Collapsed | None = None,
) -> FloatArray:
    """Customer lifetime value over the next ``months`` months, discounted.

    ``CLV = expected_spend(x, monetary) · Σ_k (E[X(k)] - E[X(k-1)]) / (1 + d)^k``, the
    vectorised equivalent of lifetimes' ``customer_lifetime_value``.

    :param purchases: a fitted purchase model (BG/NBD, MBG/NBD or Pareto/NBD fit).
    :param spend: Gamma-Gamma parameters or fit.
    :param discount_rate: discount rate per ``discount_per`` (default 1 % a month, about
        12.7 % a year); a yearly rate is converted to the equivalent monthly one.
    :param time_unit: unit of ``t_x`` and ``T``; a month is 365.25/12 days.
    :param periods_per_month: override the month length in model units (lifetimes uses 4.345
        weeks, 30 days).
    :param rows: ``collapse(x, t_x, T)``, if already computed.
    """
    factor = discounted_purchases(
        purchases,
        x,
        t_x,
        T,
        months=months,
        discount_rate=discount_rate,
        discount_per=discount_per,
        time_unit=time_unit,
        periods_per_month=periods_per_month,
        rows=rows,
    )
    return expected_spend(x, monetary, spend) * factor

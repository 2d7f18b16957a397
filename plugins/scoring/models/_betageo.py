"""Shared math of the BG/NBD and MBG/NBD models.

Both models give a customer with ``x`` repeat purchases, last at ``t_x``, observed for ``T``
the likelihood (Fader, Hardie & Lee 2005, eq. 6; Batislam, Denizel & Filiztekin 2007)::

    L = Γ(r+x) α^r / Γ(r) · B(a, b+x+k) / B(a, b)
        · [ (α+T)^-(r+x) + δ · a / (b+x+k-1) · (α+t_x)^-(r+x) ]

with ``k = 0, δ = [x > 0]`` for BG/NBD (a customer can only drop out after a repeat
purchase) and ``k = 1, δ = 1`` for MBG/NBD (a customer may drop out right after the first
purchase too). The bracket is evaluated with ``logaddexp``; every term that depends on
``x`` alone is computed once per distinct ``x`` and weighted by the customers having it,
which makes a fit on a million customers cost little more than on the distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, polygamma

from ._arrays import ArrayLike, FloatArray, IntArray, as_weights, broadcast, check_rft, dot
from ._optimize import NO_REPEATS, Optimum, minimize_log_params, not_fitted


@dataclass(frozen=True)
class Prepared:
    """Customer data laid out for repeated likelihood evaluations."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    w: FloatArray
    ux: FloatArray  # distinct values of x
    inv: IntArray  # index into ux for every row
    wx: FloatArray  # total weight of the rows having each distinct x
    total: float


def prepare(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None) -> Prepared:
    """Validate and lay out ``(x, t_x, T, weights)``; rows with zero weight are dropped."""
    xs, txs, Ts = broadcast(("x", x), ("t_x", t_x), ("T", T))
    check_rft(xs, txs, Ts)
    w = as_weights(weights, xs.shape[0])
    keep = w > 0
    if not np.all(keep):
        xs, txs, Ts, w = xs[keep], txs[keep], Ts[keep], w[keep]
    ux, inv = np.unique(xs, return_inverse=True)
    wx = np.bincount(inv, weights=w, minlength=ux.size).astype(np.float64)
    return Prepared(xs, txs, Ts, w, ux, inv.astype(np.int64), wx, float(w.sum()))


def _branch_b(
    x: FloatArray, a: float, b: float, r: float, log_a_tx: FloatArray, k: int
) -> FloatArray:
    """Log of the second bracket term; -inf where the model has no such term (BG/NBD, x=0)."""
    den = b + np.maximum(x + k - 1.0, 0.0)
    out = np.log(a) - np.log(den) - (r + x) * log_a_tx
    if k == 0:
        out = np.where(x > 0, out, -np.inf)
    return out


def row_log_likelihood(
    params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray, k: int
) -> FloatArray:
    """Log-likelihood of every row (no weights) for parameters ``(r, alpha, a, b)``."""
    r, alpha, a, b = params
    const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x + k) - betaln(a, b)
    branch_a = -(r + x) * np.log(alpha + T)
    branch_b = _branch_b(x, a, b, r, np.log(alpha + t_x), k)
    return const + np.logaddexp(branch_a, branch_b)


def objective(theta: FloatArray, d: Prepared, k: int, penalizer: float) -> tuple[float, FloatArray]:
    """Weighted mean negative log-likelihood and its gradient in log-parameters."""
    r, alpha, a, b = np.exp(theta)
    ux = d.ux
    const = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux + k) - betaln(a, b)
    log_at = np.log(alpha + d.T)
    log_atx = np.log(alpha + d.t_x)
    rx = r + d.x
    branch_a = -rx * log_at
    branch_b = _branch_b(d.x, a, b, r, log_atx, k)
    lse = np.logaddexp(branch_a, branch_b)
    q = np.exp(branch_b - lse)  # share of the "dropped out at t_x" branch
    ll = float(d.wx @ const) + dot(d.w, lse)

    wq = d.w * q
    wq_by_x = np.bincount(d.inv, weights=wq, minlength=ux.size)
    g_r = (
        d.wx @ (digamma(r + ux) - digamma(r) + np.log(alpha))
        - dot(d.w, log_at)
        + dot(wq, log_at - log_atx)
    )
    g_alpha = d.total * r / alpha - dot(d.w * rx, (1.0 - q) / (alpha + d.T) + q / (alpha + d.t_x))
    g_a = d.wx @ (digamma(a + b) - digamma(a + b + ux + k)) + wq.sum() / a
    g_b = d.wx @ (
        digamma(b + ux + k) - digamma(a + b + ux + k) - digamma(b) + digamma(a + b)
    ) - wq_by_x @ (1.0 / (b + np.maximum(ux + k - 1.0, 0.0)))
    grad = np.array([g_r, g_alpha, g_a, g_b]) * np.array([r, alpha, a, b])
    value = -ll / d.total + penalizer * float(theta @ theta)
    return value, -grad / d.total + 2.0 * penalizer * theta


def hessian(theta: FloatArray, d: Prepared, k: int, penalizer: float) -> FloatArray:
    """Hessian of :func:`objective` in log-parameters, for the trust-region Newton fit.

    Per row, ``ℓ = C(x) + LSE(A, B)``; the Hessian of the log-sum-exp is
    ``(1-q)∇²A + q∇²B + q(1-q)ΔΔᵀ`` with ``Δ = ∇B - ∇A`` and ``q`` the share of branch B.
    Sums that involve ``b`` only through ``x`` are grouped by distinct x.
    """
    r, alpha, a, b = np.exp(theta)
    ux, x, w = d.ux, d.x, d.w
    log_at = np.log(alpha + d.T)
    log_atx = np.log(alpha + d.t_x)
    rx = r + x
    branch_b = _branch_b(x, a, b, r, log_atx, k)
    lse = np.logaddexp(-rx * log_at, branch_b)
    q = np.exp(branch_b - lse)
    inv_t, inv_tx = 1.0 / (alpha + d.T), 1.0 / (alpha + d.t_x)
    delta_r = log_at - log_atx
    delta_alpha = rx * (inv_t - inv_tx)
    s = w * q * (1.0 - q)
    wq = w * q
    inv_den = 1.0 / (b + np.maximum(ux + k - 1.0, 0.0))  # 1 / (b + x + k - 1) per distinct x

    def by_x(values: FloatArray) -> FloatArray:
        return np.bincount(d.inv, weights=values, minlength=ux.size).astype(np.float64)

    s_x, wq_x = by_x(s), by_x(wq)
    s_dr_x, s_da_x = by_x(s * delta_r), by_x(s * delta_alpha)
    tri_ab = polygamma(1, a + b) - polygamma(1, a + b + ux + k)
    # Natural-parameter gradient (as in objective) and Hessian.
    grad = np.array(
        [
            d.wx @ (digamma(r + ux) - digamma(r) + np.log(alpha))
            - dot(w, log_at)
            + dot(wq, delta_r),
            d.total * r / alpha - dot(w * rx, (1.0 - q) * inv_t + q * inv_tx),
            d.wx @ (digamma(a + b) - digamma(a + b + ux + k)) + wq.sum() / a,
            d.wx @ (digamma(b + ux + k) - digamma(a + b + ux + k) - digamma(b) + digamma(a + b))
            - wq_x @ inv_den,
        ]
    )
    h = np.empty((4, 4))
    h[0, 0] = d.wx @ (polygamma(1, r + ux) - polygamma(1, r)) + dot(s, delta_r * delta_r)
    h[0, 1] = (
        d.total / alpha - dot(w, (1.0 - q) * inv_t + q * inv_tx) + dot(s, delta_r * delta_alpha)
    )
    h[1, 1] = (
        -d.total * r / alpha**2
        + dot(w * rx, (1.0 - q) * inv_t**2 + q * inv_tx**2)
        + dot(s, delta_alpha * delta_alpha)
    )
    h[0, 2] = s_dr_x.sum() / a
    h[0, 3] = -(s_dr_x @ inv_den)
    h[1, 2] = s_da_x.sum() / a
    h[1, 3] = -(s_da_x @ inv_den)
    h[2, 2] = d.wx @ tri_ab - wq.sum() / a**2 + s.sum() / a**2
    h[2, 3] = d.wx @ tri_ab - (s_x @ inv_den) / a
    h[3, 3] = (
        d.wx
        @ (
            polygamma(1, b + ux + k)
            - polygamma(1, a + b + ux + k)
            - polygamma(1, b)
            + polygamma(1, a + b)
        )
        + (wq_x + s_x) @ inv_den**2
    )
    h = np.triu(h) + np.triu(h, 1).T
    phi = np.array([r, alpha, a, b])
    h_theta = h * np.outer(phi, phi) + np.diag(phi * grad)
    return -h_theta / d.total + 2.0 * penalizer * np.eye(4)


def start_values(d: Prepared) -> FloatArray:
    """Log-parameters to start from: r = 1, alpha from the pooled purchase rate, a = b = 1."""
    rate = dot(d.w, d.x) / max(dot(d.w, d.T), 1e-12)
    alpha = 1.0 / max(rate, 1e-12)
    return np.log(np.array([1.0, alpha, 1.0, 1.0]))


def fit(d: Prepared, k: int, penalizer: float, start: ArrayLike | None) -> tuple[Optimum, float]:
    """Fit ``(r, alpha, a, b)``; returns the optimum and the (unpenalised) log-likelihood."""
    theta0 = start_values(d) if start is None else np.log(np.asarray(start, dtype=np.float64))
    if dot(d.w, d.x) == 0.0:
        best = not_fitted(theta0, NO_REPEATS)
        return best, -objective(best.theta, d, k, 0.0)[0] * d.total

    def run(start_at: FloatArray) -> Optimum:
        return minimize_log_params(
            lambda th: objective(th, d, k, penalizer),
            start_at,
            hessian=lambda th: hessian(th, d, k, penalizer),
        )

    best = run(theta0)
    if not best.converged:  # a second start from a different corner of the space
        other = run(theta0 + np.array([-1.0, -1.0, 0.5, 1.0]))
        if other.mean_neg_ll < best.mean_neg_ll or (other.converged and not best.converged):
            best = other
    value, _ = objective(best.theta, d, k, 0.0)
    return best, -value * d.total


def log_odds_dead(
    params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray, k: int
) -> FloatArray:
    """log(P(dropped out) / P(alive)) given the history; -inf for BG/NBD customers with x = 0."""
    r, alpha, a, b = params
    return _branch_b(x, a, b, r, np.log(alpha + t_x), k) + (r + x) * np.log(alpha + T)


def p_alive(
    params: tuple[float, ...], x: ArrayLike, t_x: ArrayLike, T: ArrayLike, k: int
) -> FloatArray:
    """Probability that each customer is still active at ``T``."""
    xs, txs, Ts = broadcast(("x", x), ("t_x", t_x), ("T", T))
    return expit(-log_odds_dead(params, xs, txs, Ts, k))


def _nudge_one(a: float) -> float:
    """Keep ``a`` away from 1, where the closed forms divide 0 by 0 (the limit is smooth)."""
    if abs(a - 1.0) < 1e-6:
        return 1.0 + (1e-6 if a >= 1.0 else -1e-6)
    return a


def expected_purchases(
    params: tuple[float, ...], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, k: int
) -> FloatArray:
    """Expected purchases in ``(T, T + t]`` given the history (FHL 2005 eq. 10 and its MBG twin).

    The Gauss function is used in its Euler-transformed form
    ``(1-z)^(r+x) 2F1(r+x, b+x+k; a+b+x+k-1; z) = (1-z)^(a-1) 2F1(a+b+k-1-r, a-1; a+b+x+k-1; z)``,
    whose parameters do not grow with ``x`` except in the denominator, so it stays well
    conditioned for heavy buyers.
    """
    r, alpha, a, b = params
    a = _nudge_one(a)
    ts, xs, txs, Ts = broadcast(("t", t), ("x", x), ("t_x", t_x), ("T", T))
    z = ts / (alpha + Ts + ts)
    c = a + b + xs + k - 1.0
    gauss = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b + k - 1.0 - r, a - 1.0, c, z)
    unconditional = c / (a - 1.0) * (1.0 - gauss)
    return unconditional * p_alive(params, xs, txs, Ts, k)


def expected_purchases_new(params: tuple[float, ...], t: ArrayLike, k: int) -> FloatArray:
    """Expected repeat purchases in ``(0, t]`` of a customer who just made a first purchase."""
    return expected_purchases(params, t, 0.0, 0.0, 0.0, k)

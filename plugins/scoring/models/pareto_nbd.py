"""Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

While active, a customer buys at a Poisson rate λ ~ Gamma(r, α) and stays active for an
exponential lifetime with rate μ ~ Gamma(s, β). The likelihood is the one of Fader, Hardie
& Lee (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB"::

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A0 ]

where ``A0`` is a difference of two Gauss functions, taken around max(α, β) so that the
argument stays in [0, 1). Each ``2F1(r+s+x, b; r+s+x+1; z)`` is evaluated in its Euler form
``(1-z)^(1-b) 2F1(1, r+s+x+1-b; r+s+x+1; z)``, whose first parameter is 1 and whose series
behaves for heavy buyers and z near 1; the difference is taken in log space.

The derivatives of ``A0`` with respect to the parameters have no convenient closed form:
the fit takes central differences of its two ends only (once per distinct (x, t_x) or
(x, T) pair) and differentiates everything else analytically. Inputs and units as in
:mod:`.bgnbd`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy.special import digamma, expit, gammaln, hyp2f1

from . import _betageo
from ._arrays import ArrayLike, FloatArray, broadcast, dot, unpack
from ._optimize import NO_REPEATS, minimize_log_params, not_fitted
from .summary import Collapsed, collapse

NAMES = ("r", "alpha", "s", "beta")


class ParetoNBDParams(NamedTuple):
    """Pareto/NBD parameters: purchase rate Gamma(r, alpha), dropout rate Gamma(s, beta)."""

    r: float
    alpha: float
    s: float
    beta: float


@dataclass(frozen=True)
class ParetoNBDFit:
    """A fitted Pareto/NBD model (fields as in :class:`.bgnbd.BGNBDFit`)."""

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float
    n: float
    converged: bool
    iterations: int = 0
    message: str = ""

    @property
    def params(self) -> ParetoNBDParams:
        """The parameters as a :class:`ParetoNBDParams` tuple."""
        return ParetoNBDParams(self.r, self.alpha, self.s, self.beta)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        """Shortcut for :func:`p_alive` with these parameters."""
        return p_alive(x, t_x, T, self)

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Shortcut for :func:`expected_purchases` with these parameters."""
        return expected_purchases(t, x, t_x, T, self)


def _log_gauss(rsx: FloatArray, b: FloatArray | float, z: FloatArray) -> FloatArray:
    """log 2F1(rsx, b; rsx + 1; z) through the Euler transformation (see module docstring)."""
    return (1.0 - b) * np.log1p(-z) + np.log(hyp2f1(1.0, rsx + 1.0 - b, rsx + 1.0, z))


def _log_end(params: tuple[float, ...], x: FloatArray, t: FloatArray) -> FloatArray:
    """log of one end of A0, ``2F1(r+s+x, b; r+s+x+1; |α-β|/(m+t)) / (m+t)^(r+s+x)``.

    ``m = max(α, β)``; ``b = s + 1`` when α >= β, else ``r + x`` (FHL 2005, eqs. 19/20).
    """
    r, alpha, s, beta = params
    rsx = r + s + x
    b: FloatArray | float
    if alpha >= beta:
        top, gap, b = alpha, alpha - beta, s + 1.0
    else:
        top, gap, b = beta, beta - alpha, r + x
    return _log_gauss(rsx, b, gap / (top + t)) - rsx * np.log(top + t)


def _log_a0_from_ends(log_1: FloatArray, log_2: FloatArray) -> FloatArray:
    """log(e^log_1 - e^log_2) without cancellation trouble; -inf when they are equal (t_x = T)."""
    u = np.minimum(log_2 - log_1, 0.0)
    with np.errstate(divide="ignore"):
        log1m = np.where(u > -0.693, np.log(-np.expm1(u)), np.log1p(-np.exp(u)))
    return log_1 + log1m


def _log_a0(params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """log A0 of FHL (2005): the end at t_x minus the end at T."""
    return _log_a0_from_ends(_log_end(params, x, t_x), _log_end(params, x, T))


def _branches(
    params: tuple[float, ...],
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    log_a0: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Logs of the two bracket terms: alive at T, and dropped out between t_x and T."""
    r, alpha, s, beta = params
    if log_a0 is None:
        log_a0 = _log_a0(params, x, t_x, T)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dropped = np.log(s) - np.log(r + s + x) + log_a0
    return alive, dropped


def row_log_likelihood(
    params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """Log-likelihood of every row (no weights)."""
    r, alpha, s, beta = params
    alive, dropped = _branches(params, x, t_x, T)
    const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return const + np.logaddexp(alive, dropped)


def log_likelihood(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any, weights: ArrayLike | None = None
) -> float:
    """Total log-likelihood of the customers (each row counted ``weights`` times)."""
    d = _betageo.prepare(x, t_x, T, weights)
    return dot(d.w, row_log_likelihood(unpack(params, NAMES), d.x, d.t_x, d.T))


@dataclass(frozen=True)
class _Ends:
    """Distinct (x, t_x) and (x, T) pairs: each end of A0 is computed once per pair."""

    at_tx: Collapsed
    at_T: Collapsed

    @classmethod
    def of(cls, d: _betageo.Prepared) -> _Ends:
        zero = np.zeros_like(d.x)
        return cls(collapse(d.x, d.t_x, zero), collapse(d.x, zero, d.T))

    def log_a0(self, params: tuple[float, ...]) -> FloatArray:
        log_1 = _log_end(params, self.at_tx.x, self.at_tx.t_x)[self.at_tx.inverse]
        log_2 = _log_end(params, self.at_T.x, self.at_T.T)[self.at_T.inverse]
        return _log_a0_from_ends(log_1, log_2)


def _mean_neg_ll(theta: FloatArray, d: _betageo.Prepared, ends: _Ends, penalizer: float) -> float:
    params = tuple(float(v) for v in np.exp(theta))
    r, alpha, s, beta = params
    const = d.wx @ (gammaln(r + d.ux) - gammaln(r)) + d.total * (
        r * np.log(alpha) + s * np.log(beta)
    )
    alive, dropped = _branches(params, d.x, d.t_x, d.T, ends.log_a0(params))
    ll = const + dot(d.w, np.logaddexp(alive, dropped))
    return float(-ll / d.total + penalizer * (theta @ theta))


def _objective(
    theta: FloatArray, d: _betageo.Prepared, ends: _Ends, penalizer: float, step: float = 1e-6
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient in log-parameters.

    Everything is differentiated analytically except the two ends of A0, whose derivatives
    are central differences taken once per distinct (x, t_x) or (x, T) pair. Per row,
    ``d log A0 = d log_1 + (d log_1 - d log_2) / (e^-u - 1)`` with ``u = log_2 - log_1``.
    """
    phi = np.exp(theta)
    r, alpha, s, beta = (float(v) for v in phi)
    params = (r, alpha, s, beta)
    at_tx, at_T = ends.at_tx, ends.at_T
    log_1 = _log_end(params, at_tx.x, at_tx.t_x)[at_tx.inverse]
    log_2 = _log_end(params, at_T.x, at_T.T)[at_T.inverse]
    log_a0 = _log_a0_from_ends(log_1, log_2)
    alive, dropped = _branches(params, d.x, d.t_x, d.T, log_a0)
    lse = np.logaddexp(alive, dropped)
    q = np.exp(dropped - lse)  # share of "dropped out between t_x and T"; 0 when t_x = T
    const = d.wx @ (gammaln(r + d.ux) - gammaln(r)) + d.total * (
        r * np.log(alpha) + s * np.log(beta)
    )
    ll = float(const) + dot(d.w, lse)

    wq, w_alive = d.w * q, d.w * (1.0 - q)
    rsx = r + s + d.x
    natural = np.array(
        [
            d.wx @ (digamma(r + d.ux) - digamma(r))
            + d.total * np.log(alpha)
            - dot(w_alive, np.log(alpha + d.T))
            - dot(wq, 1.0 / rsx),
            d.total * r / alpha - dot(w_alive, (r + d.x) / (alpha + d.T)),
            d.total * np.log(beta)
            - dot(w_alive, np.log(beta + d.T))
            + wq.sum() / s
            - dot(wq, 1.0 / rsx),
            d.total * s / beta - s * dot(w_alive, 1.0 / (beta + d.T)),
        ]
    )
    grad = phi * natural
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        gap = np.expm1(log_1 - log_2)  # e^-u - 1 >= 0; 0 when t_x = T
        ratio = np.where(gap > 0, 1.0 / gap, 0.0)
    for j in range(4):
        e = np.zeros(4)
        e[j] = step
        up, down = tuple(np.exp(theta + e)), tuple(np.exp(theta - e))
        d1 = (_log_end(up, at_tx.x, at_tx.t_x) - _log_end(down, at_tx.x, at_tx.t_x)) / (2 * step)
        d2 = (_log_end(up, at_T.x, at_T.T) - _log_end(down, at_T.x, at_T.T)) / (2 * step)
        d1_rows, d2_rows = d1[at_tx.inverse], d2[at_T.inverse]
        d_log_a0 = d1_rows + (d1_rows - d2_rows) * ratio
        grad[j] += dot(wq, np.where(q > 0, d_log_a0, 0.0))
    value = -ll / d.total + penalizer * float(theta @ theta)
    return value, -grad / d.total + 2.0 * penalizer * theta


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    penalizer: float = 0.0,
    start: ArrayLike | None = None,
) -> ParetoNBDFit:
    """Fit Pareto/NBD by maximum likelihood (arguments as in :func:`.bgnbd.fit`).

    Starts from r = s = 1, alpha from the pooled purchase rate and beta = alpha, then
    retries from a second point if the first run does not converge.
    """
    d = _betageo.prepare(x, t_x, T, weights)
    ends = _Ends.of(d)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        return _objective(theta, d, ends, penalizer)

    if start is None:
        theta0 = _betageo.start_values(d)
        theta0 = np.array([0.0, theta0[1], 0.0, theta0[1]])
    else:
        theta0 = np.log(np.asarray(start, dtype=np.float64))
    if dot(d.w, d.x) == 0.0:
        best = not_fitted(theta0, NO_REPEATS)
    else:
        best = minimize_log_params(objective, theta0, gtol=1e-8)
    if not best.converged and best.message != NO_REPEATS:
        other = minimize_log_params(objective, theta0 + np.array([-1.0, 0.0, -1.0, 1.0]), gtol=1e-8)
        if other.mean_neg_ll < best.mean_neg_ll or (other.converged and not best.converged):
            best = other
    r, alpha, s, beta = (float(v) for v in np.exp(best.theta))
    ll = -_mean_neg_ll(best.theta, d, ends, 0.0) * d.total
    return ParetoNBDFit(
        r,
        alpha,
        s,
        beta,
        log_likelihood=ll,
        n=d.total,
        converged=best.converged,
        iterations=best.iterations,
        message=best.message,
    )


def p_alive(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any) -> FloatArray:
    """P(customer still active at T | x, t_x, T) (FHL 2005 note, eq. 18)."""
    p = unpack(params, NAMES)
    xs, txs, Ts = broadcast(("x", x), ("t_x", t_x), ("T", T))
    alive, dropped = _branches(p, xs, txs, Ts)
    return expit(alive - dropped)


def _rate_integral(s: float, beta_t: FloatArray, t: FloatArray) -> FloatArray:
    """(β+T) · [1 - ((β+T)/(β+T+t))^(s-1)] / (s-1), with its s -> 1 limit, stably."""
    log_u = -np.log1p(t / beta_t)
    if abs(s - 1.0) < 1e-12:
        return beta_t * -log_u
    return beta_t * -np.expm1((s - 1.0) * log_u) / (s - 1.0)


def expected_purchases(
    t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any
) -> FloatArray:
    """Expected number of purchases in the next ``t`` time units given the history (eq. 22)."""
    r, alpha, s, beta = unpack(params, NAMES)
    ts, xs, txs, Ts = broadcast(("t", t), ("x", x), ("t_x", t_x), ("T", T))
    alive = p_alive(xs, txs, Ts, (r, alpha, s, beta))
    return (r + xs) / (alpha + Ts) * _rate_integral(s, beta + Ts, ts) * alive


def expected_purchases_new(t: ArrayLike, params: Any) -> FloatArray:
    """Expected repeat purchases in ``(0, t]`` for a customer who has just bought (eq. 17)."""
    r, alpha, s, beta = unpack(params, NAMES)
    ts = broadcast(("t", t))[0]
    return r / alpha * _rate_integral(s, np.full_like(ts, beta), ts)

"""BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While active, a customer buys at a Poisson rate λ ~ Gamma(r, α); after every *repeat*
purchase they drop out for good with probability p ~ Beta(a, b). Inputs per customer:
``x`` repeat purchases, ``t_x`` time of the last one and ``T`` time since the first
purchase, all measured from the customer's first purchase in one time unit (days or
weeks; α scales with the unit).

A customer without repeat purchases is alive with certainty under this model
(``p_alive == 1``); use :mod:`.mbgnbd` when that matters (e.g. for churn scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _betageo
from ._arrays import ArrayLike, FloatArray, dot, unpack

_K = 0  # the variant of the shared BG-family math: BG/NBD
NAMES = ("r", "alpha", "a", "b")


class BGNBDParams(NamedTuple):
    """BG/NBD parameters: purchase rate Gamma(r, alpha), dropout probability Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class BGNBDFit:
    """A fitted BG/NBD model.

    ``log_likelihood`` is the total (weighted) log-likelihood, ``n`` the number of customers
    (sum of weights), ``converged`` whether the optimiser reached a proper interior optimum.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n: float
    converged: bool
    iterations: int = 0
    message: str = ""

    @property
    def params(self) -> BGNBDParams:
        """The parameters as a :class:`BGNBDParams` tuple."""
        return BGNBDParams(self.r, self.alpha, self.a, self.b)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        """Shortcut for :func:`p_alive` with these parameters."""
        return p_alive(x, t_x, T, self)

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Shortcut for :func:`expected_purchases` with these parameters."""
        return expected_purchases(t, x, t_x, T, self)


def log_likelihood(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any, weights: ArrayLike | None = None
) -> float:
    """Total log-likelihood of the customers (each row counted ``weights`` times).

    :param params: a :class:`BGNBDFit`, :class:`BGNBDParams` or ``(r, alpha, a, b)``.
    """
    d = _betageo.prepare(x, t_x, T, weights)
    return dot(d.w, _betageo.row_log_likelihood(unpack(params, NAMES), d.x, d.t_x, d.T, _K))


def fit(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    penalizer: float = 0.0,
    start: ArrayLike | None = None,
) -> BGNBDFit:
    """Fit BG/NBD by maximum likelihood.

    :param x: repeat purchases per customer (or per collapsed row).
    :param t_x: time of the last purchase since the first one.
    :param T: time from the first purchase to the end of calibration.
    :param weights: how many customers each row stands for (see :func:`.summary.collapse`).
    :param penalizer: optional ridge penalty on the log-parameters (0 = plain MLE).
    :param start: optional starting ``(r, alpha, a, b)``.
    :returns: a :class:`BGNBDFit`; check ``converged`` before trusting it.
    """
    d = _betageo.prepare(x, t_x, T, weights)
    opt, ll = _betageo.fit(d, _K, penalizer, start)
    r, alpha, a, b = (float(v) for v in np.exp(opt.theta))
    return BGNBDFit(
        r,
        alpha,
        a,
        b,
        log_likelihood=ll,
        n=d.total,
        converged=opt.converged,
        iterations=opt.iterations,
        message=opt.message,
    )


def p_alive(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any) -> FloatArray:
    """P(customer still active at T | x, t_x, T); exactly 1 for customers with ``x == 0``."""
    return _betageo.p_alive(unpack(params, NAMES), x, t_x, T, _K)


def expected_purchases(
    t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any
) -> FloatArray:
    """Expected number of purchases in the next ``t`` time units given the history (eq. 10)."""
    return _betageo.expected_purchases(unpack(params, NAMES), t, x, t_x, T, _K)


def expected_purchases_new(t: ArrayLike, params: Any) -> FloatArray:
    """Expected repeat purchases in ``(0, t]`` for a customer who has just bought (eq. 9)."""
    return _betageo.expected_purchases_new(unpack(params, NAMES), t, _K)

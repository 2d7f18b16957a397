"""MBG/NBD purchase model (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008).

The BG/NBD story with one change: a customer may also drop out right after the *first*
purchase (with the same probability p ~ Beta(a, b) as after any repeat purchase). So a
customer who bought once long ago is no longer "alive with certainty": P(alive) falls
with the time since that purchase, which is what churn scores need in shops where most
customers buy once. Inputs and units are those of :mod:`.bgnbd`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _betageo
from ._arrays import ArrayLike, FloatArray, dot, unpack

_K = 1  # the variant of the shared BG-family math: MBG/NBD
NAMES = ("r", "alpha", "a", "b")


class MBGNBDParams(NamedTuple):
    """MBG/NBD parameters: purchase rate Gamma(r, alpha), dropout probability Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class MBGNBDFit:
    """A fitted MBG/NBD model (fields as in :class:`.bgnbd.BGNBDFit`)."""

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
    def params(self) -> MBGNBDParams:
        """The parameters as a :class:`MBGNBDParams` tuple."""
        return MBGNBDParams(self.r, self.alpha, self.a, self.b)

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
    """Total log-likelihood of the customers (each row counted ``weights`` times)."""
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
) -> MBGNBDFit:
    """Fit MBG/NBD by maximum likelihood (arguments as in :func:`.bgnbd.fit`)."""
    d = _betageo.prepare(x, t_x, T, weights)
    opt, ll = _betageo.fit(d, _K, penalizer, start)
    r, alpha, a, b = (float(v) for v in np.exp(opt.theta))
    return MBGNBDFit(
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
    """P(customer still active at T | x, t_x, T); below 1 for one-order customers too."""
    return _betageo.p_alive(unpack(params, NAMES), x, t_x, T, _K)


def expected_purchases(
    t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, params: Any
) -> FloatArray:
    """Expected number of purchases in the next ``t`` time units given the history."""
    return _betageo.expected_purchases(unpack(params, NAMES), t, x, t_x, T, _K)


def expected_purchases_new(t: ArrayLike, params: Any) -> FloatArray:
    """Expected repeat purchases in ``(0, t]`` for a customer who has just bought."""
    return _betageo.expected_purchases_new(unpack(params, NAMES), t, _K)

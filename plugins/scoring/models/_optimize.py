"""Maximum-likelihood driver shared by the purchase and spend models.

Every model hands over a function of the *log* parameters that returns the weighted mean
negative log-likelihood and (optionally) its gradient. Working in log space keeps the
parameters positive without bounds games and makes one step size fit r ~ 0.2 and
alpha ~ 10 alike. Dividing by the total weight makes the gradient tolerance independent
of the number of customers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from ._arrays import FloatArray

#: The optimiser searches log-parameters inside [-LOG_BOUND, LOG_BOUND] (1e-13 .. 1e13).
LOG_BOUND = 30.0
#: A fit whose parameters leave [1e-6, 1e6] has one running off to 0 or infinity (the data
#: cannot identify it; e.g. b -> inf when nobody seems to drop out). It is reported as not
#: converged, which makes the scorer fall back to the heuristics. Time-scaled parameters
#: (alpha, beta) stay far inside in days or weeks; Gamma-Gamma's gamma is fitted on spend
#: divided by its mean, so the bound does not depend on the currency.
PLAUSIBLE_LOG = float(np.log(1e6))

Objective = Callable[[FloatArray], "tuple[float, FloatArray] | float"]


@dataclass(frozen=True)
class Optimum:
    """Where the optimiser stopped: log-parameters, mean negative LL and convergence facts."""

    theta: FloatArray
    mean_neg_ll: float
    converged: bool
    iterations: int
    message: str


NO_REPEATS = "no repeat purchases: the model cannot be fitted"


def not_fitted(theta0: FloatArray, message: str) -> Optimum:
    """An :class:`Optimum` for data that cannot be fitted at all (kept at the start values)."""
    return Optimum(np.asarray(theta0, dtype=np.float64), float("nan"), False, 0, message)


def minimize_log_params(
    objective: Objective,
    theta0: FloatArray,
    *,
    max_iter: int = 1000,
    gtol: float = 1e-9,
    hessian: Callable[[FloatArray], FloatArray] | None = None,
) -> Optimum:
    """Minimise ``objective`` (value and gradient) over log-parameters.

    L-BFGS-B with bounds; with an analytic ``hessian``, a trust-region Newton method
    (``trust-exact``), which needs a handful of evaluations instead of dozens.

    :param objective: function of the log-parameters returning ``(value, gradient)``.
    :param theta0: starting log-parameters.
    :param hessian: optional function of the log-parameters returning the Hessian.
    :param max_iter: iteration cap; hitting it means "not converged".
    :param gtol: projected-gradient tolerance on the mean negative log-likelihood.
    :returns: the optimum; ``converged`` is false when the final gradient is above 1e-5
        (failure, iteration cap) or a parameter left [1e-6, 1e6].
    """

    def safe(theta: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(all="ignore"):
            value, grad = objective(theta)  # type: ignore[misc]
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(theta)
        return float(value), np.asarray(grad, dtype=np.float64)

    theta0 = np.clip(np.asarray(theta0, dtype=np.float64), -LOG_BOUND + 1, LOG_BOUND - 1)
    if hessian is not None:
        return _newton(safe, hessian, theta0, max_iter, gtol)
    result = optimize.minimize(
        safe,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * theta0.size,
        options={"maxiter": max_iter, "ftol": 1e-15, "gtol": gtol, "maxcor": 20},
    )
    return _finish(safe, result)


def _newton(
    safe: Callable[[FloatArray], tuple[float, FloatArray]],
    hessian: Callable[[FloatArray], FloatArray],
    theta0: FloatArray,
    max_iter: int,
    gtol: float,
) -> Optimum:
    """Trust-region Newton (``trust-exact``); same convergence rules as L-BFGS-B."""

    def safe_hessian(theta: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            h = np.asarray(hessian(theta), dtype=np.float64)
        return h if np.all(np.isfinite(h)) else np.eye(theta.size)

    result = optimize.minimize(
        safe,
        theta0,
        jac=True,
        hess=safe_hessian,
        method="trust-exact",
        options={"maxiter": max_iter, "gtol": gtol},
    )
    return _finish(safe, result)


def _finish(safe: Callable[[FloatArray], tuple[float, FloatArray]], result: Any) -> Optimum:
    """Judge an optimiser result: converged = small gradient, finite, plausible parameters."""
    theta = np.asarray(result.x, dtype=np.float64)
    value, grad = safe(theta)
    small_grad = bool(np.max(np.abs(grad)) < 1e-5)
    implausible = bool(np.any(np.abs(theta) > PLAUSIBLE_LOG))
    converged = small_grad and not implausible and value < 1e299
    message = str(result.message)
    if converged and not result.success:  # stopped at machine precision, gradient is tiny
        message = f"converged (gradient below 1e-5; optimiser: {message})"
    if implausible:
        message = "a parameter ran off to 0 or infinity (outside 1e-6 .. 1e6): not identifiable"
    return Optimum(theta, float(value), converged, int(result.nit), message)

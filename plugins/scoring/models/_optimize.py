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

import numpy as np
from scipy import optimize

from ._arrays import FloatArray

#: Log-parameters are kept inside [-LOG_BOUND, LOG_BOUND] (1e-13 .. 4e11). A fit that ends
#: on this wall has a parameter running off to 0 or infinity: it is reported as not
#: converged, which makes the scorer fall back to the heuristics.
LOG_BOUND = 30.0

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


def central_gradient(fun: Callable[[FloatArray], float], step: float = 1e-6) -> Objective:
    """Wrap a value-only objective so that it also returns a central-difference gradient."""

    def value_and_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        value = fun(theta)
        grad = np.empty_like(theta)
        for i in range(theta.size):
            e = np.zeros_like(theta)
            e[i] = step
            grad[i] = (fun(theta + e) - fun(theta - e)) / (2 * step)
        return value, grad

    return value_and_grad


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
    :returns: the optimum; ``converged`` is false when the optimiser failed, hit the
        iteration cap, ended on the parameter wall or left a gradient larger than 1e-5.
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
    theta = np.asarray(result.x, dtype=np.float64)
    _, grad = safe(theta)
    on_wall = bool(np.any(np.abs(theta) >= LOG_BOUND - 1e-6))
    small_grad = bool(np.max(np.abs(grad)) < 1e-5)
    converged = small_grad and not on_wall and result.fun < 1e299
    message = str(result.message)
    if on_wall:
        message = "a parameter ran off to 0 or infinity (log-parameter on the bound)"
    return Optimum(theta, float(result.fun), converged, int(result.nit), message)


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
    theta = np.asarray(result.x, dtype=np.float64)
    _, grad = safe(theta)
    on_wall = bool(np.any(np.abs(theta) >= LOG_BOUND))
    small_grad = bool(np.max(np.abs(grad)) < 1e-5)
    converged = small_grad and not on_wall and result.fun < 1e299
    message = str(result.message)
    if on_wall:
        message = "a parameter ran off to 0 or infinity (log-parameter beyond the bound)"
    return Optimum(theta, float(result.fun), converged, int(result.nit), message)

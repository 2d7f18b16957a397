"""Differences between the treated and the control arm, with 95% confidence intervals.

Conversion rate (a proportion), normal approximation::

    d  = p_t − p_c
    se = sqrt(p_t (1 − p_t) / n_t + p_c (1 − p_c) / n_c)
    CI = d ± z · se,     z = 1.959964 (the 97.5 % normal quantile)

Revenue per customer (a mean over every customer of the arm, buyers or not), Welch::

    d  = m_t − m_c
    se = sqrt(s_t² / n_t + s_c² / n_c)           s² the sample variance (n − 1)
    ν  = se⁴ / ((s_t²/n_t)² / (n_t − 1) + (s_c²/n_c)² / (n_c − 1))
    CI = d ± t(0.975, ν) · se

An interval needs at least one customer per arm (two for Welch); otherwise it is None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import t as student_t

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Difference:
    """A treated − control difference with its 95% interval."""

    estimate: float
    low: float
    high: float
    se: float
    df: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded to 6 places."""
        return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in asdict(self).items()}


def proportion_difference(x_t: int, n_t: int, x_c: int, n_c: int) -> Difference | None:
    """Difference of two proportions ``x/n`` (normal approximation)."""
    if n_t == 0 or n_c == 0:
        return None
    p_t, p_c = x_t / n_t, x_c / n_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    d = p_t - p_c
    return Difference(d, d - Z95 * se, d + Z95 * se, se)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    return mean, math.fsum((v - mean) ** 2 for v in values) / (n - 1)


def welch_difference(treated: Sequence[float], control: Sequence[float]) -> Difference | None:
    """Difference of two means with Welch's t interval."""
    n_t, n_c = len(treated), len(control)
    if n_t < 2 or n_c < 2:
        return None
    m_t, v_t = _mean_var(treated)
    m_c, v_c = _mean_var(control)
    a, b = v_t / n_t, v_c / n_c
    se = math.sqrt(a + b)
    d = m_t - m_c
    if se == 0:
        return Difference(d, d, d, 0.0, float(n_t + n_c - 2))
    df = (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))
    q = float(student_t.ppf(0.975, df))
    return Difference(d, d - q * se, d + q * se, se, df)

"""Fits recover the parameters that generated simulated customers.

Set-up: customers observed for 52 to 104 weeks with purchase times on a daily grid, as a
real summary has them; 300,000 customers per model. Tolerances (relative, every
parameter): 5 % for BG/NBD, MBG/NBD and Gamma-Gamma (about 140,000 repeat buyers); across
ten seeds their largest error at this size was 3.4 %. 10 % for Pareto/NBD, whose dropout
parameters s and beta are weakly identified (their sampling error reaches about 6 %). On top of
the tolerance, a likelihood-ratio check: the true parameters must not be rejected at the
0.1 % level (2·ΔLL below the chi-square 99.9 % quantile).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from crmhub.plugins.scoring.models import bgnbd, gamma_gamma, mbgnbd, pareto_nbd, simulate, summary

BG = (0.243, 4.414, 0.793, 2.426)
MBG = (0.525, 6.183, 0.891, 1.614)
PNBD = (0.553, 10.578, 0.606, 11.669)
GG = (6.25, 3.74, 15.44)


def _daily_grid(sim: simulate.Simulated) -> summary.Collapsed:
    t_x = np.minimum(np.round(sim.t_x * 7) / 7, sim.T)
    return summary.collapse(sim.x, t_x, sim.T)


def _ages(n: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(52, 104, n) * 7) / 7


@pytest.mark.parametrize(
    ("model", "truth", "n", "tolerance", "modified"),
    [
        (bgnbd, BG, 300_000, 0.05, False),
        (mbgnbd, MBG, 300_000, 0.05, True),
    ],
)
def test_bg_family_recovers_parameters(model, truth, n, tolerance, modified) -> None:
    sim = simulate.bgnbd(n, truth, _ages(n, 11), seed=12, modified=modified)
    rows = _daily_grid(sim)
    fit = model.fit(rows.x, rows.t_x, rows.T, rows.weight)
    assert fit.converged
    np.testing.assert_allclose(fit.params, truth, rtol=tolerance)
    at_truth = model.log_likelihood(rows.x, rows.t_x, rows.T, truth, weights=rows.weight)
    assert 2 * (fit.log_likelihood - at_truth) < chi2.ppf(0.999, 4)


def test_pareto_nbd_recovers_parameters() -> None:
    n = 300_000
    sim = simulate.pareto_nbd(n, PNBD, _ages(n, 21), seed=22)
    rows = _daily_grid(sim)
    fit = pareto_nbd.fit(rows.x, rows.t_x, rows.T, rows.weight)
    assert fit.converged
    np.testing.assert_allclose(fit.params, PNBD, rtol=0.10)
    at_truth = pareto_nbd.log_likelihood(rows.x, rows.t_x, rows.T, PNBD, weights=rows.weight)
    assert 2 * (fit.log_likelihood - at_truth) < chi2.ppf(0.999, 4)


def test_gamma_gamma_recovers_parameters() -> None:
    sim = simulate.bgnbd(300_000, BG, 52.0, seed=31)
    monetary = simulate.mean_spend(sim.x, GG, seed=32)
    fit = gamma_gamma.fit(sim.x, monetary)
    assert fit.converged
    assert fit.n == np.count_nonzero(sim.x)
    np.testing.assert_allclose(fit.params, GG, rtol=0.05)
    at_truth = gamma_gamma.log_likelihood(sim.x, monetary, GG)
    assert 2 * (fit.log_likelihood - at_truth) < chi2.ppf(0.999, 3)


def test_simulated_mean_spend_has_the_model_mean() -> None:
    x = np.full(200_000, 3.0)
    m = simulate.mean_spend(x, GG, seed=5)
    p, q, g = GG
    assert m.mean() == pytest.approx(p * g / (q - 1), rel=0.02)

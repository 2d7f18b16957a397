"""Internal consistency of the model formulas, independent of any reference package."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.special import gammaln

from crmhub.plugins.scoring.models import _betageo, bgnbd, gamma_gamma, mbgnbd, pareto_nbd, simulate
from crmhub.plugins.scoring.models import gamma_gamma as gg

BG = (0.243, 4.414, 0.793, 2.426)
MBG = (0.525, 6.183, 0.891, 1.614)
PNBD = (0.553, 10.578, 0.606, 11.669)


@pytest.mark.parametrize("k", [0, 1])
def test_bg_family_gradient_matches_finite_differences(cdnow, k: int) -> None:
    d = _betageo.prepare(cdnow.x, cdnow.t_x, cdnow.T, None)
    theta = np.log(np.array([0.4, 5.0, 0.9, 2.0]))
    _, grad = _betageo.objective(theta, d, k, 0.0)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6
        numeric = (
            _betageo.objective(theta + e, d, k, 0.0)[0]
            - _betageo.objective(theta - e, d, k, 0.0)[0]
        ) / 2e-6
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("k", [0, 1])
def test_bg_family_hessian_matches_finite_differences(cdnow, k: int) -> None:
    d = _betageo.prepare(cdnow.x, cdnow.t_x, cdnow.T, None)
    theta = np.log(np.array([0.4, 5.0, 0.9, 2.0]))
    hess = _betageo.hessian(theta, d, k, 0.0)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6
        numeric = (
            _betageo.objective(theta + e, d, k, 0.0)[1]
            - _betageo.objective(theta - e, d, k, 0.0)[1]
        ) / 2e-6
        np.testing.assert_allclose(hess[i], numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("params", [PNBD, (0.553, 12.0, 0.606, 3.0), (2.0, 3.0, 1.5, 20.0)])
def test_pareto_gradient_matches_finite_differences(cdnow, params) -> None:
    d = _betageo.prepare(cdnow.x, cdnow.t_x, cdnow.T, None)
    ends = pareto_nbd._Ends.of(d)
    theta = np.log(np.array(params))
    value, grad = pareto_nbd._objective(theta, d, ends, 0.0)
    assert value == pytest.approx(pareto_nbd._mean_neg_ll(theta, d, ends, 0.0), rel=1e-14)
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-5
        numeric = (
            pareto_nbd._mean_neg_ll(theta + e, d, ends, 0.0)
            - pareto_nbd._mean_neg_ll(theta - e, d, ends, 0.0)
        ) / 2e-5
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_gamma_gamma_gradient_matches_finite_differences(cdnow) -> None:
    keep = cdnow.x > 0
    x, m = cdnow.x[keep], cdnow.monetary[keep]
    d = gg._Spend.of(x, m, np.ones_like(x))
    theta = np.log(np.array([5.0, 3.0, 12.0]))
    value, grad = gg._objective(theta, d, 0.0)
    assert -value * d.total == pytest.approx(
        gamma_gamma.log_likelihood(x, m, np.exp(theta)), rel=1e-12
    )
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6
        numeric = (gg._objective(theta + e, d, 0.0)[0] - gg._objective(theta - e, d, 0.0)[0]) / 2e-6
        assert grad[i] == pytest.approx(numeric, rel=1e-5)


def test_gamma_gamma_hessian_matches_finite_differences(cdnow) -> None:
    keep = cdnow.x > 0
    d = gg._Spend.of(cdnow.x[keep], cdnow.monetary[keep], np.ones(int(keep.sum())))
    theta = np.log(np.array([5.0, 3.0, 12.0]))
    hess = gg._hessian(theta, d, 0.0)
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6
        numeric = (gg._objective(theta + e, d, 0.0)[1] - gg._objective(theta - e, d, 0.0)[1]) / 2e-6
        np.testing.assert_allclose(hess[i], numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("params", [PNBD, (0.553, 12.0, 0.606, 3.0), (2.0, 3.0, 1.5, 20.0)])
@pytest.mark.parametrize(
    ("x", "t_x", "T"), [(0, 0.0, 39.0), (3, 10.0, 39.0), (40, 30.0, 39.0), (2, 38.9, 39.0)]
)
def test_pareto_likelihood_matches_its_integral_form(params, x, t_x, T) -> None:
    # L = Γ(r+x)α^r β^s/Γ(r) [(α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ]
    r, alpha, s, beta = params
    integral, _ = integrate.quad(
        lambda tau: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1),
        t_x,
        T,
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )
    bracket = (alpha + T) ** -(r + x) * (beta + T) ** -s + s * integral
    expected = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.log(bracket)
    got = pareto_nbd.log_likelihood([x], [t_x], [T], params)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    ("model", "params", "modified"),
    [(bgnbd, BG, False), (mbgnbd, MBG, True), (pareto_nbd, PNBD, None)],
)
def test_conditional_expectations_average_to_the_unconditional_ones(
    model, params, modified
) -> None:
    # E over customers of E[X(T, T+t) | history] = E[X(T+t)] - E[X(T)] (law of total expectation),
    # and the mean P(alive) is the share of customers still alive.
    n, T, t = 400_000, 39.0, 26.0
    if modified is None:
        sim = simulate.pareto_nbd(n, params, T, seed=7)
    else:
        sim = simulate.bgnbd(n, params, T, seed=7, modified=modified)
    conditional = model.expected_purchases(t, sim.x, sim.t_x, sim.T, params).mean()
    unconditional = (
        model.expected_purchases_new(T + t, params) - model.expected_purchases_new(T, params)
    )[0]
    assert conditional == pytest.approx(unconditional, rel=0.02)
    assert model.p_alive(sim.x, sim.t_x, sim.T, params).mean() == pytest.approx(
        sim.alive.mean(), abs=0.005
    )
    assert sim.x.mean() == pytest.approx(model.expected_purchases_new(T, params)[0], rel=0.02)


@pytest.mark.parametrize("model", [bgnbd, mbgnbd])
def test_expected_purchases_is_continuous_at_a_equal_one(model) -> None:
    below = model.expected_purchases(20, 3, 15, 30, (0.5, 5.0, 1 - 1e-9, 2.0))
    at = model.expected_purchases(20, 3, 15, 30, (0.5, 5.0, 1.0, 2.0))
    above = model.expected_purchases(20, 3, 15, 30, (0.5, 5.0, 1 + 1e-3, 2.0))
    assert at == pytest.approx(below, rel=1e-6)
    assert at == pytest.approx(above, rel=1e-3)


def test_pareto_expected_purchases_is_continuous_at_s_equal_one() -> None:
    at = pareto_nbd.expected_purchases(20, 3, 15, 30, (0.5, 5.0, 1.0, 10.0))
    near = pareto_nbd.expected_purchases(20, 3, 15, 30, (0.5, 5.0, 1.0 + 1e-7, 10.0))
    assert at == pytest.approx(near, rel=1e-6)


def test_expected_purchases_grow_with_the_horizon_and_heavy_buyers_stay_finite() -> None:
    horizons = np.array([1.0, 10.0, 52.0, 520.0])
    for model, params in [(bgnbd, BG), (mbgnbd, MBG), (pareto_nbd, PNBD)]:
        e = model.expected_purchases(horizons, 5, 30, 39, params)
        assert np.all(np.diff(e) > 0)
        heavy = model.expected_purchases(52, [150, 400], [38.9, 38.9], [39.0, 39.0], params)
        assert np.all(np.isfinite(heavy)) and np.all(heavy > 0)
        assert np.all(np.isfinite(model.p_alive([150, 400], [1.0, 2.0], [39.0, 39.0], params)))


def test_expected_spend_shrinks_towards_the_population_mean() -> None:
    p, q, g = 6.25, 3.74, 15.44
    population = p * g / (q - 1)
    own = 80.0
    e = gamma_gamma.expected_spend([0, 1, 10, 1000], [0, own, own, own], (p, q, g))
    assert e[0] == pytest.approx(population)
    assert population < e[1] < e[2] < e[3] < own
    assert e[3] == pytest.approx(own, rel=0.01)


def test_clv_discounting_and_yearly_rate(cdnow) -> None:
    purchases = bgnbd.fit(cdnow.x, cdnow.t_x, cdnow.T)
    spend = gamma_gamma.fit(cdnow.x, cdnow.monetary)
    args = (purchases, spend, cdnow.x, cdnow.t_x, cdnow.T, cdnow.monetary)
    undiscounted = gamma_gamma.clv(*args, months=12, discount_rate=0.0)
    monthly = gamma_gamma.clv(*args, months=12, discount_rate=0.01)
    yearly = gamma_gamma.clv(*args, months=12, discount_rate=(1.01**12 - 1), discount_per="year")
    np.testing.assert_allclose(monthly, yearly, rtol=1e-12)
    assert np.all(monthly < undiscounted)
    year_weeks = 12 * gamma_gamma.DAYS_PER_MONTH / 7
    np.testing.assert_allclose(
        undiscounted,
        gamma_gamma.expected_spend(cdnow.x, cdnow.monetary, spend)
        * purchases.expected_purchases(year_weeks, cdnow.x, cdnow.t_x, cdnow.T),
        rtol=1e-9,
    )

"""Agreement with the lifetimes package, the reference implementation (optional).

Skipped only when lifetimes is not installed; it is a test-time reference, never a
dependency of crmhub. Parameters must agree to 1e-3 relative, predictions to 1e-3.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

lifetimes = pytest.importorskip("lifetimes")
pd = pytest.importorskip("pandas")

from crmhub.plugins.scoring.models import (
    bgnbd,
    gamma_gamma,
    mbgnbd,
    pareto_nbd,
    simulate,
    summary,
)

RTOL = 1e-3


def _lifetimes_fit(fitter_cls, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitter_cls().fit(*args)


@pytest.fixture(scope="module")
def simulated() -> summary.Summary:
    n = 10_000
    sim = simulate.bgnbd(
        n,
        (0.243, 4.414, 0.793, 2.426),
        np.round(np.random.default_rng(1).uniform(27, 39, n) * 7) / 7,
        seed=2,
    )
    tx = simulate.transactions(sim, (6.25, 3.74, 15.44), calibration_end="2024-06-30", seed=3)
    return summary.summarize(tx.customer, tx.when, tx.amount, calibration_end="2024-06-30")


@pytest.fixture(params=["cdnow", "simulated"])
def data(request) -> summary.Summary:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize(
    ("ours", "theirs", "names"),
    [
        (bgnbd, "BetaGeoFitter", ("r", "alpha", "a", "b")),
        (mbgnbd, "ModifiedBetaGeoFitter", ("r", "alpha", "a", "b")),
        (pareto_nbd, "ParetoNBDFitter", ("r", "alpha", "s", "beta")),
    ],
)
def test_purchase_models_agree_with_lifetimes(data: summary.Summary, ours, theirs, names) -> None:
    fit = ours.fit(data.x, data.t_x, data.T)
    ref = _lifetimes_fit(getattr(lifetimes, theirs), data.x, data.t_x, data.T)
    np.testing.assert_allclose(fit.params, [ref.params_[n] for n in names], rtol=RTOL)
    idx = np.arange(0, len(data), max(1, len(data) // 500))
    x, t_x, T = data.x[idx], data.t_x[idx], data.T[idx]
    np.testing.assert_allclose(
        fit.p_alive(x, t_x, T), ref.conditional_probability_alive(x, t_x, T), rtol=RTOL
    )
    np.testing.assert_allclose(
        fit.expected_purchases(39, x, t_x, T),
        ref.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T),
        rtol=RTOL,
    )


def test_gamma_gamma_and_clv_agree_with_lifetimes(data: summary.Summary) -> None:
    repeat = data.x > 0
    spend = gamma_gamma.fit(data.x, data.monetary)
    ref = _lifetimes_fit(
        lifetimes.GammaGammaFitter, pd.Series(data.x[repeat]), pd.Series(data.monetary[repeat])
    )
    np.testing.assert_allclose(spend.params, [ref.params_[n] for n in ("p", "q", "v")], rtol=RTOL)

    purchases = bgnbd.fit(data.x, data.t_x, data.T)
    bg_ref = _lifetimes_fit(lifetimes.BetaGeoFitter, data.x, data.t_x, data.T)
    ours = gamma_gamma.clv(
        purchases,
        spend,
        data.x,
        data.t_x,
        data.T,
        data.monetary,
        months=12,
        discount_rate=0.01,
        periods_per_month=4.345,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ref.customer_lifetime_value(
            bg_ref,
            pd.Series(data.x),
            pd.Series(data.t_x),
            pd.Series(data.T),
            pd.Series(data.monetary),
            time=12,
            discount_rate=0.01,
            freq="W",
        ).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)


def test_summary_agrees_with_lifetimes(cdnow_transactions, cdnow: summary.Summary) -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    t = cdnow_transactions
    frame = pd.DataFrame(
        {"id": t.customer, "date": t.when.astype("datetime64[ns]"), "amount": t.amount}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = summary_data_from_transaction_data(
            frame,
            "id",
            "date",
            monetary_value_col="amount",
            observation_period_end="1997-09-30",
            freq="D",
            freq_multiplier=7,
        )
    ref = ref.loc[cdnow.customer]
    np.testing.assert_array_equal(cdnow.x, ref["frequency"].to_numpy())
    np.testing.assert_allclose(cdnow.t_x, ref["recency"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(cdnow.T, ref["T"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(cdnow.monetary, ref["monetary_value"].to_numpy(), rtol=1e-12)

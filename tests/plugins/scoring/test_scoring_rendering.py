"""The fast paths of a run give what the plain ones give: collapsing on whole days, and
number formatting by lookup."""

from __future__ import annotations

import numpy as np

from crmhub.plugins.scoring.explain import counted, format_values
from crmhub.plugins.scoring.fit import collapse_days
from crmhub.plugins.scoring.models.summary import collapse


def test_collapsing_on_whole_days_equals_the_models_collapse():
    rng = np.random.default_rng(3)
    T = rng.integers(0, 1200, 50_000)
    t_x = np.minimum(rng.integers(0, 1200, 50_000), T)
    x = np.where(t_x > 0, rng.integers(1, 40, 50_000), 0)
    for unit in (1.0, 7.0):
        ours, theirs = collapse_days(x, t_x, T, unit), collapse(x, t_x / unit, T / unit)
        for field in ("x", "t_x", "T", "weight", "inverse"):
            np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field), err_msg=field)


def test_numbers_are_formatted_as_printf_would():
    rng = np.random.default_rng(4)
    for values, places in [
        (rng.gamma(2.0, 40.0, 5000), 2),  # many distinct values
        (rng.random(5000), 2),  # few distinct values at two places
        (rng.integers(0, 30, 5000).astype(float), 0),
        (rng.random(5000) * 50, 4),
    ]:
        expected = [f"{v:.{places}f}" for v in np.round(values * 10**places) / 10**places]
        assert format_values(values, places).tolist() == expected
    assert format_values(np.array([1.5, np.nan]), 1).tolist() == ["1.5", "nan"]
    assert counted(np.array([0, 1, 2, 1]), "order").tolist() == ["0 orders", "1 order", "2 orders", "1 order"]

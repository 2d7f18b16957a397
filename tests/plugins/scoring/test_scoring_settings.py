"""Scorer settings: validated at load, defaults documented, weights applied."""

from __future__ import annotations

import pytest
from scoring_db import ingest, score, score_rows, scoring_hub
from test_scoring_db_runs import shop

from crmhub.core.errors import ConfigError
from crmhub.plugins.scoring.models.health import HEALTH_WEIGHTS
from crmhub.plugins.scoring.settings import HEALTH_COMPONENTS, ScoringSettings


def test_the_settings_know_the_health_components_of_the_model():
    assert set(HEALTH_COMPONENTS) == set(HEALTH_WEIGHTS)


def test_defaults():
    settings = ScoringSettings()
    assert settings.model == "mbgnbd" and settings.compare_models == ["bgnbd", "pareto_nbd"]
    assert (settings.n_bins, settings.time_unit, settings.history) == (5, "days", "changes")
    assert settings.days("trend_window") == 90 and settings.days("rfm_lookback") is None


@pytest.mark.parametrize("values, key", [
    ({"model": "nbd"}, "plugins.scoring.main.model"),
    ({"rfm_lookback": "soon"}, "plugins.scoring.main.rfm_lookback"),
    ({"trend_window": "2h"}, "plugins.scoring.main.trend_window"),
    ({"n_bins": 1}, "plugins.scoring.main.n_bins"),
    ({"health_weights": {"recency": -1}}, "plugins.scoring.main.health_weights"),
    ({"bins": 5}, "plugins.scoring.main.bins"),
])
def test_bad_settings_stop_start_up_naming_the_key(make_hub, values, key):
    with pytest.raises(ConfigError) as caught:
        scoring_hub(make_hub, **values)
    assert caught.value.key == key


def test_health_weights_are_applied(make_hub):
    hub = scoring_hub(make_hub, min_repeat_buyers=200, health_weights={
        "recency": 1.0, "frequency_trend": 0, "spend_trend": 0, "engagement": 0, "satisfaction": 0, "refunds": 0})
    ingest(hub, shop(20))
    score(hub, "2026-01-01")
    for row in score_rows(hub).values():
        recency = float(row["explanation"]["health"].split("recency ")[1].split(" ")[0])
        assert row["health"] == pytest.approx(100 * recency, abs=0.5)

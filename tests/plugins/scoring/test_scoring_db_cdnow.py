"""End to end on the database: the CDNOW sample ingested as orders, scored as of the end of
calibration, reproduces the published fits, from customer_stats and from orders alike."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import pytest
from scoring_db import CALIBRATION_END, CDNOW_SETTINGS, customer_id, ingest, score, score_rows, scoring_hub
from sqlalchemy import func, select

from crmhub.core.models import ScoreHistory, ScoreRun

END = datetime(1997, 9, 30, 23, 59, 59, tzinfo=timezone.utc)


def close(value: float, published: float, rel: float = 0.01) -> bool:
    return abs(value / published - 1.0) <= rel


def assert_published_fits(summary: dict) -> None:
    models = summary["models"]
    bg, pnbd, gg = models["bgnbd"], models["pareto_nbd"], models["gamma_gamma"]
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert close(bg[name], published), (name, bg[name])
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    for name, published in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert close(pnbd[name], published), (name, pnbd[name])
    assert pnbd["log_likelihood"] == pytest.approx(-9595.0, abs=0.1)
    for name, published in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert close(gg[name], published), (name, gg[name])
    assert gg["log_likelihood"] == pytest.approx(-4055.9, abs=0.1)
    assert gg["n"] == 946


def test_cdnow_scored_from_statistics_then_from_orders_gives_the_published_fits(make_hub, cdnow_orders):
    # Given the calibration-period orders of the CDNOW sample, ingested as orders
    hub = scoring_hub(make_hub, **CDNOW_SETTINGS)
    ingest(hub, [o for o in cdnow_orders if o.placed_at <= END])

    # When the shop is scored as of the end of calibration (no later orders: customer_stats)
    first = score(hub, CALIBRATION_END)

    # Then the summary pinned by the spec holds the published parameters
    assert first["inputs_from"] == "customer_stats"
    assert first["as_of"].startswith("1997-09-30T23:59:59")
    assert first["customers_scored"] == 2357 and first["time_unit"] == "weeks"
    assert set(first["models"]) == {"bgnbd", "pareto_nbd", "mbgnbd", "gamma_gamma"}
    assert_published_fits(first)
    rows = score_rows(hub)
    one = rows[customer_id(hub, "customer00004@cdnow.example")]
    assert one["p_alive"] == pytest.approx(0.727, abs=1e-3)
    assert one["expected_purchases"] == pytest.approx(1.226, abs=1e-3)
    assert one["model"] == "bgnbd"

    # When the holdout orders arrive and the same day is scored again (from orders now)
    ingest(hub, [o for o in cdnow_orders if o.placed_at > END])
    second = score(hub, CALIBRATION_END)

    # Then later orders are ignored: the same fits and the same scores for everyone
    assert second["inputs_from"] == "orders"
    for model, fit in first["models"].items():
        for key, value in fit.items():
            assert second["models"][model][key] == pytest.approx(value, rel=1e-9), (model, key)
    again = score_rows(hub)
    assert again.keys() == rows.keys()
    for cid, row in rows.items():
        for column in ("r", "f", "m", "rfm_segment", "tier", "recency_days", "health_band", "clv"):
            assert again[cid][column] == row[column], (cid, column)
        for column in ("p_alive", "expected_purchases", "churn_risk", "health"):
            assert again[cid][column] == pytest.approx(row[column], rel=1e-9), (cid, column)

    # And the "changes" history policy kept one row per customer: nothing changed
    with hub.transaction() as session:
        assert session.execute(select(func.count()).select_from(ScoreHistory)).scalar_one() == 2357
        runs = session.execute(select(ScoreRun).order_by(ScoreRun.id)).scalars().all()
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert runs[1].models["bgnbd"]["r"] == pytest.approx(second["models"]["bgnbd"]["r"])
    assert runs[1].details["inputs_from"] == "orders"


def test_cdnow_rfm_ties_and_explanations(make_hub, cdnow_orders):
    hub = scoring_hub(make_hub, **CDNOW_SETTINGS)
    ingest(hub, cdnow_orders)
    summary = score(hub, CALIBRATION_END)
    rows = list(score_rows(hub).values())
    assert summary["inputs_from"] == "orders"
    assert sum(summary["segments"].values()) == 2357

    # Equal values always get equal scores.
    by_value: dict[tuple[str, float], set[int]] = defaultdict(set)
    for row in rows:
        inputs = row["inputs"]
        by_value[("r", row["recency_days"])].add(row["r"])
        by_value[("f", inputs["orders"])].add(row["f"])
        by_value[("m", inputs["revenue"])].add(row["m"])
    assert all(len(scores) == 1 for scores in by_value.values())
    # Most customers have one order: they share F = 1, and repeat buyers spread above it.
    one_order = {row["f"] for row in rows if row["inputs"]["orders"] == 1}
    assert one_order == {1}
    assert {row["f"] for row in rows} == {1, 2, 3, 4, 5}

    # Explanations are readable sentences that quote the inputs.
    row = next(r for r in rows if r["customer_id"] == customer_id(hub, "customer00004@cdnow.example"))
    explanation = row["explanation"]
    assert set(explanation) == {"rfm", "purchases", "churn", "health"}
    days = row["recency_days"]
    assert explanation["rfm"].startswith(f"R={row['r']} because last order {days} days ago")
    assert f"-> {row['rfm_segment']} (tier {row['tier']})" in explanation["rfm"]
    assert "P(alive) 0.73" in explanation["purchases"] and "(BG/NBD)" in explanation["purchases"]
    assert "Gamma-Gamma" in explanation["purchases"]
    assert explanation["churn"].startswith(f"Churn risk {row['churn_risk']:.2f}:")
    assert explanation["health"].startswith(f"Health {row['health']:.0f} ({row['health_band']}):")
    assert "no data: engagement, satisfaction" in explanation["health"]

"""Scoring runs on small shops: the heuristic fallback, who is scored, history policies,
health inputs from interactions, the RFM look-back window, and the job."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from scoring_db import customer_id, ingest, score, score_rows, scoring_hub
from sqlalchemy import func, select

from crmhub.core.models import ScoreHistory, ScoreRun
from crmhub.core.records import CustomerRecord, InteractionRecord, OrderRecord, RefundRecord

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def order(external_id: str, who: str, days_ago: int, total: str = "20", **fields) -> OrderRecord:
    placed = NOW - timedelta(days=days_ago)
    return OrderRecord(instance="shop.main", external_id=external_id, customer_external_id=who,
                       email=f"{who}@example.com", currency="USD", total=Decimal(total),
                       placed_at=placed, source_updated_at=placed, **fields)


def event(external_id: str, who: str, kind: str, days_ago: int, value: float | None = None, **data) -> InteractionRecord:
    return InteractionRecord(instance="email.main", external_id=external_id, email=f"{who}@example.com",
                             kind=kind, occurred_at=NOW - timedelta(days=days_ago),
                             value=None if value is None else Decimal(str(value)), data=data)


def history_count(hub) -> int:
    with hub.transaction() as session:
        return session.execute(select(func.count()).select_from(ScoreHistory)).scalar_one()


def shop(n: int) -> list[OrderRecord]:
    """``n`` customers; every second one bought again, some recently, some long ago."""
    records = []
    for i in range(n):
        records.append(order(f"{i}-1", f"c{i}", 300 - 7 * (i % 40), str(10 + i)))
        if i % 2 == 0:
            records.append(order(f"{i}-2", f"c{i}", 100 - 2 * (i % 45), str(15 + i)))
    return records


def test_a_tiny_shop_is_scored_with_heuristics_and_says_so(make_hub):
    hub = scoring_hub(make_hub)
    ingest(hub, [order("1", "ann", 200), order("2", "ann", 20), order("3", "bob", 90), order("4", "cat", 400),
                 order("5", "dan", 10), order("6", "eve", 60, "35"), order("7", "eve", 5, "15")])
    ingest(hub, [CustomerRecord(instance="shop.main", external_id="fay", email="fay@example.com")])  # no orders

    summary = score(hub, "2026-01-01")

    assert summary["customers_scored"] == 5  # fay has no order
    assert summary["models"] == {} and summary["model_used"] == "heuristic"
    assert summary["fallback_reason"] == (
        "only 2 customers have a repeat purchase; at least 30 are needed to fit a purchase model"
    )
    rows = score_rows(hub)
    assert {row["model"] for row in rows.values()} == {"heuristic"}
    ann = rows[customer_id(hub, "ann@example.com")]
    assert ann["explanation"]["purchases"].startswith(
        "Heuristic used because only 2 customers have a repeat purchase; at least 30 are needed"
    )
    assert 0 < ann["p_alive"] < 1 and ann["expected_purchases"] > 0 and ann["clv"] > 0
    assert ann["inputs"]["orders"] == 2 and ann["inputs"]["x"] == 1
    with hub.transaction() as session:
        run = session.execute(select(ScoreRun)).scalars().one()
    assert run.status == "succeeded" and run.message == summary["fallback_reason"]
    assert run.details["spend_model"] == "own mean repeat spend"


def test_an_empty_shop_scores_nobody(make_hub):
    hub = scoring_hub(make_hub)
    summary = score(hub)
    assert summary["customers_scored"] == 0 and summary["models"] == {}
    assert score_rows(hub) == {}


def test_history_keeps_changes_only_by_default_and_every_run_on_request(make_hub):
    hub = scoring_hub(make_hub, min_repeat_buyers=200)  # heuristics: fast and deterministic
    ingest(hub, shop(60))
    first = score(hub, "2026-01-01")
    assert history_count(hub) == first["history_rows"] == 60  # everyone's first score

    # The same day again: nothing changed, nothing kept.
    assert score(hub, "2026-01-01")["history_rows"] == 0
    assert history_count(hub) == 60

    # A lapsed customer orders again: their segment changes, a row is kept for them.
    lapsed = customer_id(hub, "c1@example.com")
    before = score_rows(hub)
    ingest(hub, [order("back", "c1", 0, "500"), order("back2", "c1", 1, "500")])
    score(hub, "2026-01-01")
    after = score_rows(hub)
    changed = {cid for cid in after if (after[cid]["rfm_segment"], after[cid]["tier"], after[cid]["health_band"])
               != (before[cid]["rfm_segment"], before[cid]["tier"], before[cid]["health_band"])}
    assert lapsed in changed
    with hub.transaction() as session:
        kept = session.execute(select(ScoreHistory.customer_id).where(ScoreHistory.run_id == after[lapsed]["run_id"]))
        assert set(kept.scalars()) == changed
        trail = session.execute(select(ScoreHistory.rfm_segment).where(ScoreHistory.customer_id == lapsed)
                                .order_by(ScoreHistory.scored_at, ScoreHistory.id)).scalars().all()
    assert trail == [before[lapsed]["rfm_segment"], after[lapsed]["rfm_segment"]]

    kept_so_far = history_count(hub)
    every = scoring_hub(make_hub, min_repeat_buyers=200, history="every_run")
    score(every, "2026-01-01")
    score(every, "2026-01-01")
    assert history_count(every) == kept_so_far + 2 * 60


def test_health_reads_email_engagement_surveys_complaints_and_refunds(make_hub):
    hub = scoring_hub(make_hub, min_repeat_buyers=200)
    records: list = shop(40)
    records += [order("r1", "c0", 40, "50", refunds=[RefundRecord(external_id="x", amount=Decimal("50"))])]
    records += [event(f"s{i}", "c0", "email_sent", 10 + i) for i in range(4)]
    records += [event("o1", "c0", "email_opened", 9), event("k1", "c0", "email_clicked", 9)]
    records += [event("n1", "c0", "survey_answer", 30, 3, survey="nps"), event("n2", "c0", "survey_answer", 5, 9)]
    records += [event("q1", "c2", "survey_answer", 5, 2, survey="CSAT"), event("p1", "c2", "complaint", 3)]
    records += [event("old", "c4", "email_sent", 400)]  # outside the 180-day window
    ingest(hub, records)

    score(hub, "2026-01-01")
    rows = score_rows(hub)
    c0, c2, c4 = (rows[customer_id(hub, f"{who}@example.com")] for who in ("c0", "c2", "c4"))

    assert c0["inputs"]["emails"] == {"sent": 4, "opened": 1, "clicked": 1}
    assert c0["inputs"]["nps"] == 9  # the latest answer
    assert c0["inputs"]["refunded_orders"] == 1
    health = c0["explanation"]["health"]
    assert "engagement 0.81 (opened 1 and clicked 1 of 4 emails)" in health  # (0.25/0.4 + 1) / 2
    assert "satisfaction 0.90 (NPS 9)" in health
    assert "refunds/complaints 0.67 (1 of 3 orders refunded)" in health
    assert c2["inputs"]["csat"] == 2 and c2["inputs"]["complaints"] == 1
    assert "satisfaction 0.25 (CSAT 2)" in c2["explanation"]["health"]
    assert "(0 of 2 orders refunded, 1 complaint)" in c2["explanation"]["health"]
    assert "emails" not in c4["inputs"]
    assert "no data: engagement, satisfaction" in c4["explanation"]["health"]


def test_rfm_look_back_window_counts_recent_orders_only(make_hub):
    hub = scoring_hub(make_hub, min_repeat_buyers=200, rfm_lookback="120d")
    ingest(hub, shop(40))
    score(hub, "2026-01-01")
    rows = score_rows(hub)
    old = rows[customer_id(hub, "c1@example.com")]  # one order, 293 days ago
    assert old["inputs"]["rfm_window"] == {"orders": 0, "spend": 0.0}
    assert old["f"] == 1 and old["m"] == 1
    assert "F=1 because 0 orders in the last 120 days" in old["explanation"]["rfm"]
    repeat = rows[customer_id(hub, "c0@example.com")]
    assert repeat["inputs"]["rfm_window"]["orders"] == 1 and repeat["f"] > 1


def test_the_scoring_job_is_registered_and_idempotent(make_hub):
    hub = scoring_hub(make_hub, min_repeat_buyers=200)
    ingest(hub, shop(30))
    job = hub.plugins.jobs(hub)["scoring.run"]

    first = job(hub, instance="scoring.main", as_of="2026-01-01")
    rows = score_rows(hub)
    second = job(hub, instance="scoring.main", as_of="2026-01-01")

    assert first["customers_scored"] == second["customers_scored"] == 30
    again = score_rows(hub)
    assert {k: {c: v for c, v in row.items() if c not in ("run_id", "scored_at")} for k, row in again.items()} == \
        {k: {c: v for c, v in row.items() if c not in ("run_id", "scored_at")} for k, row in rows.items()}
    assert second["history_rows"] == 0 and history_count(hub) == 30


def test_a_failed_run_is_recorded_and_keeps_the_previous_scores(make_hub, monkeypatch):
    hub = scoring_hub(make_hub, min_repeat_buyers=200)
    ingest(hub, shop(10))
    score(hub, "2026-01-01")
    before = score_rows(hub)

    import crmhub.plugins.scoring.run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_module, "write_scores", broken)
    with pytest.raises(RuntimeError):
        score(hub, "2026-01-02")
    assert score_rows(hub) == before
    with hub.transaction() as session:
        last = session.execute(select(ScoreRun).order_by(ScoreRun.id.desc())).scalars().first()
    assert last.status == "failed" and "disk full" in last.message

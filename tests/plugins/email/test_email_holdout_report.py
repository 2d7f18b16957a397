"""Holdout groups (stable per customer) and the report's arithmetic on constructed data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from email_support import Clock, add_customers, add_order, join_segment, sends
from scipy import stats as scipy_stats
from sqlalchemy import insert, update

from crmhub.core.ingest import ingestor
from crmhub.core.records import OrderRecord
from crmhub.plugins.email.audience import arm_of, holdout_draw
from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.models import EmailSend
from crmhub.plugins.email.report import report
from crmhub.plugins.email.stats import Z95, proportion_difference, welch_difference
from tests.conftest import T0

SEND = EmailSend.__table__


def test_the_holdout_draw_is_a_stable_uniform_hash_of_step_and_customer():
    draws = [holdout_draw("campaign", "spring", cid) for cid in range(20_000)]
    assert draws == [holdout_draw("campaign", "spring", cid) for cid in range(20_000)]
    assert all(0 <= d < 1 for d in draws)
    share = sum(d < 0.1 for d in draws) / len(draws)
    assert abs(share - 0.1) < 5 * (0.1 * 0.9 / len(draws)) ** 0.5
    other = [arm_of("campaign", "summer", cid, 0.1) for cid in range(20_000)]
    assert other != [arm_of("campaign", "spring", cid, 0.1) for cid in range(20_000)]


def test_a_campaign_holds_back_its_share_and_customers_keep_their_arm(email_hub, smtp_server):
    hub = email_hub(campaigns={"spring": {"segment": "champions", "template": "spring", "holdout": 0.25}})
    ids = add_customers(hub, 120)
    join_segment(hub, "champions", ids[:60])

    first = send_campaign(hub, "spring")
    join_segment(hub, "champions", ids[60:])
    second = send_campaign(hub, "spring")

    rows = sends(hub)
    control = {row.customer_id for row in rows if row.arm == "control"}
    assert {row.status for row in rows if row.arm == "control"} == {"held_out"}
    assert all(row.arm == arm_of("campaign", "spring", row.customer_id, 0.25) for row in rows)
    assert first["enrolment"]["control"] + second["enrolment"]["control"] == len(control)
    assert 10 <= len(control) <= 50  # 25 % of 120, well inside the binomial spread
    mailed = set(smtp_server.handler.per_recipient())
    assert not any(f"c{ids.index(cid)}@example.com" in mailed for cid in control)
    assert len(mailed) == 120 - len(control)


def _send(hub, customer_id, arm, status, at, **extra):
    with hub.transaction() as session:
        session.execute(insert(SEND), {
            "instance": "email.main", "kind": "campaign", "name": "spring", "customer_id": customer_id, "arm": arm,
            "status": status, "scheduled_at": at, "due_at": at, "attempts": 1 if arm == "treated" else 0,
            "links": [], **extra})


def test_the_report_computes_rates_revenue_and_intervals_from_constructed_data(email_hub):
    sent_at = T0 + timedelta(days=10)
    hub = email_hub(clock=Clock(sent_at + timedelta(days=30)))
    ids = add_customers(hub, 30)
    treated, control = ids[:20], ids[20:]
    # treated: 6 converters with known revenue; control: 2 converters
    revenue_t = {0: "100.00", 1: "50.00", 2: "20.00", 3: "80.00", 4: "10.00", 5: "40.00"}
    revenue_c = {0: "30.00", 1: "60.00"}
    statuses = ["sent"] * 16 + ["bounced", "failed", "skipped", "sending"]
    for i, cid in enumerate(treated):
        _send(hub, cid, "treated", statuses[i], sent_at,
              opened_at=sent_at if i < 8 else None, clicked_at=sent_at if i < 3 else None,
              unsubscribed_at=sent_at if i == 15 else None)
    for cid in control:
        _send(hub, cid, "control", "held_out", sent_at)
    _send(hub, add_customers(hub, 1, prefix="gone")[0], "control", "cancelled", sent_at)
    orders = 0
    for group, amounts in ((treated, revenue_t), (control, revenue_c)):
        for i, amount in amounts.items():
            orders += 1
            add_order(hub, f"c{ids.index(group[i])}@example.com", sent_at + timedelta(days=1, hours=i), amount,
                      number=f"in{orders}")
    # outside the 7-day window, before sending, and cancelled: none of them count
    add_order(hub, "c6@example.com", sent_at + timedelta(days=7, seconds=1), "999.00", number="late")
    add_order(hub, "c7@example.com", sent_at - timedelta(seconds=1), "999.00", number="early")
    ingestor(hub).ingest_and_commit([OrderRecord(
        instance="import.default", external_id="cancelled", email="c8@example.com", currency="USD",
        total="999.00", placed_at=sent_at + timedelta(days=2), status="cancelled",
        cancelled_at=sent_at + timedelta(days=2))])
    # a second order of a converter adds to its revenue, not to the conversions
    add_order(hub, "c0@example.com", sent_at + timedelta(days=6), "25.00", number="again")

    found = report(hub, "spring")

    values_t = [125.0, 50.0, 20.0, 80.0, 10.0, 40.0] + [0.0] * 14
    values_c = [30.0, 60.0] + [0.0] * 8
    assert found["window_complete"] is True
    assert found["arms"]["treated"] == {"customers": 20, "conversions": 6, "conversion_rate": 0.3,
                                        "revenue": 325.0, "revenue_per_customer": 16.25}
    assert found["arms"]["control"] == {"customers": 10, "conversions": 2, "conversion_rate": 0.2,
                                        "revenue": 90.0, "revenue_per_customer": 9.0}
    conversion = found["difference"]["conversion_rate"]
    se = (0.3 * 0.7 / 20 + 0.2 * 0.8 / 10) ** 0.5
    assert conversion["estimate"] == pytest.approx(0.1)
    assert conversion["se"] == pytest.approx(se, abs=1e-6)
    assert (conversion["low"], conversion["high"]) == pytest.approx((0.1 - Z95 * se, 0.1 + Z95 * se), abs=1e-6)
    revenue = found["difference"]["revenue_per_customer"]
    reference = scipy_stats.ttest_ind(values_t, values_c, equal_var=False).confidence_interval(0.95)
    assert revenue["estimate"] == pytest.approx(7.25)
    assert (revenue["low"], revenue["high"]) == pytest.approx((reference.low, reference.high), abs=1e-5)
    assert found["delivery"] == {
        "enrolled": 20, "delivered": 16, "bounced": 1, "failed": 1, "deferred": 0, "queued": 0, "skipped": 1,
        "unknown": 1, "opened": 8, "clicked": 3, "unsubscribed": 1, "open_rate": 0.5, "click_rate": 0.1875,
    }


def test_an_open_window_counts_only_orders_up_to_now(email_hub):
    sent_at = T0
    clock = Clock(sent_at + timedelta(days=2))
    hub = email_hub(clock=clock)
    [a, b] = add_customers(hub, 2)
    _send(hub, a, "treated", "sent", sent_at)
    _send(hub, b, "control", "held_out", sent_at)
    add_order(hub, "c0@example.com", sent_at + timedelta(days=1), "10.00", number="o1")
    add_order(hub, "c1@example.com", sent_at + timedelta(days=3), "10.00", number="o2")

    found = report(hub, "spring")

    assert found["window_complete"] is False
    assert found["arms"]["control"]["conversions"] == 0 and found["arms"]["treated"]["conversions"] == 1
    assert found["difference"]["revenue_per_customer"] is None  # Welch needs two per arm


def test_interval_edge_cases():
    assert proportion_difference(0, 0, 1, 2) is None
    same = welch_difference([5.0, 5.0, 5.0], [5.0, 5.0])
    assert same is not None and (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    certain = proportion_difference(10, 10, 0, 10)
    assert certain is not None and certain.se == 0 and certain.low == certain.high == 1.0


def test_merged_customers_count_their_survivors_orders(email_hub):
    from crmhub.core.models import Customer

    hub = email_hub(clock=Clock(T0 + timedelta(days=30)))
    [merged, survivor, other] = add_customers(hub, 3)
    _send(hub, merged, "treated", "sent", T0)
    _send(hub, other, "control", "held_out", T0)
    add_order(hub, "c1@example.com", T0 + timedelta(days=1), "15.00", number="o1")
    with hub.transaction() as session:
        session.execute(update(Customer.__table__).where(Customer.__table__.c.id == merged)
                        .values(status="merged", merged_into_id=survivor))

    assert report(hub, "spring")["arms"]["treated"]["revenue"] == 15.0

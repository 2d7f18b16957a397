"""Generated hub data for segment tests: varied customers with statistics, scores,
consent, identities, orders with lines, interactions and segment history.

Times cluster on window boundaries (exactly N days ago, and a microsecond either side) so
that off-by-one differences between SQL and Python show up.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from crmhub.core.models import (
    Consent, Customer, CustomerScore, CustomerStats, Interaction, Order, OrderLine, SegmentEvent, SegmentMember,
    SourceIdentity,
)

TAGS = ["vip", "VIP", "wholesale", "newsletter", "b2b", "o'reilly", 'say "hi"', "drop table customer;--", "é"]
INSTANCES = ["shopify.main", "woocommerce.outlet", "hubspot.main"]
RFM_SEGMENTS = ["Champions", "Loyal", "Potential Loyalist", "At Risk", "Can't Lose Them", "Hibernating", "Lost"]
TIERS = ["core", "potential", "ordinary", "churned"]
SKUS = ["SKU-1", "SKU-2", "SKU-3", "sku-1"]
KINDS = ["email_opened", "email_clicked", "survey_answer", "support_ticket"]
BOUNDARY_DAYS = [0, 1, 7, 30, 90, 180, 365]


def moment(rng: random.Random, now: datetime) -> datetime:
    """A time in the past three years, often exactly on (or a microsecond off) a boundary."""
    if rng.random() < 0.3:
        offset = timedelta(microseconds=rng.choice([-1, 0, 0, 1]))
        return now - timedelta(days=rng.choice(BOUNDARY_DAYS)) + offset
    return now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400), microseconds=rng.randint(0, 999_999))


def money(rng: random.Random, high: int = 5000) -> Decimal:
    """An amount with four decimals, often round."""
    if rng.random() < 0.3:
        return Decimal(rng.choice([0, 50, 100, 200, 500, 1000]))
    return Decimal(rng.randint(0, high * 10_000)) / 10_000


def maybe(rng: random.Random, value: Any, p: float = 0.1) -> Any:
    """``value``, or None with probability ``p``."""
    return None if rng.random() < p else value


def populate(session: Session, count: int, now: datetime, seed: int = 7) -> list[int]:
    """Insert ``count`` customers with everything rules look at; returns their ids."""
    rng = random.Random(seed)
    ids = list(range(1, count + 1))
    customers, stats, scores, consent, identities, orders, lines, interactions, events, members = ([] for _ in range(10))
    for cid in ids:
        status = rng.choices(["active", "merged", "erased"], [90, 5, 5])[0]
        customers.append({
            "id": cid, "status": status, "email": maybe(rng, f"user{cid}@{rng.choice(['example.com', 'gmail.com', 'shop.io'])}"),
            "phone": maybe(rng, f"+44{rng.randint(7000000000, 7999999999)}", 0.5),
            "first_name": maybe(rng, rng.choice(["Ann", "Bob", "O'Neil", 'Zoë "Z"']), 0.2), "last_name": None,
            "tags": rng.sample(TAGS, rng.randint(0, 3)), "addresses": [], "attributes": {}, "field_sources": {},
            "source_created_at": maybe(rng, moment(rng, now), 0.4), "created_at": moment(rng, now), "updated_at": now,
            "merged_into_id": None, "erased_at": now if status == "erased" else None,
        })
        if rng.random() < 0.85:
            first, last = sorted([moment(rng, now), moment(rng, now)])
            has_orders = rng.random() < 0.9
            stats.append({
                "customer_id": cid, "orders_count": rng.randint(1, 12) if has_orders else 0,
                "total_spent": money(rng) if has_orders else Decimal(0), "refunded_total": money(rng, 50),
                "first_order_at": first if has_orders else None, "last_order_at": last if has_orders else None,
                "purchase_days": 1, "repeat_revenue_mean": None, "updated_at": now,
            })
        if rng.random() < 0.8:
            scores.append({
                "customer_id": cid, "scored_at": now, "r": maybe(rng, rng.randint(1, 5)), "f": rng.randint(1, 5),
                "m": rng.randint(1, 5), "rfm_segment": maybe(rng, rng.choice(RFM_SEGMENTS)),
                "tier": maybe(rng, rng.choice(TIERS)), "clv": maybe(rng, money(rng, 2000)),
                "p_alive": maybe(rng, rng.choice([0.3, 0.5, rng.random()])), "churn_risk": maybe(rng, rng.random()),
                "health": maybe(rng, rng.choice([40.0, 70.0, rng.uniform(0, 100)])),
                "health_band": maybe(rng, rng.choice(["green", "amber", "red"])),
                "expected_purchases": maybe(rng, rng.uniform(0, 4)), "inputs": {}, "explanation": {},
            })
        for channel in ("email", "sms"):
            if rng.random() < 0.7:
                consent.append({"customer_id": cid, "channel": channel, "granted": rng.random() < 0.6,
                                "source": "shopify.main", "recorded_at": now})
        for instance in rng.sample(INSTANCES, rng.randint(0, 2)):
            identities.append({"customer_id": cid, "instance": instance, "external_id": f"{instance}-{cid}",
                               "kind": "customer", "fields": {}, "first_seen_at": now, "last_seen_at": now,
                               "deleted_at": now if rng.random() < 0.1 else None, "erased": False})
        for n in range(rng.choice([0, 0, 1, 2, 3, 5])):
            order_id = len(orders) + 1
            orders.append({
                "id": order_id, "customer_id": cid, "instance": "shopify.main", "external_id": f"{cid}-{n}",
                "status": rng.choices(["paid", "fulfilled", "cancelled", "failed", "refunded"], [5, 3, 1, 1, 1])[0],
                "currency": "USD", "total": Decimal(10), "refunded": Decimal(0), "net_total_base": money(rng, 400),
                "placed_at": moment(rng, now), "cancelled_at": now if rng.random() < 0.05 else None,
                "deleted_at": now if rng.random() < 0.05 else None, "tags": [], "attributes": {},
                "created_at": now, "updated_at": now,
            })
            for _ in range(rng.randint(1, 2)):
                lines.append({"order_id": order_id, "sku": maybe(rng, rng.choice(SKUS)),
                              "product_id": str(rng.randint(1, 4)), "quantity": 1, "price": Decimal(5)})
        for n in range(rng.choice([0, 1, 2, 4])):
            kind = rng.choice(KINDS)
            value = maybe(rng, float(rng.randint(0, 10)), 0.3) if kind == "survey_answer" else None
            interactions.append({"customer_id": cid, "kind": kind, "occurred_at": moment(rng, now),
                                 "instance": "email.main", "external_id": f"i-{cid}-{n}", "value": value, "data": {}})
        for segment in ("vip", "lapsed"):
            if rng.random() < 0.2:
                events.append({"segment": segment, "customer_id": cid, "kind": rng.choice(["entered", "exited"]),
                               "at": moment(rng, now)})
            if segment == "vip" and rng.random() < 0.2:
                members.append({"segment": segment, "customer_id": cid, "entered_at": now})
    for table, rows in [(Customer, customers), (CustomerStats, stats), (CustomerScore, scores), (Consent, consent),
                        (SourceIdentity, identities), (Order, orders), (OrderLine, lines), (Interaction, interactions),
                        (SegmentEvent, events), (SegmentMember, members)]:
        if rows:
            session.execute(insert(table.__table__), rows)
    fix_sequences(session)
    return ids


def fix_sequences(session: Session) -> None:
    """After inserting explicit ids on PostgreSQL, move the id sequences past them."""
    if session.get_bind().dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for table in ("customer", "order", "order_line", "interaction", "segment_event", "consent", "source_identity"):
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table}\"), false)"))

"""customer_stats: the set-based full rebuild gives exactly the incrementally kept numbers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crmhub.core.identity.merge import unmerge
from crmhub.core.ingest import ingestor
from crmhub.core.ingest.stats import rebuild_all_stats, refresh_stats
from crmhub.core.models import Customer, CustomerStats, MergeRecord
from crmhub.core.records import CustomerRecord, OrderRecord, RefundRecord
from tests.conftest import T0

DAY = timedelta(days=1)


def order(external_id: str, customer: str, total: str, day: int, at=T0, instance="shopify.main", **fields) -> OrderRecord:
    fields.setdefault("email", f"{customer}@example.com")
    return OrderRecord(instance=instance, external_id=external_id, customer_external_id=customer,
                       currency="USD", total=Decimal(total), placed_at=T0 + day * DAY + timedelta(hours=9),
                       source_updated_at=at, **fields)


def customer(instance: str, external_id: str, at=T0, **fields) -> CustomerRecord:
    return CustomerRecord(instance=instance, external_id=external_id, source_updated_at=at, **fields)


def stats(hub) -> dict[int, tuple]:
    with hub.transaction() as session:
        rows = session.execute(select(CustomerStats.__table__)).mappings().all()
    return {row["customer_id"]: tuple(v for k, v in row.items() if k != "updated_at") for row in rows}


def test_rebuild_gives_the_incremental_numbers_after_adds_refunds_cancellations_merges_and_unmerges(hub):
    ingest = ingestor(hub)
    # Given orders added over time, two on one day, with amounts whose repeat means round
    # half-even at the money scale (20.00015 -> 20.0002, 0.00025 -> 0.0002, 0.66667/3 -> 0.2222)
    ingest.ingest_and_commit([
        customer("shopify.main", "ann", email="ann@example.com"),
        order("a1", "ann", "10.00", 0), order("a2", "ann", "5.00", 0), order("a3", "ann", "0.0001", 3),
        order("a4", "ann", "0.0002", 4),
        order("b1", "bob", "20.00", 1), order("b2", "bob", "0.0002", 2),
        order("b3", "bob", "0.0003", 5), order("b5", "bob", "0.0002", 6),
        order("c1", "cat", "7.00", 0), order("c2", "cat", "0.3333", 1),
        order("c3", "cat", "0.3333", 2), order("c4", "cat", "0.3334", 3),
    ])
    ingest.ingest_and_commit([customer("shopify.main", "dan", email="dan@example.com")])  # no orders
    # When orders are refunded, cancelled, failed and deleted later
    later = T0 + 10 * DAY
    ingest.ingest_and_commit([
        order("a1", "ann", "10.00", 0, at=later, refunds=[RefundRecord(external_id="r1", amount=Decimal("2.50"))]),
        order("b2", "bob", "0.0002", 2, at=later, status="cancelled"),
        order("b4", "bob", "30.00", 6, at=later, status="failed"),
        order("c2", "cat", "0.3333", 1, at=later, cancelled_at=later),
        order("c5", "cat", "12.00", 7, at=later, refunds=[RefundRecord(external_id="r2", amount=Decimal("12.00"))]),
        order("a3", "ann", "0.0001", 3, at=later, deleted=True),
    ])
    # And a CRM contact with its own orders is merged into a shop customer, then a second one
    # is merged and the merge undone (the caller refreshes both, as `crmhub customers unmerge`)
    ingest.ingest_and_commit([
        customer("hubspot.main", "h1", email="eve.work@example.com"),
        order("e1", "h1", "40.0001", 8, instance="hubspot.main", email="eve.work@example.com"),
        customer("hubspot.main", "h2", email="fay.work@example.com"),
        order("f1", "h2", "15.00", 9, instance="hubspot.main", email="fay.work@example.com"),
    ])
    ingest.ingest_and_commit([customer("hubspot.main", "h1", at=later, email="ann@example.com")])
    ingest.ingest_and_commit([customer("hubspot.main", "h2", at=later, email="bob@example.com")])
    with hub.transaction() as session:
        records = session.execute(select(MergeRecord).order_by(MergeRecord.id)).scalars().all()
        assert len(records) == 2
        survivor, restored = unmerge(session, record_id=records[1].id, now=hub.now())
        refresh_stats(session, [survivor, restored], hub.now())
    incremental = stats(hub)
    assert len(incremental) == 5  # ann (with eve's orders), bob, cat, dan, fay again

    # Then a rebuild from scratch writes exactly the same rows
    written = rebuild_all_stats(hub.sessions, hub.now())
    assert written == 5
    assert stats(hub) == incremental

    # And the numbers are the documented ones
    with hub.transaction() as session:
        rows = {
            email: row for email, row in session.execute(
                select(Customer.email, CustomerStats).join(CustomerStats, CustomerStats.customer_id == Customer.id)
            ).all()
        }
    ann, bob, cat = rows["ann@example.com"], rows["bob@example.com"], rows["cat@example.com"]
    assert (ann.orders_count, ann.purchase_days, ann.refunded_orders) == (4, 3, 1)  # a1 a2 a4 + eve's e1
    assert ann.total_spent == Decimal("52.5003") and ann.refunded_total == Decimal("2.5")
    assert ann.repeat_revenue_mean == Decimal("20.0002")  # (0.0002 + 40.0001) / 2
    assert (bob.orders_count, bob.purchase_days) == (3, 3)
    assert bob.repeat_revenue_mean == Decimal("0.0002")  # (0.0003 + 0.0002) / 2
    assert (cat.orders_count, cat.purchase_days, cat.refunded_orders) == (4, 4, 1)
    assert cat.repeat_revenue_mean == Decimal("0.2222")  # (0.3333 + 0.3334 + 0) / 3
    assert rows["dan@example.com"].orders_count == 0 and rows["fay.work@example.com"].orders_count == 1

"""Syncing customers and orders from the fake Shopify: pagination, incremental reads with a
lookback, resume after a kill, full re-syncs and reconciliation with ``count.json``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.core.errors import RemoteAuthError
from crmhub.core.hub import Hub
from crmhub.core.models import Consent, Customer, Order, Refund, SourceIdentity, SyncCursor
from crmhub.core.testing.people import generate_people
from crmhub.plugins.shopify.fake import FakeShopify


def _orders(hub: Hub) -> dict[str, Order]:
    with hub.transaction() as session:
        rows = (
            session.execute(select(Order).where(Order.instance == "shopify.main")).scalars().all()
        )
        for row in rows:
            session.expunge(row)
    return {row.external_id: row for row in rows}


def _customer_of(hub: Hub, shopify_id: int) -> Customer:
    with hub.transaction() as session:
        row = session.execute(
            select(Customer)
            .join(SourceIdentity, SourceIdentity.customer_id == Customer.id)
            .where(
                SourceIdentity.instance == "shopify.main",
                SourceIdentity.external_id == str(shopify_id),
            )
        ).scalar_one()
        session.expunge(row)
    return row


def _cursor(hub: Hub, stream: str) -> dict[str, Any]:
    with hub.transaction() as session:
        row = session.get(SyncCursor, ("shopify.main", stream))
        return dict(row.state) if row is not None else {}


def test_a_first_sync_reads_every_customer_and_order_of_any_status(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    customers, orders = sync(shopify_hub)

    assert (
        customers.records_read
        == len(shop.customer_ids)
        == customers.expected_total
        == customers.actual_total
    )
    assert (
        orders.records_read == len(shop.order_ids) == orders.expected_total == orders.actual_total
    )
    assert customers.status == orders.status == "succeeded"
    stored = _orders(shopify_hub)
    closed = [oid for oid in shop.order_ids if shop.order(oid)["closed_at"]]
    assert closed and all(
        str(oid) in stored for oid in closed
    )  # status=any, not Shopify's default open
    for oid in shop.order_ids:
        raw, row = shop.order(oid), stored[str(oid)]
        assert row.total == Decimal(raw["total_price"]) and row.currency == raw["currency"]
        assert row.refunded == sum(
            (Decimal(t["amount"]) for r in raw["refunds"] for t in r["transactions"]), Decimal(0)
        )
    # customer fields and consent
    cid = shop.customer_ids[0]
    raw = shop.customer(cid)
    customer = _customer_of(shopify_hub, cid)
    assert customer.email == raw["email"].lower() and customer.first_name == raw["first_name"]
    assert customer.tags == [t.strip() for t in raw["tags"].split(",") if t.strip()]
    with shopify_hub.transaction() as session:
        consent = session.execute(
            select(Consent).where(Consent.customer_id == customer.id, Consent.channel == "email")
        ).scalar_one()
    assert consent.granted == (raw["email_marketing_consent"]["state"] == "subscribed")


def test_guest_orders_are_matched_to_the_customer_by_email(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    known = shop.customer(shop.customer_ids[0])
    person = generate_people(1, seed=99)[0]
    guest = shop.add_order(None, person=person)
    guest_of_known = shop.add_order(
        None, person=person, email=known["email"].upper(), customer=None
    )

    sync(shopify_hub)

    stored = _orders(shopify_hub)
    assert (
        stored[str(guest_of_known["id"])].customer_id == _customer_of(shopify_hub, known["id"]).id
    )
    assert stored[str(guest["id"])].customer_id != _customer_of(shopify_hub, known["id"]).id


def test_pages_follow_the_link_header_with_filters_on_the_first_request_only(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(shop, page_size=7)
    sync(hub)
    shop.clock.advance(hours=2)
    for cid in shop.customer_ids[:20]:
        shop.update_customer(cid, note="changed")
    before = shop.counters.by_endpoint["customers.list"]

    (customers,) = sync(hub, "customers")

    # updated_at_min filtered the first page; the fake refuses it next to page_info (400),
    # so three pages of at most 7 mean the next links were followed exactly as given
    assert (
        customers.records_read == 21
    )  # the 20 changed + the newest of the last run (inclusive edge)
    assert customers.status == "succeeded"
    assert shop.counters.by_endpoint["customers.list"] - before == 3


def test_an_incremental_sync_reads_what_changed_since_the_cursor_minus_the_lookback(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    sync(shopify_hub)
    first_since = _cursor(shopify_hub, "orders")["since"]
    shop.clock.advance(hours=5)
    changed_customer = shop.update_customer(shop.customer_ids[3], tags="vip, returning")
    paid = [
        oid
        for oid in shop.order_ids
        if shop.order(oid)["financial_status"] == "paid"
        and not shop.order(oid)["cancelled_at"]
        and not shop.order(oid)["refunds"]
    ]
    refund = shop.refund_order(paid[0], "5.00")
    cancelled = shop.cancel_order(paid[1])
    new_order = shop.add_order(shop.customer_ids[4])

    customers, orders = sync(shopify_hub)

    # three changed orders, and the newest of the last run again (the cursor's inclusive edge)
    assert (
        orders.records_read == 4 and orders.created + orders.updated == 3 and orders.unchanged == 1
    )
    assert customers.records_read <= 5  # Shopify bumps the customers of changed orders too
    assert customers.status == orders.status == "succeeded"
    assert _customer_of(shopify_hub, changed_customer["id"]).tags == ["vip", "returning"]
    stored = _orders(shopify_hub)
    assert (
        stored[str(paid[0])].refunded == Decimal("5.00")
        and stored[str(paid[0])].status == "partially_refunded"
    )
    assert (
        stored[str(cancelled["id"])].status == "cancelled"
        and stored[str(cancelled["id"])].cancelled_at
    )
    assert str(new_order["id"]) in stored
    with shopify_hub.transaction() as session:
        assert session.execute(
            select(Refund.external_id).where(Refund.order_id == stored[str(paid[0])].id)
        ).scalar_one() == str(refund["id"])
    assert _cursor(shopify_hub, "orders")["since"] > first_since


def test_a_full_resync_reads_everything_again_and_changes_nothing(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    sync(shopify_hub)
    customers, orders = sync(shopify_hub, full=True)
    assert customers.records_read == len(shop.customer_ids) and orders.records_read == len(
        shop.order_ids
    )
    assert customers.created == customers.updated == orders.created == orders.updated == 0


def test_a_killed_sync_resumes_at_the_page_it_stopped_on(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(shop, page_size=10, records_per_commit=20, streams=["orders"])
    assert sync(hub, max_pages=3) == []  # three commits of two requests each, then killed
    stored = _cursor(hub, "orders")
    assert stored["resume"]["next_url"] and "page_info=" in stored["resume"]["next_url"]
    before = shop.counters.by_endpoint["orders.list"]

    (orders,) = sync(hub)

    assert orders.records_read == len(shop.order_ids) - 60
    assert shop.counters.by_endpoint["orders.list"] - before == 3  # requests 7 … 9, none read twice
    assert orders.status == "succeeded" and _cursor(hub, "orders")["resume"] is None


def test_a_record_saved_during_a_run_behind_its_page_is_read_by_the_next_run(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(
        shop, page_size=10, records_per_commit=10, streams=["customers"], lookback="1m"
    )
    stream = hub.plugins.source_streams(hub, hub.instance("shopify.main"))[0]
    started = shop.clock.now()
    # Given a run that has read its first page …
    pages = stream.read(None, full=True)
    last = next(pages).state
    # … when a customer it passed changes, then one it has yet to reach changes later
    shop.clock.advance(hours=2)
    passed = shop.update_customer(shop.customer_ids[0], tags="moved")
    shop.clock.advance(hours=2)
    shop.update_customer(shop.customer_ids[-1], tags="later")
    for page in pages:
        last = page.state
    finished = stream.finish(last)
    # then the cursor stops at the run's start, not at the newest update it saw …
    assert finished.since == started and finished.resume is None
    with hub.transaction() as session:
        session.merge(
            SyncCursor(
                instance="shopify.main", stream="customers", state=finished.model_dump(mode="json")
            )
        )
    # … so the next run reads the change the first one missed
    (customers,) = sync(hub)
    assert customers.records_read == 2
    assert _customer_of(hub, passed["id"]).tags == ["moved"]


def test_records_the_hub_lacks_are_reported_as_a_gap(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    sync(shopify_hub)
    shop.delete_customer(shop.customer_ids[5])  # the customers/delete webhook never came
    shop.delete_order(shop.order_ids[7])

    customers, orders = sync(shopify_hub)

    assert (customers.expected_total, customers.actual_total) == (
        len(shop.customer_ids),
        len(shop.customer_ids) + 1,
    )
    assert (orders.expected_total, orders.actual_total) == (
        len(shop.order_ids),
        len(shop.order_ids) + 1,
    )
    assert customers.status == orders.status == "completed_with_gaps"


def test_an_unreadable_record_is_skipped_logged_and_shows_as_a_gap(
    shopify_hub: Hub, shop: FakeShopify, sync: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    broken = shop.order_ids[2]
    shop.update_order(broken, total_price="not money", currency=None)

    _, orders = sync(shopify_hub)

    assert orders.records_read == len(shop.order_ids) - 1 and orders.status == "completed_with_gaps"
    assert f"skipping unreadable Shopify orders {broken}" in caplog.text


def test_the_streams_setting_chooses_what_a_sync_reads(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(shop, streams=["orders"])
    (orders,) = sync(hub)
    assert orders.stream == "orders"
    with hub.transaction() as session:  # customers come only as references from orders
        kinds = set(
            session.execute(
                select(SourceIdentity.kind).where(SourceIdentity.instance == "shopify.main")
            ).scalars()
        )
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == len(
            shop.order_ids
        )
    assert kinds <= {"customer", "guest"}


def test_a_wrong_token_fails_at_once_without_showing_it(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = make_shopify_hub(shop, access_token="shpat_wrong_token_1234")
    with pytest.raises(RemoteAuthError) as raised:
        sync(hub)
    assert "401" in str(raised.value) and "shpat_wrong_token_1234" not in str(raised.value)
    assert shop.counters.unauthorized == 1

"""Webhooks as the fake Shopify signs and sends them: verification, every topic, retries
of the same delivery, and late retries that must not overwrite newer data."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.core.errors import WebhookMalformed, WebhookRejected
from crmhub.core.hub import Hub
from crmhub.core.models import Customer, Order, OrderLine, SourceIdentity
from crmhub.plugins.shopify.fake import FakeShopify
from crmhub.plugins.shopify.webhooks import signature


def _order(hub: Hub, order_id: int) -> Order | None:
    with hub.transaction() as session:
        row = session.execute(
            select(Order).where(Order.external_id == str(order_id))
        ).scalar_one_or_none()
        if row is not None:
            session.expunge(row)
        return row


def _identity(hub: Hub, customer_id: int) -> SourceIdentity | None:
    with hub.transaction() as session:
        row = session.execute(
            select(SourceIdentity).where(
                SourceIdentity.instance == "shopify.main",
                SourceIdentity.external_id == str(customer_id),
            )
        ).scalar_one_or_none()
        if row is not None:
            session.expunge(row)
        return row


def _customer(hub: Hub, customer_id: int) -> Customer:
    identity = _identity(hub, customer_id)
    assert identity is not None
    with hub.transaction() as session:
        row = session.get(Customer, identity.customer_id)
        assert row is not None
        session.expunge(row)
        return row


# --- verification ----------------------------------------------------------------------------


def test_a_signed_delivery_is_verified_with_its_id_topic_and_time(
    deliveries: Any, shop: FakeShopify
) -> None:
    cid = shop.customer_ids[0]
    request = deliveries.send(
        "customers/update",
        shop.webhook_payload("customers/update", cid),
        triggered_at=datetime(2026, 3, 2, 9, 31, 15, 250000, tzinfo=UTC),
    )

    delivery = deliveries.verify(request)

    assert delivery.delivery_id == request.header("x-shopify-webhook-id")
    assert delivery.topic == "customers/update" and delivery.store
    assert delivery.occurred_at == datetime(2026, 3, 2, 9, 31, 15, 250000, tzinfo=UTC)
    assert "x-shopify-hmac-sha256" not in delivery.headers
    assert delivery.headers["x-shopify-shop-domain"] == shop.shop_domain


@pytest.mark.parametrize("options", [{"tamper": True}, {"secret": "another-apps-secret"}])
def test_a_bad_signature_is_rejected(
    deliveries: Any, shop: FakeShopify, options: dict[str, Any]
) -> None:
    request = deliveries.send(
        "orders/create", shop.webhook_payload("orders/create", shop.order_ids[0]), **options
    )
    with pytest.raises(WebhookRejected) as raised:
        deliveries.verify(request)
    assert raised.value.status_code == 401


def test_a_missing_signature_is_rejected(deliveries: Any, shop: FakeShopify) -> None:
    request = deliveries.send("orders/create", {"id": 1})
    headers = {k: v for k, v in request.headers.items() if k != "x-shopify-hmac-sha256"}
    with pytest.raises(WebhookRejected):
        deliveries.verify(replace(request, headers=headers))


def test_a_delivery_for_another_shop_is_rejected_even_when_signed(
    deliveries: Any, shop: FakeShopify
) -> None:
    request = deliveries.send("shop/redact", {"shop_id": 1, "shop_domain": "other.myshopify.com"})
    headers = {**request.headers, "x-shopify-shop-domain": "other.myshopify.com"}
    with pytest.raises(WebhookRejected, match="other.myshopify.com"):
        deliveries.verify(replace(request, headers=headers))


def test_the_previous_secret_is_accepted_during_a_rotation(
    make_shopify_hub: Callable[..., Hub], shop: FakeShopify, make_deliveries: Callable[[Hub], Any]
) -> None:
    hub = make_shopify_hub(
        shop, webhook_secret="the-new-secret", previous_webhook_secret=shop.webhook_secret
    )
    sender = make_deliveries(hub)
    old = sender.send(
        "customers/update", shop.webhook_payload("customers/update", shop.customer_ids[0])
    )
    new = sender.send(
        "customers/update",
        shop.webhook_payload("customers/update", shop.customer_ids[0]),
        secret="the-new-secret",
    )
    assert sender.verify(old).delivery_id != sender.verify(new).delivery_id
    with pytest.raises(WebhookRejected):
        sender.verify(sender.send("customers/update", {"id": 1}, secret="neither"))


def test_signed_bodies_that_are_not_json_objects_or_lack_headers_are_malformed(
    deliveries: Any,
) -> None:
    with pytest.raises(WebhookMalformed):
        deliveries.verify(deliveries.send("orders/create", b"{not json"))
    with pytest.raises(WebhookMalformed):
        deliveries.verify(deliveries.send("orders/create", [1, 2]))
    request = deliveries.send("orders/create", {"id": 1})
    headers = {k: v for k, v in request.headers.items() if k != "x-shopify-webhook-id"}
    with pytest.raises(WebhookMalformed):
        deliveries.verify(replace(request, headers=headers))


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body(
    deliveries: Any, shop: FakeShopify
) -> None:
    request = deliveries.send("orders/create", {"id": 1, "note": "é ✓"})
    assert request.header("x-shopify-hmac-sha256") == signature(shop.webhook_secret, request.body)


def test_topics_the_plugin_does_not_handle_are_acknowledged_but_not_stored(deliveries: Any) -> None:
    assert deliveries.verify(deliveries.send("app/uninstalled", {"id": 1})).store is False


# --- topics ------------------------------------------------------------------------------------


def test_customer_topics_create_update_disable_and_delete(
    deliveries: Any, shop: FakeShopify
) -> None:
    hub = deliveries.hub
    created = shop.add_customer()
    deliveries.handle("customers/create", shop.webhook_payload("customers/create", created["id"]))
    assert _customer(hub, created["id"]).email == created["email"].lower()

    shop.clock.advance(60)
    shop.update_customer(created["id"], first_name="Renamed", state="disabled")
    deliveries.handle("customers/disable", shop.webhook_payload("customers/disable", created["id"]))
    customer = _customer(hub, created["id"])
    assert customer.first_name == "Renamed" and customer.attributes["state"] == "disabled"

    shop.clock.advance(60)
    shop.delete_customer(created["id"])
    result = deliveries.handle(
        "customers/delete", shop.webhook_payload("customers/delete", created["id"])
    )
    assert result.deleted == 1
    identity = _identity(hub, created["id"])
    assert identity is not None and identity.deleted_at is not None


def test_order_topics_create_pay_cancel_and_delete(deliveries: Any, shop: FakeShopify) -> None:
    hub = deliveries.hub
    order = shop.add_order(shop.customer_ids[1], financial_status="pending")
    deliveries.handle("orders/create", shop.webhook_payload("orders/create", order["id"]))
    assert _order(hub, order["id"]).status == "pending"  # type: ignore[union-attr]

    shop.clock.advance(60)
    shop.update_order(order["id"], financial_status="paid")
    deliveries.handle("orders/paid", shop.webhook_payload("orders/paid", order["id"]))
    assert _order(hub, order["id"]).status == "paid"  # type: ignore[union-attr]

    shop.clock.advance(60)
    shop.cancel_order(order["id"])
    deliveries.handle("orders/cancelled", shop.webhook_payload("orders/cancelled", order["id"]))
    cancelled = _order(hub, order["id"])
    assert (
        cancelled is not None and cancelled.status == "cancelled" and cancelled.net_total_base == 0
    )

    shop.clock.advance(60)
    shop.delete_order(order["id"])
    deliveries.handle("orders/delete", shop.webhook_payload("orders/delete", order["id"]))
    deleted = _order(hub, order["id"])
    assert deleted is not None and deleted.deleted_at is not None
    assert deleted.total == Decimal(order["total_price"])  # what it was stays for the record
    with hub.transaction() as session:
        lines = (
            session.execute(select(OrderLine).where(OrderLine.order_id == deleted.id))
            .scalars()
            .all()
        )
    assert len(lines) == len(order["line_items"])


def test_deleting_an_order_the_hub_never_had_changes_nothing(deliveries: Any) -> None:
    assert deliveries.handle("orders/delete", {"id": 404}).written == 0


def test_a_guest_order_webhook_finds_the_customer_by_email(
    deliveries: Any, shop: FakeShopify, sync: Any
) -> None:
    sync(deliveries.hub, "customers")
    known = shop.customer(shop.customer_ids[2])
    guest = shop.add_order(None, email=known["email"], customer=None)
    deliveries.handle("orders/create", shop.webhook_payload("orders/create", guest["id"]))
    assert (
        _order(deliveries.hub, guest["id"]).customer_id == _customer(deliveries.hub, known["id"]).id
    )  # type: ignore[union-attr]


def test_refunds_create_reads_the_whole_order_again(deliveries: Any, shop: FakeShopify) -> None:
    order = shop.add_order(shop.customer_ids[1])
    deliveries.handle("orders/create", shop.webhook_payload("orders/create", order["id"]))
    shop.clock.advance(3600)
    refund = shop.refund_order(order["id"], "12.50")

    deliveries.handle("refunds/create", shop.webhook_payload("refunds/create", order["id"]))

    stored = _order(deliveries.hub, order["id"])
    assert (
        stored is not None
        and stored.refunded == Decimal("12.50")
        and stored.status == "partially_refunded"
    )
    assert shop.counters.by_endpoint["orders.get"] == 1
    assert json.loads(deliveries.receiver.requests[-1].body)["id"] == refund["id"]


def test_a_refund_of_an_order_deleted_since_changes_nothing(
    deliveries: Any, shop: FakeShopify
) -> None:
    order = shop.add_order(shop.customer_ids[1])
    shop.refund_order(order["id"])
    payload = shop.webhook_payload("refunds/create", order["id"])
    shop.delete_order(order["id"])
    assert deliveries.handle("refunds/create", payload).written == 0


# --- retries ----------------------------------------------------------------------------------


def test_a_retried_delivery_has_the_same_id_and_is_processed_once(
    deliveries: Any, shop: FakeShopify
) -> None:
    order = shop.add_order(shop.customer_ids[0])
    first = deliveries.send("orders/create", shop.webhook_payload("orders/create", order["id"]))
    assert deliveries.process(deliveries.store(first)).created == 1

    shop.redeliver()
    again = deliveries.request()

    assert (
        again.body == first.body
        and deliveries.verify(again).delivery_id == deliveries.verify(first).delivery_id
    )
    assert deliveries.store(again) is None  # the inbox already holds it


def test_a_late_retry_of_an_old_delivery_never_overwrites_newer_data(
    deliveries: Any, shop: FakeShopify
) -> None:
    hub = deliveries.hub
    cid = shop.customer_ids[0]
    order = shop.add_order(cid)
    # Given deliveries our endpoint failed to take (Shopify will retry them later) …
    deliveries.receiver.status = 500
    shop.deliver(
        deliveries.url + "/webhooks/shopify/main",
        "orders/create",
        shop.webhook_payload("orders/create", order["id"]),
    )
    stale_order = shop.deliveries[-1].webhook_id
    shop.deliver(
        deliveries.url + "/webhooks/shopify/main",
        "customers/update",
        shop.webhook_payload("customers/update", cid),
    )
    stale_customer = shop.deliveries[-1].webhook_id
    deliveries.receiver.status = 200
    # … and newer changes that did arrive
    shop.clock.advance(600)
    shop.cancel_order(order["id"])
    shop.update_customer(cid, last_name="Newer")
    deliveries.handle("orders/cancelled", shop.webhook_payload("orders/cancelled", order["id"]))
    deliveries.handle("customers/update", shop.webhook_payload("customers/update", cid))
    # When the old deliveries finally come back
    shop.clock.advance(3600)
    for webhook_id in (stale_order, stale_customer):
        shop.redeliver(webhook_id)
        result = deliveries.process(deliveries.store(deliveries.request()))
        assert result.written == 0
    # Then the hub keeps the newer state
    assert _order(hub, order["id"]).status == "cancelled"  # type: ignore[union-attr]
    assert _customer(hub, cid).last_name == "Newer"


def test_a_late_create_after_a_delete_does_not_bring_the_customer_back(
    deliveries: Any, shop: FakeShopify
) -> None:
    created = shop.add_customer()
    payload = shop.webhook_payload("customers/create", created["id"])
    deliveries.handle("customers/create", payload)
    shop.clock.advance(60)
    shop.delete_customer(created["id"])
    deliveries.handle("customers/delete", {"id": created["id"]})
    shop.clock.advance(60)

    deliveries.handle("customers/update", payload)  # an old payload arriving late

    identity = _identity(deliveries.hub, created["id"])
    assert identity is not None and identity.deleted_at is not None

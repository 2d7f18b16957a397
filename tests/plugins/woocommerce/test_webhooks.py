"""Webhooks as the fake WooCommerce sends them (captured on a real receiver), verified and
processed by the plugin's hooks through a stand-in for the intake route."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from crmhub.core.errors import WebhookMalformed, WebhookRejected
from crmhub.core.models import WebhookEvent
from crmhub.core.webhooks import WebhookRequest
from crmhub.plugins.woocommerce.webhooks import verify
from tests.plugins.woocommerce.conftest import SECRET, START, hook_url
from tests.plugins.woocommerce.support import (
    Runner,
    count,
    customer,
    identity,
    intake,
    stored_order,
)


@pytest.fixture
def hooks(woo, receiver):
    """Subscriptions for every customer and order topic, to the hub's URL, created with a ping."""
    return {
        topic: woo.create_webhook(topic, hook_url(receiver), secret=SECRET, ping=True)
        for topic in [
            f"{r}.{e}"
            for r in ("customer", "order")
            for e in ("created", "updated", "deleted", "restored")
        ]
    }


def send(woo, receiver, hooks, topic, payload):
    """Deliver ``payload`` for ``topic`` and return what the receiver got."""
    before = len(receiver[0].requests)
    woo.deliver(hooks[topic].id, topic, payload)
    assert len(receiver[0].requests) == before + 1
    return receiver[0].requests[-1]


def test_the_creation_ping_is_answered_200_and_nothing_is_stored(runner, woo, receiver, hooks):
    pings = [r for r in receiver[0].requests if b"webhook_id=" in r.body]
    assert len(pings) == len(hooks)
    assert not any(k.startswith("x-wc-") for k in pings[0].headers)
    assert {intake(runner.hub, p, at=START) for p in pings} == {200}
    assert count(runner.hub, WebhookEvent) == 0
    assert all(d.error is None for d in woo.deliveries if d.ping)


def test_a_signed_order_delivery_is_stored_once_and_processed(runner, woo, receiver, hooks):
    order_id = woo.order_ids[0]
    woo.update_order(order_id, status="completed")
    got = send(
        woo, receiver, hooks, "order.updated", woo.webhook_payload("order.updated", order_id)
    )
    assert got.headers["x-wc-webhook-signature"]

    assert intake(runner.hub, got, at=START) == 200
    assert intake(runner.hub, got, at=START + timedelta(seconds=5)) == 200  # a duplicate
    assert count(runner.hub, WebhookEvent) == 1
    row = stored_order(runner.hub, order_id)
    assert row.status == "fulfilled"
    assert row.total == Decimal(woo.order(order_id)["total"]) and row.currency == "EUR"


def test_the_documented_delivery_id_header_is_accepted_too(runner, woo, receiver, hooks):
    got = send(
        woo,
        receiver,
        hooks,
        "customer.updated",
        woo.webhook_payload("customer.updated", woo.customer_ids[2]),
    )
    headers = dict(got.headers)
    delivery = headers.pop("x-wc-webhook-delivery-id")
    documented = replace(got, headers={**headers, "x-wc-delivery-id": delivery})
    assert intake(runner.hub, documented, at=START) == 200
    assert intake(runner.hub, got, at=START) == 200  # same id under the other name
    events = count(runner.hub, WebhookEvent, WebhookEvent.delivery_id == delivery)
    assert events == 1
    assert customer(runner.hub, woo.customer_ids[2]).email


def test_bad_or_missing_signatures_are_rejected_and_nothing_is_stored(runner, woo, receiver, hooks):
    got = send(
        woo,
        receiver,
        hooks,
        "order.created",
        woo.webhook_payload("order.created", woo.order_ids[1]),
    )
    tampered = replace(got, body=got.body.replace(b'"status"', b'"Status"'))
    unsigned = replace(got, headers={k: v for k, v in got.headers.items() if "signature" not in k})
    forged = replace(
        got,
        headers={
            **got.headers,
            "x-wc-webhook-signature": "AAAA" + got.headers["x-wc-webhook-signature"][4:],
        },
    )
    assert [intake(runner.hub, r, at=START) for r in (tampered, unsigned, forged)] == [
        401,
        401,
        401,
    ]
    assert count(runner.hub, WebhookEvent) == 0


def test_a_hub_with_another_secret_rejects_the_delivery(woo_hub, woo, receiver, hooks):
    hub = woo_hub(webhook_secret="not-the-secret")
    got = send(
        woo,
        receiver,
        hooks,
        "order.created",
        woo.webhook_payload("order.created", woo.order_ids[1]),
    )
    assert intake(hub, got, at=START) == 401


@pytest.mark.parametrize("configured", [SECRET, "wh_s3cret&<test>"])
def test_the_secret_is_entity_decoded_as_woocommerce_signs(
    woo_hub, woo, receiver, hooks, configured
):
    # WooCommerce signs with wp_specialchars_decode(secret): "&amp;" counts as "&"
    hub = woo_hub(webhook_secret=configured)
    got = send(
        woo,
        receiver,
        hooks,
        "order.created",
        woo.webhook_payload("order.created", woo.order_ids[1]),
    )
    assert intake(hub, got, at=START) == 200


def test_topics_the_hub_does_not_use_are_acknowledged_without_storing(woo, receiver, runner):
    product = woo.create_webhook("product.updated", hook_url(receiver), secret=SECRET)
    woo.deliver(product.id, None, {"id": 93, "name": "Woo Single #1"})
    assert intake(runner.hub, receiver[0].requests[-1], at=START) == 200
    assert count(runner.hub, WebhookEvent) == 0


def test_a_signed_body_that_is_not_a_resource_is_malformed(runner, hooks):
    instance = runner.hub.instance("woocommerce.main")
    from crmhub.plugins.woocommerce.fake_webhooks import wc_signature

    for body in (b"not json", b"[1,2]", b'{"name":"no id"}'):
        request = WebhookRequest(
            "POST",
            "http://hub/webhooks/woocommerce/main",
            {
                "x-wc-webhook-topic": "order.updated",
                "x-wc-webhook-delivery-id": "d1",
                "x-wc-webhook-signature": wc_signature(SECRET, body),
            },
            body,
            START,
        )
        with pytest.raises(WebhookMalformed):
            verify(instance, request)
    with pytest.raises(WebhookRejected):
        verify(instance, WebhookRequest("POST", "http://hub/x", {}, b"webhook_id=abc", START))


def test_deleted_orders_keep_their_amounts_and_restored_ones_come_back(
    runner, woo, receiver, hooks, clock
):
    runner.sync()
    order_id = woo.order_ids[4]
    total = stored_order(runner.hub, order_id).total
    clock.advance(minutes=5)
    woo.delete_order(order_id, force=True)
    got = send(
        woo, receiver, hooks, "order.deleted", woo.webhook_payload("order.deleted", order_id)
    )
    assert got.body == f'{{"id":{order_id}}}'.encode()
    assert intake(runner.hub, got, at=clock.now()) == 200
    row = stored_order(runner.hub, order_id)
    assert row.deleted_at is not None and row.total == total

    restored = {**woo.order(woo.order_ids[5]), "id": order_id}
    clock.advance(minutes=5)
    restored["date_modified_gmt"] = clock.now().strftime("%Y-%m-%dT%H:%M:%S")
    got = send(woo, receiver, hooks, "order.restored", restored)
    assert intake(runner.hub, got, at=clock.now()) == 200
    assert stored_order(runner.hub, order_id).deleted_at is None


def test_deleted_customers_lose_their_identity_but_not_their_orders(
    runner, woo, receiver, hooks, clock
):
    runner.sync()
    gone = next(o["customer_id"] for o in map(woo.order, woo.order_ids) if o["customer_id"])
    clock.advance(minutes=5)
    woo.delete_customer(gone)
    got = send(woo, receiver, hooks, "customer.deleted", {"id": gone})
    assert intake(runner.hub, got, at=clock.now()) == 200
    assert identity(runner.hub, gone).deleted_at is not None
    assert customer(runner.hub, gone).status == "active"  # orders and history stay


def test_new_customers_and_guest_orders_arrive_by_webhook_before_any_sync(
    runner, woo, receiver, hooks
):
    fresh = woo.add_customer()
    got = send(
        woo,
        receiver,
        hooks,
        "customer.created",
        woo.webhook_payload("customer.created", fresh["id"]),
    )
    assert intake(runner.hub, got, at=START) == 200
    guest = woo.add_order(0)
    got = send(
        woo, receiver, hooks, "order.created", woo.webhook_payload("order.created", guest["id"])
    )
    assert intake(runner.hub, got, at=START) == 200
    assert customer(runner.hub, fresh["id"]).email == fresh["email"].lower()
    email = guest["billing"]["email"].lower()
    assert (
        stored_order(runner.hub, guest["id"]).customer_id
        == identity(runner.hub, f"guest:{email}").customer_id
    )


def test_sync_after_webhooks_changes_nothing(runner, woo, receiver, hooks, clock):
    runner.sync()
    clock.advance(minutes=5)
    order = woo.update_order(woo.order_ids[7], status="cancelled")
    got = send(woo, receiver, hooks, "order.updated", order)
    assert intake(runner.hub, got, at=clock.now()) == 200
    done = Runner(runner.hub).sync("orders")  # a fresh runner: state-less, reads everything
    assert done.ingested.created == 0 and done.ingested.updated == 0

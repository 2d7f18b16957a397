"""The mandatory privacy webhooks: data requests, customer redaction and shop redaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.core.errors import WebhookRejected
from crmhub.core.hub import Hub
from crmhub.core.ingest import ingestor
from crmhub.core.models import (
    Customer,
    Job,
    Order,
    PrivacyRequest,
    SourceIdentity,
    SyncCursor,
    WebhookEvent,
)
from crmhub.core.records import CustomerRecord
from crmhub.plugins.shopify.fake import FakeShopify


def _rows(hub: Hub, statement: Any) -> list[Any]:
    with hub.transaction() as session:
        return list(session.execute(statement).all())


def _customer_id(hub: Hub, shopify_id: int) -> int:
    return _rows(
        hub,
        select(SourceIdentity.customer_id).where(
            SourceIdentity.instance == "shopify.main", SourceIdentity.external_id == str(shopify_id)
        ),
    )[0][0]


def _buyer(shop: FakeShopify) -> int:
    """A customer with at least two orders."""
    return next(cid for cid in shop.customer_ids if shop.customer(cid)["orders_count"] >= 2)


def test_a_data_request_assembles_the_export_and_records_shopifys_request(
    deliveries: Any, shop: FakeShopify, sync: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    hub = deliveries.hub
    sync(hub)
    cid = _buyer(shop)
    payload = shop.privacy_payload("customers/data_request", cid)
    caplog.set_level(logging.DEBUG)

    event_id = deliveries.store(deliveries.send("customers/data_request", payload))
    assert deliveries.process(event_id).written == 0

    ((request,),) = _rows(hub, select(PrivacyRequest))
    assert (request.kind, request.customer_id, request.source) == (
        "export",
        _customer_id(hub, cid),
        "shopify.main",
    )
    assert request.details["shopify_data_request_id"] == payload["data_request"]["id"]
    assert request.details["orders_requested"] == [str(o) for o in payload["orders_requested"]]
    assert "orders" in request.details["sections"] and request.completed_at is not None
    assert _rows(hub, select(WebhookEvent.body).where(WebhookEvent.id == event_id)) == [(None,)]
    email = shop.customer(cid)["email"]
    assert (
        email.lower() not in caplog.text.lower()
        and str(payload["data_request"]["id"]) in caplog.text
    )


def test_a_data_request_for_a_customer_the_hub_never_saw_is_recorded_as_not_found(
    deliveries: Any, shop: FakeShopify
) -> None:
    deliveries.handle(
        "customers/data_request",
        shop.privacy_payload("customers/data_request", shop.customer_ids[0]),
    )
    ((request,),) = _rows(deliveries.hub, select(PrivacyRequest))
    assert (
        request.customer_id is None
        and request.details["found"] is False
        and request.completed_at is None
    )


def test_customers_redact_erases_the_customer_and_their_orders_for_good(
    deliveries: Any, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = deliveries.hub
    sync(hub)
    cid = _buyer(shop)
    customer_id = _customer_id(hub, cid)
    payload = shop.privacy_payload("customers/redact", cid)

    deliveries.handle("customers/redact", payload)

    ((status, email),) = _rows(
        hub, select(Customer.status, Customer.email).where(Customer.id == customer_id)
    )
    assert (status, email) == ("erased", None)
    orders = _rows(
        hub,
        select(Order.external_id, Order.email, Order.attributes).where(
            Order.customer_id == customer_id
        ),
    )
    assert {o.external_id for o in orders} >= {str(o) for o in payload["orders_to_redact"]}
    assert all(o.email is None and o.attributes == {} for o in orders)
    ((request_id,),) = _rows(hub, select(PrivacyRequest.id).where(PrivacyRequest.kind == "erase"))
    ((actor, args),) = _rows(hub, select(Job.actor, Job.args))
    assert (actor, args) == ("erasure", {"request_id": request_id})
    # a later sync, even after the order changed in Shopify, brings nothing back
    shop.clock.advance(3600)
    shop.refund_order(payload["orders_to_redact"][0], "1.00")
    shop.update_customer(cid, first_name="Back")
    sync(hub, full=True)
    ((status, email),) = _rows(
        hub, select(Customer.status, Customer.email).where(Customer.id == customer_id)
    )
    assert (status, email) == ("erased", None)
    assert all(
        email is None
        for (email,) in _rows(hub, select(Order.email).where(Order.customer_id == customer_id))
    )


def test_customers_redact_strips_listed_orders_of_a_customer_the_hub_does_not_know(
    deliveries: Any, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = deliveries.hub
    sync(hub, "orders")
    cid = _buyer(shop)
    payload = shop.privacy_payload("customers/redact", cid)
    with (
        hub.transaction() as session
    ):  # the hub knows the orders, but the customer by another email
        session.execute(
            Customer.__table__.update()
            .where(Customer.id == _customer_id(hub, cid))
            .values(email="x@y.z")
        )
        session.execute(
            SourceIdentity.__table__.delete().where(SourceIdentity.external_id == str(cid))
        )

    deliveries.handle("customers/redact", payload)

    listed = [str(o) for o in payload["orders_to_redact"]]
    assert all(
        email is None
        for (email,) in _rows(hub, select(Order.email).where(Order.external_id.in_(listed)))
    )
    assert _rows(hub, select(Job.actor)) == []


def test_shop_redact_erases_what_came_only_from_the_shop_and_detaches_the_rest(
    deliveries: Any, shop: FakeShopify, sync: Callable[..., Any]
) -> None:
    hub = deliveries.hub
    sync(hub)
    shared = shop.customer(_buyer(shop))
    ingestor(hub).ingest_and_commit(
        [
            CustomerRecord(
                instance="hubspot.main",
                external_id="501",
                email=shared["email"],
                first_name="Known",
                last_name="Elsewhere",
            )
        ],
        source="hubspot.main",
    )
    shared_id = _customer_id(hub, shared["id"])
    deliveries.handle(
        "orders/create", shop.webhook_payload("orders/create", shop.order_ids[0])
    )  # a stored body

    deliveries.handle("shop/redact", shop.privacy_payload("shop/redact"))

    statuses = dict(_rows(hub, select(Customer.id, Customer.status)))
    assert statuses.pop(shared_id) == "active"
    assert set(statuses.values()) == {"erased"}
    instances = {
        i
        for (i,) in _rows(
            hub, select(SourceIdentity.instance).where(SourceIdentity.customer_id == shared_id)
        )
    }
    assert instances == {"hubspot.main"}
    assert (
        _rows(
            hub,
            select(SourceIdentity.id).where(
                SourceIdentity.instance == "shopify.main", SourceIdentity.erased.is_(False)
            ),
        )
        == []
    )
    orders = _rows(hub, select(Order.email, Order.attributes))
    assert len(orders) == len(shop.order_ids) and all(e is None and a == {} for e, a in orders)
    assert _rows(hub, select(WebhookEvent.id).where(WebhookEvent.body.is_not(None))) == []
    assert _rows(hub, select(SyncCursor.stream)) == []
    erasures = _rows(hub, select(Job.id).where(Job.actor == "erasure"))
    assert len(erasures) == len(statuses)
    ((details,),) = _rows(
        hub, select(PrivacyRequest.details).where(PrivacyRequest.customer_id.is_(None))
    )
    assert details["erased_customers"] == len(statuses) and details["detached_customers"] == 1


def test_a_privacy_webhook_with_a_bad_signature_is_rejected(
    deliveries: Any, shop: FakeShopify
) -> None:
    for topic in ("customers/data_request", "customers/redact"):
        request = deliveries.send(
            topic, shop.privacy_payload(topic, shop.customer_ids[0]), secret="forged"
        )
        with pytest.raises(WebhookRejected) as raised:
            deliveries.verify(request)
        assert raised.value.status_code == 401
    with pytest.raises(WebhookRejected):
        deliveries.verify(
            deliveries.send("shop/redact", shop.privacy_payload("shop/redact"), tamper=True)
        )

"""Shopify webhooks: verify a delivery, then turn a stored one into canonical records.

Verification (before anything is stored): ``X-Shopify-Hmac-Sha256`` must be
``base64(HMAC-SHA256(webhook_secret, raw body))``, compared in constant time (the
``previous_webhook_secret`` is accepted too while Shopify switches to a rotated one);
``X-Shopify-Shop-Domain`` must be this instance's shop when that is known; the delivery id
is ``X-Shopify-Webhook-Id`` (retries repeat it, so the inbox keeps one) and its time
``X-Shopify-Triggered-At``.

Processing: ``customers/*`` and ``orders/*`` carry the REST object, whose ``updated_at``
becomes the record's ``source_updated_at``, so a late retry of an old delivery changes
nothing. ``customers/delete`` and ``orders/delete`` carry only the id and are dated by
``X-Shopify-Triggered-At``. ``refunds/create`` carries the refund only: the order is read
again through the rate-limited client for its full state. The privacy topics act in the
hub (:mod:`crmhub.plugins.shopify.privacy`) and return no records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from crmhub.core.errors import WebhookMalformed, WebhookRejected
from crmhub.core.models import Order, OrderLine, Refund, SourceIdentity
from crmhub.core.records import (
    CanonicalRecord,
    CustomerRecord,
    OrderLineRecord,
    OrderRecord,
    RefundRecord,
    utc,
)
from crmhub.core.settings import secret_value
from crmhub.core.webhooks import WebhookDelivery, WebhookRequest
from crmhub.plugins.shopify.client import shopify_client
from crmhub.plugins.shopify.mapping import map_customer, map_order, parse_time
from crmhub.plugins.shopify.privacy import PRIVACY_TOPICS, handle_privacy

if TYPE_CHECKING:
    from datetime import datetime

    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.core.models import WebhookEvent
    from crmhub.plugins.shopify.settings import ShopifySettings

CUSTOMER_TOPICS = frozenset(
    {
        "customers/create",
        "customers/update",
        "customers/delete",
        "customers/enable",
        "customers/disable",
    }
)
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/delete",
        "refunds/create",
    }
)
TOPICS = CUSTOMER_TOPICS | ORDER_TOPICS | PRIVACY_TOPICS
KEPT_HEADERS = (
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
    "x-shopify-triggered-at",
    "x-shopify-event-id",
)


def signature(secret: str, body: bytes) -> str:
    """``base64(HMAC-SHA256(secret, body))``: what ``X-Shopify-Hmac-Sha256`` must say."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(instance: Instance[ShopifySettings], request: WebhookRequest) -> WebhookDelivery:
    """Check a delivery's signature and shop; return its id, topic and trigger time.

    :raises WebhookRejected: missing or wrong HMAC, or another shop's delivery (→ 401).
    :raises WebhookMalformed: no topic or webhook id, or a body that is not JSON (→ 400).
    """
    settings = instance.settings
    given = (request.header("x-shopify-hmac-sha256") or "").strip().encode()
    secrets = [settings.webhook_secret, settings.previous_webhook_secret]
    if not given or not any(
        hmac.compare_digest(signature(secret_value(s), request.body).encode(), given)
        for s in secrets
        if s
    ):
        raise WebhookRejected("X-Shopify-Hmac-Sha256 is missing or does not match the body")
    expected = settings.expected_shop_domain
    domain = (request.header("x-shopify-shop-domain") or "").strip().lower()
    if expected is not None and domain != expected:
        raise WebhookRejected(f"delivery for shop {domain or '(none)'}, not {expected}")
    topic = (request.header("x-shopify-topic") or "").strip()
    delivery_id = (request.header("x-shopify-webhook-id") or "").strip()
    if not topic or not delivery_id:
        raise WebhookMalformed("X-Shopify-Topic and X-Shopify-Webhook-Id are required")
    if not isinstance(request.json(), dict):
        raise WebhookMalformed("the body is not a JSON object")
    try:
        occurred = parse_time(request.header("x-shopify-triggered-at"))
    except ValueError:
        occurred = None
    headers = {name: value for name in KEPT_HEADERS if (value := request.header(name)) is not None}
    return WebhookDelivery(
        delivery_id=delivery_id,
        topic=topic,
        occurred_at=occurred,
        store=topic in TOPICS,
        headers=headers,
    )


@contextmanager
def event_session(hub: Hub, event: WebhookEvent) -> Iterator[Session]:
    """The transaction the event was loaded in (the worker's, so whatever the plugin does
    commits with the event), or a new one when the event stands alone."""
    session = object_session(event)
    if session is not None:
        yield session
    else:
        with hub.transaction() as own:
            yield own


def process(
    hub: Hub, instance: Instance[ShopifySettings], event: WebhookEvent
) -> list[CanonicalRecord]:
    """Records (or privacy actions) for one stored delivery."""
    if event.body is None:  # cleared by an erasure before it was processed
        return []
    try:
        payload: dict[str, Any] = json.loads(event.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookMalformed(f"stored body is not JSON: {type(exc).__name__}") from None
    topic = event.topic
    occurred = utc(event.occurred_at) if event.occurred_at is not None else hub.now()
    if topic in PRIVACY_TOPICS:
        with event_session(hub, event) as session:
            handle_privacy(hub, instance, session, topic, payload, event_id=event.id)
        return []
    if topic == "customers/delete":
        return [
            CustomerRecord(
                instance=instance.id,
                external_id=payload["id"],
                deleted=True,
                source_updated_at=occurred,
            )
        ]
    if topic in CUSTOMER_TOPICS:
        return [map_customer(payload, instance.id)]
    if topic == "orders/delete":
        with event_session(hub, event) as session:
            deleted = deleted_order(session, instance.id, str(payload["id"]), occurred)
        return [deleted] if deleted is not None else []
    if topic == "refunds/create":
        order = shopify_client(hub, instance).get("orders", payload["order_id"])
        return [map_order(order, instance.id)] if order is not None else []
    if topic in ORDER_TOPICS:
        return [map_order(payload, instance.id)]
    return []


def deleted_order(
    session: Session, instance: str, external_id: str, at: datetime
) -> OrderRecord | None:
    """The stored order as a deleted record (its amounts, lines and refunds unchanged), or
    None when the hub never had it."""
    row = session.execute(
        select(Order).where(Order.instance == instance, Order.external_id == external_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if row is None or row.id is None:
        return None
    customer_external_id = row.customer_external_id
    if customer_external_id is None and not row.email:  # a guest order whose email was erased
        customer_external_id = session.execute(
            select(SourceIdentity.external_id)
            .where(  # type: ignore[call-overload]
                SourceIdentity.customer_id == row.customer_id, SourceIdentity.instance == instance
            )
            .limit(1)
        ).scalar_one_or_none()
    lines = session.execute(select(OrderLine).where(OrderLine.order_id == row.id)).scalars()  # type: ignore[arg-type]
    refunds = session.execute(select(Refund).where(Refund.order_id == row.id)).scalars()  # type: ignore[arg-type]
    return OrderRecord(
        instance=instance,
        external_id=external_id,
        customer_external_id=customer_external_id,
        email=row.email,
        number=row.number,
        status=row.status,  # type: ignore[arg-type]
        financial_status=row.financial_status,
        currency=row.currency,
        total=row.total,
        subtotal=row.subtotal,
        tax=row.tax,
        discounts=row.discounts,
        placed_at=row.placed_at,
        cancelled_at=row.cancelled_at,
        tags=list(row.tags or []),
        attributes=dict(row.attributes or {}),
        lines=[
            OrderLineRecord(
                external_id=line.external_id,
                sku=line.sku,
                product_id=line.product_id,
                title=line.title,
                quantity=line.quantity,
                price=line.price,
            )
            for line in lines
        ],
        refunds=[
            RefundRecord(
                external_id=r.external_id, amount=r.amount, created_at=r.created_at, reason=r.reason
            )
            for r in refunds
        ],
        deleted=True,
        source_updated_at=at,
    )

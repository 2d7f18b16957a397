"""WooCommerce webhooks: verification of a delivery and its records.

WooCommerce signs ``X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, body))`` over the
exact body bytes (``trim(wp_json_encode($payload))``), with the secret after
``wp_specialchars_decode($secret, ENT_QUOTES)``. It sends no timestamp, so there is no
replay window; duplicates are caught by the delivery id (``X-WC-Webhook-Delivery-ID``, or
``X-WC-Delivery-ID`` as the documentation spells it).

When a webhook is created WooCommerce *pings* its URL: a form body ``webhook_id=N`` with no
``X-WC-*`` headers and no signature, which must be answered with exactly 200. It is
recognised by that shape and acknowledged without storing anything. Signed deliveries of
topics the hub does not use (products, coupons, actions) are acknowledged the same way, so
WooCommerce does not count them as failures and disable the webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crmhub.core.errors import WebhookMalformed, WebhookRejected
from crmhub.core.hub import Hub
from crmhub.core.instances import Instance
from crmhub.core.models import WebhookEvent
from crmhub.core.records import CanonicalRecord, CustomerRecord, OrderRecord
from crmhub.core.webhooks import WebhookDelivery, WebhookRequest
from crmhub.plugins.woocommerce.mapping import gmt, map_customer, map_order
from crmhub.plugins.woocommerce.reconcile import deleted_orders
from crmhub.plugins.woocommerce.settings import WooCommerceSettings

PING = re.compile(rb"^webhook_id=(\d+)$")
RESOURCES = ("customer", "order")
EVENTS = ("created", "updated", "deleted", "restored")
_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#0*39|#x0*27|#0*34|#x0*22);", re.IGNORECASE)
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}


def _decode_entity(match: re.Match[str]) -> str:
    name = match.group(0)[1:-1].lower()
    return _NAMED.get(name) or ("'" if name.lstrip("#x0") in ("39", "27") else '"')


def _keys(secret: str) -> list[bytes]:
    """The secret as configured, and as ``wp_specialchars_decode(…, ENT_QUOTES)`` leaves it
    (WooCommerce stores secrets HTML-escaped and decodes them before signing)."""
    return [s.encode("utf-8") for s in dict.fromkeys((secret, _ENTITY.sub(_decode_entity, secret)))]


def is_ping(request: WebhookRequest) -> bool:
    """The creation ping: ``webhook_id=N`` and no ``X-WC-*`` header."""
    return not any(name.startswith("x-wc-") for name in request.headers) and bool(
        PING.match(request.body.strip())
    )


def verify(instance: Instance[WooCommerceSettings], request: WebhookRequest) -> WebhookDelivery:
    """Verify a delivery (see the module docstring).

    :raises WebhookRejected: no signature, or one that does not match (→ 401).
    :raises WebhookMalformed: a signed body that is not a JSON object with an ``id`` (→ 400).
    """
    if is_ping(request):
        webhook_id = PING.match(request.body.strip()).group(1).decode()  # type: ignore[union-attr]
        return WebhookDelivery(delivery_id=f"ping-{webhook_id}", topic="ping", store=False)
    given = request.header("x-wc-webhook-signature")
    if not given:
        raise WebhookRejected("missing X-WC-Webhook-Signature")
    secret = instance.settings.webhook_secret.get_secret_value()
    expected = [
        base64.b64encode(hmac.new(key, request.body, hashlib.sha256).digest())
        for key in _keys(secret)
    ]
    if not any(hmac.compare_digest(given.strip().encode(), e) for e in expected):
        raise WebhookRejected("X-WC-Webhook-Signature does not match the body")
    topic = (request.header("x-wc-webhook-topic") or "").strip().lower()
    resource, _, event = topic.partition(".")
    delivery_id = request.header("x-wc-webhook-delivery-id") or request.header("x-wc-delivery-id")
    if not delivery_id:  # no id: the same body is the same delivery
        delivery_id = "sha256-" + hashlib.sha256(topic.encode() + b"\n" + request.body).hexdigest()
    if resource not in RESOURCES or event not in EVENTS:
        return WebhookDelivery(delivery_id=delivery_id, topic=topic, store=False)
    payload = request.json()
    if not isinstance(payload, dict) or "id" not in payload:
        raise WebhookMalformed(f"{topic} body is not a {resource} object with an id")
    return WebhookDelivery(
        delivery_id=delivery_id,
        topic=topic,
        occurred_at=gmt(payload.get("date_modified_gmt")) or request.received_at,
        headers={
            k: v
            for k, v in request.headers.items()
            if k.startswith("x-wc-") and "signature" not in k
        },
    )


def process(
    hub: Hub, instance: Instance[WooCommerceSettings], event: WebhookEvent
) -> list[CanonicalRecord]:
    """The records of a stored delivery: the resource, or a deletion for ``*.deleted``."""
    resource, _, action = event.topic.partition(".")
    payload: Any = WebhookRequest("POST", "", {}, event.body or b"", event.received_at).json()
    if resource not in RESOURCES or not isinstance(payload, dict) or "id" not in payload:
        return []
    at: datetime = event.occurred_at or event.received_at
    if action == "deleted":
        if resource == "customer":
            return [
                CustomerRecord(
                    instance=instance.id,
                    external_id=str(payload["id"]),
                    deleted=True,
                    source_updated_at=event.received_at,
                )
            ]
        with hub.transaction() as session:
            found: list[CanonicalRecord] = [
                *deleted_orders(session, instance.id, [str(payload["id"])], event.received_at)
            ]
        return found
    mapper: Callable[[str, dict[str, Any]], CustomerRecord | OrderRecord] = (
        map_customer if resource == "customer" else map_order
    )
    record = mapper(instance.id, payload)
    if record.source_updated_at is None:
        record.source_updated_at = at
    return [record]

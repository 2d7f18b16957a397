"""Webhook deliveries of the fake Shopify, signed and shaped as Shopify sends them.

A delivery is a ``POST`` with ``Content-Type: application/json`` and the headers listed in
Shopify's "delivery structure" docs: ``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256``
(``base64(HMAC-SHA256(client secret, raw body))``), ``X-Shopify-Shop-Domain``,
``X-Shopify-API-Version``, ``X-Shopify-Webhook-Id`` (a UUID, unique per delivery and the
key to dedupe on), ``X-Shopify-Triggered-At`` and ``X-Shopify-Event-Id`` (shared by every
delivery caused by one merchant action).

Shopify retries a failed delivery with the *original* payload, id and headers;
:meth:`ShopifyWebhookSender.redeliver` does exactly that, which is how a test checks that
a receiver processes a retried delivery once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

__all__ = [
    "CUSTOMER_TOPICS",
    "ORDER_TOPICS",
    "PRIVACY_TOPICS",
    "ShopifyDelivery",
    "ShopifyWebhookSender",
    "privacy_payload",
    "shopify_hmac",
]

CUSTOMER_TOPICS = (
    "customers/create",
    "customers/update",
    "customers/delete",
    "customers/enable",
    "customers/disable",
)
ORDER_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/delete",
    "refunds/create",
)
PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


def shopify_hmac(secret: str, body: bytes) -> str:
    """``base64(HMAC-SHA256(key=secret, msg=body))``: the ``X-Shopify-Hmac-Sha256`` value."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class ShopifyDelivery:
    """One delivery as sent: where, which topic, the exact body bytes and headers."""

    url: str
    topic: str
    webhook_id: str
    body: bytes
    headers: dict[str, str]


def _triggered_at(when: datetime) -> str:
    """Shopify's ``X-Shopify-Triggered-At`` form: UTC with fractional seconds and ``Z``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


class ShopifyWebhookSender:
    """Sends and re-sends signed webhook deliveries on behalf of one shop.

    :param shop_domain: value of ``X-Shopify-Shop-Domain``, e.g. ``crmhub-demo.myshopify.com``.
    :param api_version: value of ``X-Shopify-API-Version``.
    :param secret: the app's client secret used for the HMAC.
    :param now: clock for ``X-Shopify-Triggered-At``.
    """

    def __init__(
        self, shop_domain: str, api_version: str, secret: str, now: Callable[[], datetime]
    ) -> None:
        self.shop_domain = shop_domain
        self.api_version = api_version
        self.secret = secret
        self._now = now
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self.deliveries: list[ShopifyDelivery] = []

    def deliver(
        self,
        url: str,
        topic: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
        event_id: str | None = None,
        triggered_at: datetime | str | None = None,
        secret: str | None = None,
        tamper: bool = False,
        api_version: str | None = None,
        timeout: float = 5.0,
    ) -> httpx.Response:
        """POST ``payload`` to ``url`` as a ``topic`` delivery and return the receiver's answer.

        :param payload: a JSON-able object, or ``bytes`` sent as they are.
        :param webhook_id: the delivery id (a fresh UUID by default).
        :param event_id: the event id shared by deliveries of one action (fresh by default).
        :param triggered_at: when Shopify triggered it (now by default).
        :param secret: signing secret (the sender's by default); a wrong one tests rejection.
        :param tamper: sign the body, then send it with one extra byte, so the HMAC fails.
        :param timeout: Shopify gives up after 5 seconds.
        """
        body = (
            payload
            if isinstance(payload, bytes)
            else json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        )
        when = (
            triggered_at
            if isinstance(triggered_at, str)
            else _triggered_at(triggered_at or self._now())
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify_hmac(
                secret if secret is not None else self.secret, body
            ),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": api_version or self.api_version,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": when,
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        }
        if tamper:
            body = body + b" "
        delivery = ShopifyDelivery(url, topic, headers["X-Shopify-Webhook-Id"], body, headers)
        with self._lock:
            self.deliveries.append(delivery)
        return self._post(delivery, timeout)

    def redeliver(
        self, webhook_id: str | None = None, *, url: str | None = None, timeout: float = 5.0
    ) -> httpx.Response:
        """Re-send an earlier delivery byte for byte (same id, body, headers), as a retry does.

        :param webhook_id: which delivery (the last one by default).
        :param url: send it elsewhere (default: the original address, as Shopify does).
        """
        with self._lock:
            matches = [
                d for d in self.deliveries if webhook_id is None or d.webhook_id == webhook_id
            ]
        if not matches:
            raise KeyError(f"no delivery with webhook id {webhook_id!r}")
        original = matches[-1]
        again = ShopifyDelivery(
            url or original.url,
            original.topic,
            original.webhook_id,
            original.body,
            dict(original.headers),
        )
        with self._lock:
            self.deliveries.append(again)
        return self._post(again, timeout)

    def _post(self, delivery: ShopifyDelivery, timeout: float) -> httpx.Response:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client()
            client = self._client
        return client.post(
            delivery.url,
            content=delivery.body,
            headers=delivery.headers,
            timeout=httpx.Timeout(timeout, connect=1.0),
        )

    def close(self) -> None:
        """Close the HTTP connection pool used for deliveries."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def privacy_payload(
    topic: str,
    *,
    shop_id: int,
    shop_domain: str,
    customer: dict[str, Any] | None = None,
    order_ids: list[int] | None = None,
    data_request_id: int = 9999,
) -> dict[str, Any]:
    """Payload of a mandatory privacy topic, in the shapes of Shopify's app template.

    ``customers/data_request`` carries ``orders_requested`` and ``data_request``;
    ``customers/redact`` carries ``orders_to_redact``; ``shop/redact`` only the shop.
    """
    base: dict[str, Any] = {"shop_id": shop_id, "shop_domain": shop_domain}
    if topic == "shop/redact":
        return base
    if customer is None:
        raise ValueError(f"{topic} needs a customer")
    who = {"id": customer["id"], "email": customer.get("email"), "phone": customer.get("phone")}
    if topic == "customers/data_request":
        return {
            **base,
            "orders_requested": list(order_ids or []),
            "customer": who,
            "data_request": {"id": data_request_id},
        }
    if topic == "customers/redact":
        return {**base, "customer": who, "orders_to_redact": list(order_ids or [])}
    raise ValueError(f"not a privacy topic: {topic}")

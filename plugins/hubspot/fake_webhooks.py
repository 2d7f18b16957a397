"""HubSpot webhook signatures and deliveries, as the fake HubSpot sends them.

Three signature versions exist (HubSpot's ``hubspot.utils.signature`` and the v3 changelog):

- v1: ``X-HubSpot-Signature = sha256_hex(client_secret + body)`` with
  ``X-HubSpot-Signature-Version: v1``;
- v2: ``sha256_hex(client_secret + method + uri + body)``, same headers, version ``v2``; the
  URI is the full URL exactly as requested, scheme and query order included;
- v3: ``X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client_secret, method + uri + body +
  timestamp))`` with ``X-HubSpot-Request-Timestamp`` in milliseconds; receivers reject
  timestamps older than five minutes.

A delivery body is a JSON array of events, each like ``{"eventId", "subscriptionId",
"portalId", "appId", "occurredAt", "subscriptionType", "attemptNumber", "objectId",
"changeSource", …}`` with ``propertyName``/``propertyValue`` for ``contact.propertyChange``
and ``mergedObjectIds``/``primaryObjectId``/``newObjectId`` for ``contact.merge``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

__all__ = [
    "HubSpotDelivery",
    "HubSpotWebhookSender",
    "hubspot_signature_v1",
    "hubspot_signature_v2",
    "hubspot_signature_v3",
]

SUBSCRIPTIONS = {
    "contact.creation": 1001,
    "contact.propertyChange": 1002,
    "contact.deletion": 1003,
    "contact.merge": 1004,
    "contact.restore": 1005,
    "contact.privacyDeletion": 1006,
}


def hubspot_signature_v1(client_secret: str, body: str | bytes) -> str:
    """v1: hex SHA-256 of ``client_secret + body``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(client_secret.encode("utf-8") + raw).hexdigest()


def hubspot_signature_v2(client_secret: str, method: str, uri: str, body: str | bytes) -> str:
    """v2: hex SHA-256 of ``client_secret + method + uri + body``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256((client_secret + method + uri).encode("utf-8") + raw).hexdigest()


def hubspot_signature_v3(
    client_secret: str, method: str, uri: str, body: str | bytes, timestamp: int | str
) -> str:
    """v3: base64 HMAC-SHA256 keyed by the secret over ``method + uri + body + timestamp``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    message = (method + uri).encode("utf-8") + raw + str(timestamp).encode("utf-8")
    return base64.b64encode(
        hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).digest()
    ).decode()


@dataclass(frozen=True)
class HubSpotDelivery:
    """One delivery as sent."""

    url: str
    method: str
    version: str
    body: bytes
    headers: dict[str, str]


class HubSpotWebhookSender:
    """Builds contact events and delivers them signed.

    :param portal_id: the portal (account) id in events; :param app_id: the app id.
    :param client_secret: the app's client secret (default signing key).
    :param now: the fake's clock, for ``occurredAt``.
    """

    def __init__(
        self, portal_id: int, app_id: int, client_secret: str, now: Callable[[], datetime]
    ) -> None:
        self.portal_id = portal_id
        self.app_id = app_id
        self.client_secret = client_secret
        self._now = now
        self._event_ids = itertools.count(1_000_000_001)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self.deliveries: list[HubSpotDelivery] = []

    def event(
        self,
        subscription_type: str,
        object_id: int | str,
        *,
        property_name: str | None = None,
        property_value: Any = None,
        change_source: str = "CRM",
        attempt_number: int = 0,
        occurred_at: datetime | None = None,
        merged_object_ids: Sequence[int] | None = None,
        primary_object_id: int | None = None,
        new_object_id: int | None = None,
    ) -> dict[str, Any]:
        """One event of ``subscription_type`` (``contact.creation``, ``contact.propertyChange``,
        ``contact.deletion``, ``contact.merge`` …) about ``object_id``."""
        when = occurred_at or self._now()
        with self._lock:
            event_id = next(self._event_ids)
        event: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": SUBSCRIPTIONS.get(subscription_type, 1000),
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": int(when.timestamp() * 1000),
            "subscriptionType": subscription_type,
            "attemptNumber": attempt_number,
            "objectId": int(object_id),
            "changeSource": change_source,
        }
        if subscription_type == "contact.propertyChange":
            event["propertyName"] = property_name
            event["propertyValue"] = "" if property_value is None else str(property_value)
        if subscription_type == "contact.creation":
            event["changeFlag"] = "CREATED"
        if subscription_type == "contact.deletion":
            event["changeFlag"] = "DELETED"
        if subscription_type == "contact.merge":
            event["mergedObjectIds"] = [int(i) for i in merged_object_ids or []]
            event["primaryObjectId"] = int(
                primary_object_id if primary_object_id is not None else object_id
            )
            event["newObjectId"] = int(
                new_object_id if new_object_id is not None else event["primaryObjectId"]
            )
            event["numberOfPropertiesMoved"] = 0
        return event

    def deliver(
        self,
        url: str,
        events: Sequence[dict[str, Any]] | bytes,
        *,
        version: str = "v3",
        client_secret: str | None = None,
        timestamp: int | None = None,
        method: str = "POST",
        timeout: float = 5.0,
    ) -> httpx.Response:
        """Send ``events`` to ``url`` signed with ``version`` (``v1``, ``v2`` or ``v3``).

        :param client_secret: signing key (the sender's by default; a wrong one tests rejection).
        :param timestamp: v3 request time in ms (now, by the wall clock, by default; pass an
            old one to test the five-minute window).
        :param method: HTTP method; ``GET`` deliveries carry no body.
        """
        secret = client_secret if client_secret is not None else self.client_secret
        if method.upper() == "GET":
            body = b""
        elif isinstance(events, bytes):
            body = events
        else:
            body = json.dumps(list(events), separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8"
            )
        method = method.upper()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
        }
        if version == "v1":
            headers["X-HubSpot-Signature"] = hubspot_signature_v1(secret, body)
            headers["X-HubSpot-Signature-Version"] = "v1"
        elif version == "v2":
            headers["X-HubSpot-Signature"] = hubspot_signature_v2(secret, method, url, body)
            headers["X-HubSpot-Signature-Version"] = "v2"
        elif version == "v3":
            stamp = int(time.time() * 1000) if timestamp is None else int(timestamp)
            headers["X-HubSpot-Signature-v3"] = hubspot_signature_v3(
                secret, method, url, body, stamp
            )
            headers["X-HubSpot-Request-Timestamp"] = str(stamp)
        else:
            raise ValueError(f"unknown signature version {version!r}")
        with self._lock:
            self.deliveries.append(HubSpotDelivery(url, method, version, body, headers))
            if self._client is None:
                self._client = httpx.Client()
            client = self._client
        return client.request(method, url, content=body or None, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the HTTP connection pool used for deliveries."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

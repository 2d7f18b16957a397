"""Webhooks of the fake WooCommerce: registry and deliveries as ``class-wc-webhook.php`` makes them.

A delivery is ``POST`` with ``Content-Type: application/json`` and the body
``trim(wp_json_encode($payload))``: compact JSON with ``/`` escaped as ``\\/`` and non-ASCII
characters as ``\\uXXXX`` (PHP's ``json_encode`` defaults). Headers are
``X-WC-Webhook-Source`` (site URL with a trailing slash), ``-Topic``, ``-Resource``,
``-Event``, ``-Signature`` (``base64(HMAC-SHA256(secret, body))``, the secret after
``wp_specialchars_decode``), ``-ID`` and
``-Delivery-ID``, and the user agent ``WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)``.

There are no retries. A response code from 200 to 302 resets the webhook's
``failure_count``; anything else (or no answer) raises it, and a failure that finds the
count already above 5 sets the status to ``disabled`` instead: the 7th consecutive failure
disables the webhook, and a disabled or paused webhook sends nothing. Setting the status
back to ``active`` does not reset the count; the next success does.

A ping (sent when a webhook is created active) POSTs the form body ``webhook_id=N`` with no
``X-WC-*`` headers; anything but exactly HTTP 200 is an error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

import httpx

from crmhub.plugins.woocommerce.fake_data import set_dates

__all__ = [
    "USER_AGENT",
    "WebhookRegistry",
    "WooDelivery",
    "WooWebhook",
    "wc_signature",
    "wp_json_encode",
    "wp_specialchars_decode",
]

USER_AGENT = "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)"
RESOURCES = ("coupon", "customer", "order", "product")
EVENTS = ("created", "updated", "deleted", "restored")
STATUSES = ("active", "paused", "disabled")
MAX_FAILURES = 5


def wp_json_encode(payload: Any) -> bytes:
    """``trim(wp_json_encode($payload))``: compact, ``\\/`` for ``/``, ``\\uXXXX`` for non-ASCII."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").strip().encode("ascii")


_SPECIALCHARS = re.compile(r"&(?:amp|lt|gt|quot|#0*39|#x0*27|#0*34|#x0*22);", re.IGNORECASE)
_DECODED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"'}


def wp_specialchars_decode(text: str) -> str:
    """WordPress's ``wp_specialchars_decode($text, ENT_QUOTES)``: one pass over the entities
    ``&amp; &lt; &gt; &quot; &#039;`` (and numeric quote forms), nothing else."""

    def decode(match: re.Match[str]) -> str:
        name = match.group(0)[1:-1].lower()
        if name in _DECODED:
            return _DECODED[name]
        return "'" if name.lstrip("#x0") in ("39", "27") else '"'

    return _SPECIALCHARS.sub(decode, text)


def wc_signature(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature``: ``base64_encode(hash_hmac('sha256', $body,
    wp_specialchars_decode($secret, ENT_QUOTES), true))``."""
    key = wp_specialchars_decode(secret).encode("utf-8")
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def _password(length: int = 50) -> str:
    """Like ``wp_generate_password(50, true, true)``: letters, digits and specials."""
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*()-_ []{}<>~`+=,.;:/?|"
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class WooWebhook:
    """One registered webhook; ``failure_count`` and ``secret`` are not shown over REST."""

    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str
    status: str = "active"
    failure_count: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    modified: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    api_version: str = "wp_api_v3"

    @property
    def resource(self) -> str:
        """``order`` of ``order.updated``."""
        return self.topic.split(".", 1)[0]

    @property
    def event(self) -> str:
        """``updated`` of ``order.updated``."""
        return self.topic.split(".", 1)[1] if "." in self.topic else ""

    def as_json(self, tz: tzinfo, base_url: str) -> dict[str, Any]:
        """The webhook as ``GET /wc/v3/webhooks/{id}`` returns it."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "topic": self.topic,
            "resource": self.resource,
            "event": self.event,
            "hooks": [f"woocommerce_{self.topic.replace('.', '_')}"],
            "delivery_url": self.delivery_url,
        }
        set_dates(out, "date_created", self.created, tz)
        set_dates(out, "date_modified", self.modified, tz)
        out["_links"] = {
            "self": [{"href": f"{base_url}/wp-json/wc/v3/webhooks/{self.id}"}],
            "collection": [{"href": f"{base_url}/wp-json/wc/v3/webhooks"}],
        }
        return out


@dataclass(frozen=True)
class WooDelivery:
    """One delivery attempt: what was sent and what came back (``status_code`` None = no answer)."""

    webhook_id: int
    topic: str
    url: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None
    error: str | None
    ping: bool = False


def _valid_topic(topic: str) -> bool:
    if topic.startswith("action."):
        return len(topic) > len("action.")
    resource, _, event = topic.partition(".")
    return resource in RESOURCES and event in EVENTS


class WebhookRegistry:
    """The store's webhooks, their delivery logs, and the sender.

    :param site_url: callable returning the site root URL (known once the fake is served).
    :param now: the fake's clock.
    """

    def __init__(self, site_url: Callable[[], str], now: Callable[[], datetime]) -> None:
        self._site_url = site_url
        self._now = now
        self._lock = threading.RLock()
        self._next_id = 1
        self.webhooks: dict[int, WooWebhook] = {}
        self.deliveries: list[WooDelivery] = []
        self._seq = 0
        self._client: httpx.Client | None = None

    def create(
        self,
        name: str,
        topic: str,
        delivery_url: str,
        *,
        secret: str | None = None,
        status: str = "active",
    ) -> WooWebhook:
        """Register a webhook (a 50-character secret is generated when none is given)."""
        if not _valid_topic(topic):
            raise ValueError("Webhook topic is invalid.")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self._lock:
            hook = WooWebhook(
                self._next_id,
                name or f"Webhook created on {self._now():%b %d, %Y @ %I:%M %p}",
                topic,
                delivery_url,
                secret or _password(),
                status,
                created=self._now(),
                modified=self._now(),
            )
            self._next_id += 1
            self.webhooks[hook.id] = hook
            return hook

    def update(self, webhook_id: int, **changes: Any) -> WooWebhook:
        """Change ``status``, ``name``, ``topic``, ``delivery_url`` or ``secret`` of a webhook."""
        with self._lock:
            hook = self.webhooks[webhook_id]
            if "status" in changes and changes["status"] not in STATUSES:
                raise ValueError(f"status must be one of {', '.join(STATUSES)}")
            if "topic" in changes and not _valid_topic(changes["topic"]):
                raise ValueError("Webhook topic is invalid.")
            for key in ("status", "name", "topic", "delivery_url", "secret"):
                if key in changes and changes[key] is not None:
                    setattr(hook, key, changes[key])
            hook.modified = self._now()
            return hook

    def delete(self, webhook_id: int) -> WooWebhook:
        """Remove a webhook."""
        with self._lock:
            return self.webhooks.pop(webhook_id)

    def deliver(
        self, webhook_id: int, topic: str | None, payload: Any, *, timeout: float = 60.0
    ) -> httpx.Response | None:
        """Deliver ``payload`` for ``topic`` (default: the webhook's own topic) once, no retries.

        Returns the receiver's response, or None when nothing was sent (webhook not
        ``active``) or no answer came (connection error). Updates ``failure_count`` and
        disables the webhook on the 7th consecutive failure.
        """
        with self._lock:
            hook = self.webhooks[webhook_id]
            if hook.status != "active":
                return None
            self._seq += 1
            topic = topic or hook.topic
            resource, _, event = topic.partition(".")
            body = wp_json_encode(payload)
            stamp = self._now().timestamp()
            headers = {
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                "X-WC-Webhook-Source": self._site_url().rstrip("/") + "/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": wc_signature(hook.secret, body),
                "X-WC-Webhook-ID": str(hook.id),
                "X-WC-Webhook-Delivery-ID": hashlib.md5(
                    f"{hook.id}{stamp}{self._seq}".encode()
                ).hexdigest(),
            }
            url = hook.delivery_url
        response, error = self._post(url, body, headers, timeout)
        code = response.status_code if response is not None else None
        with self._lock:
            self.deliveries.append(WooDelivery(webhook_id, topic, url, body, headers, code, error))
            if code is not None and 200 <= code <= 302:
                hook.failure_count = 0
            elif hook.failure_count > MAX_FAILURES:
                hook.status = "disabled"
                hook.modified = self._now()
            else:
                hook.failure_count += 1
        return response

    def ping(self, webhook_id: int, *, timeout: float = 60.0) -> tuple[bool, str | None]:
        """POST ``webhook_id=N`` as a form to the delivery URL; (ok, error message)."""
        with self._lock:
            hook = self.webhooks[webhook_id]
            url = hook.delivery_url
        body = f"webhook_id={webhook_id}".encode()
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"}
        response, error = self._post(url, body, headers, timeout)
        code = response.status_code if response is not None else None
        if response is not None and code != 200:
            error = f"Error: Delivery URL returned response code: {code}"
        with self._lock:
            self.deliveries.append(
                WooDelivery(webhook_id, "ping", url, body, headers, code, error, ping=True)
            )
        return error is None, error

    def _post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[httpx.Response | None, str | None]:
        """One POST without following redirects, like ``wp_safe_remote_request``."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False)
            client = self._client
        try:
            return client.post(url, content=body, headers=headers, timeout=timeout), None
        except httpx.HTTPError as exc:
            return None, f"Error: {exc.__class__.__name__}: {exc}"

    def close(self) -> None:
        """Close the HTTP connection pool used for deliveries."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

"""Types exchanged by the webhook hooks: the raw request and the verified delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmhub.core.errors import WebhookMalformed


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook request exactly as received: verify signatures over ``body`` bytes.

    ``headers`` has lower-cased names. ``url`` is the public URL the sender used (the
    hub's ``public_url`` + path + query), which HubSpot's v2/v3 signatures cover.
    """

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON.

        :raises WebhookMalformed: the body is not valid UTF-8 JSON.
        """
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WebhookMalformed(f"body is not valid JSON: {exc.__class__.__name__}") from None


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified delivery, ready to be stored in the inbox.

    :ivar delivery_id: the sender's unique delivery id; a repeat is acknowledged and
        processed once.
    :ivar topic: e.g. ``orders/create``.
    :ivar occurred_at: when the sender says the event happened (for stale-retry checks).
    :ivar store: ``False`` for deliveries that need an answer but no processing
        (WooCommerce's creation ping): answered 200, nothing stored.
    """

    delivery_id: str
    topic: str = ""
    occurred_at: datetime | None = None
    store: bool = True
    headers: dict[str, str] = field(default_factory=dict)

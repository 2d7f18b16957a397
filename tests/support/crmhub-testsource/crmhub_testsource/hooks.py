"""Hook implementations of the testsource plugin."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from crmhub.core.errors import TransientRemoteError, WebhookMalformed, WebhookRejected
from crmhub.core.plugins import hookimpl
from crmhub.core.webhooks import WebhookDelivery
from crmhub_testsource.source import CustomersStream, TestSourceSettings, check_remote, to_record


@hookimpl
def crmhub_plugin_settings() -> type[TestSourceSettings]:
    """The instance settings."""
    return TestSourceSettings


@hookimpl
def crmhub_source_streams(hub: Any, instance: Any) -> list[CustomersStream]:
    """One stream: customers."""
    return [CustomersStream(instance.id, instance.settings)]


def sign(secret: str, body: bytes) -> str:
    """The signature header value of a webhook body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@hookimpl
def crmhub_webhook_verify(hub: Any, instance: Any, request: Any) -> WebhookDelivery:
    """Check the HMAC and read the delivery id."""
    given = request.header("x-testsource-hmac") or ""
    if not hmac.compare_digest(given, sign(instance.settings.webhook_secret, request.body)):
        raise WebhookRejected("bad signature")
    delivery = request.header("x-testsource-delivery")
    if not delivery:
        raise WebhookMalformed("missing X-Testsource-Delivery")
    return WebhookDelivery(
        delivery_id=delivery, topic=request.header("x-testsource-topic") or "customers/update"
    )


@hookimpl
def crmhub_webhook_process(hub: Any, instance: Any, event: Any) -> list[Any]:
    """A delivery's body is one customer."""
    check_remote(instance.settings)
    return [to_record(instance.id, json.loads(event.body))]


def check_file(hub: Any, path: str) -> dict[str, Any]:
    """A job that fails (transiently) until ``path`` exists."""
    if not os.path.exists(path):
        raise TransientRemoteError(f"{path} is not there yet")
    return {"found": path}


@hookimpl
def crmhub_register_jobs(hub: Any) -> dict[str, Any]:
    """Jobs of the plugin."""
    return {"testsource.check": check_file}
